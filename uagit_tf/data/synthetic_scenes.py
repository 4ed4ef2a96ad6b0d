"""Built-in variants made to break a background prior: cluttered scenes, frame-filling objects.

    python -m trainers.make_dataset --output=data/clutter --variant=clutter
    python -m trainers.train --workdir=runs/fill --synthetic_variant=fill

The animals are the hard set's (data/synthetic_hard.py: brown in A, striped in B). The
backgrounds are *dead-leaves* scenes, the classic model of natural images' statistics
(Matheron; Lee, Mumford and Huang 2001): many opaque shapes of every size, from large to
a few pixels, piled on each other, each in its own colour with its own shading and grain.
Such a scene holds many colours, and those of its inner shapes are seldom on its border,
so "colours seen at the border are background" does not hold; its shapes have edges
everywhere, like a photograph's clutter.

- `clutter`: each domain has its own palette (A's hues green to blue, B's red to yellow,
  with a third of each scene's shapes in any hue); `background_mix` gives that share of
  images the other domain's palette. 10% of images hold no animal, 60% one, 30% two; the
  animals are large and placed anywhere, so most cross the image border.
- `fill`: the paper's own assumption, both domains on scenes of one palette (any hue;
  `background_mix` has no effect); one animal so large that it fills most of the frame and
  crosses two to four sides of it, in 95% of images (5% hold none).

Every example is a pure function of (seed, split, domain, index): no files, no state.
"""

import tensorflow as tf

from uagit_tf.data import synthetic_hard

_SPLITS = {"train": 0, "test": 1}
_DOMAINS = {"a": 0, "b": 1}
_VARIANT_KEYS = {"clutter": 2_000_003, "fill": 3_000_017}
SHAPES = 48  # Dead-leaves shapes per scene.
# Each domain's hue range (in [0, 1) turns of the colour wheel) for `clutter`.
_HUES = {"a": (0.25, 0.65), "b": (-0.05, 0.17)}
_ANY_HUE = 1.0 / 3.0  # Share of a scene's shapes in any hue.


def _seed(variant: str, seed: int, split: str, domain: str, index) -> tf.Tensor:
  if split not in _SPLITS:
    raise ValueError(f"split must be one of {sorted(_SPLITS)}, got {split!r}")
  if domain not in _DOMAINS:
    raise ValueError(f"domain must be 'a' or 'b', got {domain!r}")
  key = (_VARIANT_KEYS[variant] + seed * 4 + _SPLITS[split] * 2 + _DOMAINS[domain]) % (2**31 - 1)
  return tf.stack([tf.constant(key, tf.int64), tf.cast(index, tf.int64)])


def dead_leaves(seed: tf.Tensor, x: tf.Tensor, y: tf.Tensor, hues: tuple | None) -> tf.Tensor:
  """[H, W, 3] in about [0, 1]: SHAPES ellipses and rectangles, later ones on top.

  Sizes are log-uniform from 2% to 70% of the image's half-width, so there are many small
  shapes and a few large ones; each shape is flat-coloured with a linear shading and a
  fine grain. `hues`: (low, high) turns of the colour wheel for two thirds of the shapes,
  the rest in any hue; None: every shape in any hue.
  """
  seeds = tf.random.experimental.stateless_split(seed, 3)
  p = tf.random.stateless_uniform([SHAPES, 12], seeds[0])
  cx, cy = -1.2 + 2.4 * p[:, 0, None, None], -1.2 + 2.4 * p[:, 1, None, None]
  radius = (0.02 * 35.0 ** p[:, 2])[:, None, None]
  aspect = (0.35 + 0.65 * p[:, 3])[:, None, None]
  angle = 3.1416 * p[:, 4, None, None]
  u = (tf.cos(angle) * (x - cx) + tf.sin(angle) * (y - cy)) / radius
  v = (-tf.sin(angle) * (x - cx) + tf.cos(angle) * (y - cy)) / (radius * aspect)
  round_ = p[:, 5, None, None] < 0.6
  inside = tf.where(round_, u * u + v * v <= 1.0, tf.maximum(tf.abs(u), tf.abs(v)) <= 1.0)
  # The topmost shape at each pixel (0 where none: the first shape is the ground).
  layer = tf.reduce_max(tf.where(inside, tf.range(SHAPES)[:, None, None], 0), axis=0)
  if hues is None:
    hue = p[:, 6]
  else:
    low, high = hues[0], hues[1]
    hue = tf.where(p[:, 7] < _ANY_HUE, p[:, 6], low + (high - low) * p[:, 6])
  hsv = tf.stack([tf.math.floormod(hue, 1.0), 0.15 + 0.65 * p[:, 8], 0.2 + 0.75 * p[:, 9]], 1)
  colours = tf.image.hsv_to_rgb(hsv)
  slopes = 0.15 * (p[:, 10:12] - 0.5)
  shading = tf.gather(slopes[:, 0], layer) * x + tf.gather(slopes[:, 1], layer) * y
  grain = 0.04 * tf.random.stateless_uniform(x.shape + [1], seeds[1], -1.0, 1.0)
  return tf.gather(colours, layer) + shading[..., None] + grain


def example(variant: str, seed: int, split: str, domain: str, index, size: int,
            background_mix: float = 0.0) -> tuple[tf.Tensor, tf.Tensor]:
  """One image in [-1, 1], [size, size, 3], and its object mask in {0, 1}, [size, size, 1]."""
  if variant not in _VARIANT_KEYS:
    raise ValueError(f"variant must be one of {sorted(_VARIANT_KEYS)}, got {variant!r}")
  seeds = tf.random.experimental.stateless_split(_seed(variant, seed, split, domain, index),
                                                 4 + 2 * synthetic_hard.MAX_OBJECTS)
  p = tf.random.stateless_uniform([4], seeds[0])
  coords = (tf.range(size, dtype=tf.float32) + 0.5) / size * 2.0 - 1.0
  y, x = tf.meshgrid(coords, coords, indexing="ij")
  if variant == "clutter":
    other = "b" if domain == "a" else "a"
    hues = tf.where(p[1] < background_mix, tf.constant(_HUES[other]), tf.constant(_HUES[domain]))
    count = tf.where(p[0] < 0.10, 0, tf.where(p[0] < 0.70, 1, 2))
  else:
    hues, count = None, tf.where(p[0] < 0.05, 0, 1)
  image, mask = dead_leaves(seeds[1], x, y, hues), tf.zeros([size, size, 1])
  for k in range(synthetic_hard.MAX_OBJECTS):
    q = tf.random.stateless_uniform([14], seeds[4 + 2 * k])
    if variant == "clutter":  # Anywhere, large: most cross the border.
      centre = (-0.85 + 1.7 * q[0], -0.75 + 1.5 * q[1])
      scale = tf.where(count == 1, 0.8 + 0.5 * q[3], 0.6 + 0.35 * q[3])
    else:  # Near the middle and larger than the frame.
      centre = (-0.25 + 0.5 * q[0], -0.3 + 0.4 * q[1])
      scale = 1.9 + 0.6 * q[3]
    shape, coat = synthetic_hard.draw_animal(domain, q, seeds[5 + 2 * k], x, y, centre, scale)
    shape *= tf.cast(k < count, tf.float32)
    image = shape * coat + (1.0 - shape) * image
    mask = tf.maximum(mask, shape)
  image += 0.02 * tf.random.stateless_normal([size, size, 3], seeds[3])
  return tf.clip_by_value(image, 0.0, 1.0) * 2.0 - 1.0, mask
