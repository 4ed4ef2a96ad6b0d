"""The built-in two-domain data set: "horses" (A) and "zebras" (B), made on the fly.

Each image holds one object of a single shape family (a body ellipse, a neck and a
head, randomly placed, sized, rotated and mirrored) on a textured background. The two
domains differ in the object's appearance, plain brown (A) vs black-and-white stripes
(B), AND in the background's colours, green grass (A) vs tan savanna (B), as
horse2zebra does; a translator that repaints the background is therefore rewarded by a
whole-image discriminator and caught by the ground-truth masks this set yields.

Every example is a pure function of (seed, split, domain, index): no files, no state.
`--synthetic_variant=hard` selects data/synthetic_hard.py instead, whose backgrounds also
differ in texture, with 0-2 objects of several shapes per image; `clutter` and `fill`
(data/synthetic_scenes.py) put those objects on cluttered scenes, crossing the border or
filling the frame.

    images, masks = synthetic.batch(seed=0, split="test", domain="a", indices=range(4), size=64)
"""

import functools
import math

import tensorflow as tf

from uagit_tf.data import synthetic_hard
from uagit_tf.data import synthetic_scenes
from uagit_tf.pixels import to_uint8

_SPLITS = {"train": 0, "test": 1}
_DOMAINS = {"a": 0, "b": 1}
_BACKGROUND = {"a": (0.27, 0.52, 0.18), "b": (0.80, 0.68, 0.42)}  # grass, savanna
_COAT = (0.50, 0.31, 0.16)  # a brown horse


def _seed(seed: int, split: str, domain: str, index) -> tf.Tensor:
  if split not in _SPLITS:
    raise ValueError(f"split must be one of {sorted(_SPLITS)}, got {split!r}")
  if domain not in _DOMAINS:
    raise ValueError(f"domain must be 'a' or 'b', got {domain!r}")
  key = (seed * 4 + _SPLITS[split] * 2 + _DOMAINS[domain]) % (2**31 - 1)
  return tf.stack([tf.constant(key, tf.int64), tf.cast(index, tf.int64)])


def _noise(seed: tf.Tensor, size: int, grid: int, channels: int) -> tf.Tensor:
  """Smooth noise in [-1, 1]: a coarse random grid upsampled bilinearly."""
  coarse = tf.random.stateless_uniform([1, grid, grid, channels], seed, -1.0, 1.0)
  return tf.image.resize(coarse, [size, size], method="bilinear")[0]


