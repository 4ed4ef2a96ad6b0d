"""The hard variant of the built-in set: backgrounds that differ between the domains.

    python -m trainers.make_dataset --output=data/hard --variant=hard --background_mix=0
    python -m trainers.train --workdir=runs/hard --preset=demo --synthetic_variant=hard

As in the standard set (data/synthetic.py), A holds plain brown "horses" and B striped
"zebras". Here each domain also has its own background *texture family and colour*: A a
meadow (green, blotchy, with vertical blades), B a savanna (tan, banded, speckled), as
horse2zebra's grass and savanna differ. Objects vary in shape (three body plans with random
proportions), size, position and count (0, 1 or 2 per image, possibly overlapping).
`background_mix` gives that share of images the other domain's background (texture and
colour); 0 makes the background alone a perfect domain cue.

Every example is a pure function of (seed, split, domain, index): no files, no state.
"""

import math

import tensorflow as tf

_SPLITS = {"train": 0, "test": 1}
_DOMAINS = {"a": 0, "b": 1}
MAX_OBJECTS = 2


def _seed(seed: int, split: str, domain: str, index) -> tf.Tensor:
  if split not in _SPLITS:
    raise ValueError(f"split must be one of {sorted(_SPLITS)}, got {split!r}")
  if domain not in _DOMAINS:
    raise ValueError(f"domain must be 'a' or 'b', got {domain!r}")
  # Offset from the standard set's keys, so the two variants never share images.
  key = (1_000_003 + seed * 4 + _SPLITS[split] * 2 + _DOMAINS[domain]) % (2**31 - 1)
  return tf.stack([tf.constant(key, tf.int64), tf.cast(index, tf.int64)])


def _noise(seed: tf.Tensor, size: int, grid_h: int, grid_w: int, channels: int = 1) -> tf.Tensor:
  """Smooth noise in [-1, 1] from a [grid_h, grid_w] random grid, upsampled bilinearly."""
  coarse = tf.random.stateless_uniform([1, grid_h, grid_w, channels], seed, -1.0, 1.0)
  return tf.image.resize(coarse, [size, size], method="bilinear")[0]