def example(seed: int, split: str, domain: str, index, size: int,
            background_mix: float = 0.0) -> tuple[tf.Tensor, tf.Tensor]:
  """One image in [-1, 1], [size, size, 3], and its object mask in {0, 1}, [size, size, 1].

  `background_mix` is the share of images whose background takes the other domain's
  palette: 0 makes the background alone a perfect domain cue (the default, and harder than
  horse2zebra, where zebras on grass and horses on sand exist); 0.5 makes it no cue at all.
  """
  seeds = tf.random.experimental.stateless_split(_seed(seed, split, domain, index), 5)
  p = tf.random.stateless_uniform([10], seeds[0])
  coords = (tf.range(size, dtype=tf.float32) + 0.5) / size * 2.0 - 1.0
  y, x = tf.meshgrid(coords, coords, indexing="ij")

  # Object frame: centre, rotation, scale, facing left or right.
  cx, cy = -0.3 + 0.6 * p[0], -0.25 + 0.5 * p[1]
  angle = (p[2] - 0.5) * 0.7
  scale = 0.75 + 0.35 * p[3]
  facing = tf.where(p[4] > 0.5, 1.0, -1.0)
  u = (tf.cos(angle) * (x - cx) + tf.sin(angle) * (y - cy)) * facing / scale
  v = (-tf.sin(angle) * (x - cx) + tf.cos(angle) * (y - cy)) / scale

  def ellipse(u0, v0, ru, rv):
    return tf.square((u - u0) / ru) + tf.square((v - v0) / rv) <= 1.0

  body = ellipse(0.0, 0.0, 0.52, 0.27)
  neck = ellipse(0.50, -0.22, 0.13, 0.24)
  head = ellipse(0.66, -0.40, 0.19, 0.11)
  legs = tf.logical_and(tf.logical_and(v > 0.1, v < 0.62),
                        tf.logical_or(tf.abs(u + 0.33) < 0.06, tf.abs(u - 0.33) < 0.06))
  mask = tf.cast(body | neck | head | legs, tf.float32)[..., None]

  shade = 0.08 * _noise(seeds[1], size, 4, 1) - 0.1 * v[..., None]
  if domain == "a":
    coat = tf.constant(_COAT) + 0.08 * (p[5:8] - 0.5) + shade
  else:
    # Stripes across the body, their frequency and tilt varying per animal.
    freq = 4.0 + 3.0 * p[5]
    tilt = (p[6] - 0.5) * 0.8
    phase = u * tf.cos(tilt) + v * tf.sin(tilt)
    stripes = tf.cast(tf.sin(2.0 * math.pi * freq * phase + 6.28 * p[7]) > 0.0, tf.float32)
    coat = 0.08 + 0.82 * stripes[..., None] + shade

  other = "b" if domain == "a" else "a"
  palette = tf.where(p[8] < background_mix, tf.constant(_BACKGROUND[other]),
                     tf.constant(_BACKGROUND[domain]))
  background = (palette + 0.10 * _noise(seeds[2], size, 6, 3)
                + 0.06 * _noise(seeds[3], size, max(size // 4, 2), 1))
  image = mask * coat + (1.0 - mask) * background
  image += 0.02 * tf.random.stateless_normal([size, size, 3], seeds[4])
  image = tf.clip_by_value(image, 0.0, 1.0) * 2.0 - 1.0
  return image, mask


def variant(name: str):
  """The `example` function of a variant of the built-in set: 'standard', 'hard', or the
  scenes made to break a background prior, 'clutter' and 'fill' (data/synthetic_scenes.py).

  Raises:
    ValueError: another name.
  """
  variants = {"standard": example, "hard": synthetic_hard.example,
              **{name: functools.partial(synthetic_scenes.example, name)
                 for name in ("clutter", "fill")}}
  if name not in variants:
    raise ValueError(f"synthetic variant must be one of {sorted(variants)}, got {name!r}")
  return variants[name]


def batch(seed: int, split: str, domain: str, indices, size: int,
          background_mix: float = 0.0, variant_name: str = "standard"
          ) -> tuple[tf.Tensor, tf.Tensor]:
  """Stacks examples over `indices`: images [N, size, size, 3], masks [N, size, size, 1]."""
  make = variant(variant_name)
  pairs = [make(seed, split, domain, i, size, background_mix) for i in indices]
  return tf.stack([p[0] for p in pairs]), tf.stack([p[1] for p in pairs])


def write_folders(output_dir: str, seed: int, size: int, train_size: int, test_size: int,
                  background_mix: float = 0.0, variant_name: str = "standard"
                  ) -> dict[str, int]:
  """Writes the set in the CycleGAN layout, with ground truth under masks/ (write_layout)."""
  return write_layout(output_dir, variant(variant_name), seed, size, train_size, test_size,
                      background_mix)


def write_layout(output_dir: str, make, seed: int, size: int, train_size: int,
                 test_size: int, background_mix: float) -> dict[str, int]:
  """Writes the examples of `make(seed, split, domain, index, size, background_mix)` ->
  (image [size, size, 3] in [-1, 1], mask [size, size, 1] in {0, 1}) in the CycleGAN
  layout: output_dir/{train,test}{A,B}/NNNNN.png and output_dir/masks/{train,test}{A,B}/
  NNNNN.png. Returns the number of images written per folder.
  """
  import os  # Only this writer touches the file system.
  counts = {}
  for split, n in (("train", train_size), ("test", test_size)):
    for domain in ("a", "b"):
      folder = f"{split}{domain.upper()}"
      for kind in ("", "masks"):
        os.makedirs(os.path.join(output_dir, kind, folder), exist_ok=True)
      for i in range(n):
        image, mask = make(seed, split, domain, i, size, background_mix)
        tf.io.write_file(os.path.join(output_dir, folder, f"{i:05d}.png"),
                         tf.io.encode_png(to_uint8(image)))
        tf.io.write_file(os.path.join(output_dir, "masks", folder, f"{i:05d}.png"),
                         tf.io.encode_png(to_uint8(mask, 0.0)))
      counts[folder] = n
  return counts