def _background(kind: str, seeds: tf.Tensor, p: tf.Tensor, size: int, y: tf.Tensor) -> tf.Tensor:
  """[size, size, 3] in about [0, 1]: a meadow ('a') or a savanna ('b')."""
  if kind == "a":
    colour = tf.stack([0.22 + 0.10 * p[0], 0.45 + 0.15 * p[1], 0.12 + 0.10 * p[2]])
    blotches = 0.12 * _noise(seeds[0], size, 5, 5, 3)
    blades = 0.10 * _noise(seeds[1], size, max(size // 8, 2), max(size // 2, 2))
    return colour + blotches + blades
  colour = tf.stack([0.76 + 0.10 * p[0], 0.62 + 0.10 * p[1], 0.36 + 0.10 * p[2]])
  freq = 2.0 + 3.0 * p[3]
  warp = 0.15 * _noise(seeds[0], size, 3, 3)
  bands = 0.07 * tf.sin(2.0 * math.pi * freq * (y[..., None] + warp) + 6.28 * p[4])
  speckle = 0.06 * tf.random.stateless_uniform([size, size, 1], seeds[1], -1.0, 1.0)
  return colour + bands + speckle


def _animal(u: tf.Tensor, v: tf.Tensor, p: tf.Tensor) -> tf.Tensor:
  """A boolean silhouette in the object's frame (u forward, v down), one of three body plans
  with random proportions: a horse, a long-necked animal, a compact one."""
  plan = tf.cast(tf.floor(3.0 * p[0]), tf.int32)
  body_u = tf.gather([0.52, 0.45, 0.38], plan) * (0.85 + 0.3 * p[1])
  body_v = tf.gather([0.27, 0.22, 0.30], plan) * (0.85 + 0.3 * p[2])
  neck_len = tf.gather([0.24, 0.40, 0.12], plan)
  leg_len = tf.gather([0.52, 0.60, 0.35], plan) * (0.8 + 0.4 * p[3])

  def ellipse(u0, v0, ru, rv):
    return tf.square((u - u0) / ru) + tf.square((v - v0) / rv) <= 1.0

  body = ellipse(0.0, 0.0, body_u, body_v)
  neck_u = body_u * 0.95
  neck = ellipse(neck_u, -neck_len, 0.12, neck_len)
  head = ellipse(neck_u + 0.15, -2.0 * neck_len, 0.19, 0.10)
  leg_x = 0.6 * body_u
  legs = ((v > 0.3 * body_v) & (v < body_v + leg_len)
          & ((tf.abs(u + leg_x) < 0.06) | (tf.abs(u - leg_x) < 0.06)))
  tail = ellipse(-body_u - 0.08, 0.05, 0.10, 0.04) & (p[4] > 0.5)
  return body | neck | head | legs | tail


def draw_animal(domain: str, q: tf.Tensor, seed: tf.Tensor, x: tf.Tensor, y: tf.Tensor,
                centre: tuple, scale) -> tuple[tf.Tensor, tf.Tensor]:
  """One animal of `domain` on the [-1, 1] grid (x, y): its silhouette [H, W, 1] in {0, 1}
  and its coat [H, W, 3], plain brown ('a') or striped ('b'). `q` [14]: its random draws
  (q[2] its tilt, q[4] its facing, q[5:10] its body plan, q[10:13] its coat); `seed`: its
  shading noise."""
  angle = (q[2] - 0.5) * 0.8
  facing = tf.where(q[4] > 0.5, 1.0, -1.0)
  cx, cy = centre
  u = (tf.cos(angle) * (x - cx) + tf.sin(angle) * (y - cy)) * facing / scale
  v = (-tf.sin(angle) * (x - cx) + tf.cos(angle) * (y - cy)) / scale
  shape = tf.cast(_animal(u, v, q[5:10]), tf.float32)[..., None]
  shade = 0.08 * _noise(seed, x.shape[0], 4, 4) - 0.1 * v[..., None]
  if domain == "a":  # Plain coats from chestnut to dark brown.
    coat = tf.stack([0.35 + 0.25 * q[10], 0.20 + 0.15 * q[10], 0.10 + 0.08 * q[11]]) + shade
  else:  # Stripes, their frequency and tilt varying per animal.
    phase = u * tf.cos((q[11] - 0.5) * 0.8) + v * tf.sin((q[11] - 0.5) * 0.8)
    stripes = tf.sin(2.0 * math.pi * (4.0 + 3.0 * q[10]) * phase + 6.28 * q[12]) > 0.0
    coat = 0.08 + 0.82 * tf.cast(stripes, tf.float32)[..., None] + shade
  return shape, coat


def example(seed: int, split: str, domain: str, index, size: int,
            background_mix: float = 0.0) -> tuple[tf.Tensor, tf.Tensor]:
  """One image in [-1, 1], [size, size, 3], and its object mask in {0, 1}, [size, size, 1]."""
  seeds = tf.random.experimental.stateless_split(_seed(seed, split, domain, index),
                                                 4 + 2 * MAX_OBJECTS)
  p = tf.random.stateless_uniform([8], seeds[0])
  coords = (tf.range(size, dtype=tf.float32) + 0.5) / size * 2.0 - 1.0
  y, x = tf.meshgrid(coords, coords, indexing="ij")

  # 0 objects in 15% of images, 1 in 50%, 2 in 35%.
  count = tf.where(p[0] < 0.15, 0, tf.where(p[0] < 0.65, 1, 2))
  other = "b" if domain == "a" else "a"
  background = tf.where(p[1] < background_mix,
                        _background(other, seeds[1:3], p[2:7], size, y),
                        _background(domain, seeds[1:3], p[2:7], size, y))
  image, mask = background, tf.zeros([size, size, 1])
  for k in range(MAX_OBJECTS):
    q = tf.random.stateless_uniform([14], seeds[4 + 2 * k])
    centre = (-0.55 + 1.1 * q[0], -0.45 + 0.9 * q[1])
    scale = tf.where(count == 1, 0.55 + 0.45 * q[3], 0.35 + 0.30 * q[3])
    shape, coat = draw_animal(domain, q, seeds[5 + 2 * k], x, y, centre, scale)
    shape *= tf.cast(k < count, tf.float32)
    image = shape * coat + (1.0 - shape) * image
    mask = tf.maximum(mask, shape)
  image += 0.02 * tf.random.stateless_normal([size, size, 3], seeds[3])
  return tf.clip_by_value(image, 0.0, 1.0) * 2.0 - 1.0, mask
