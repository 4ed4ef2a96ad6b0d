"""A held-out two-domain set, built by other rules than the built-in ones, for checking only.

    python -m benchmarks.heldout_data --output=data/heldout --background_mix=0
    python -m benchmarks.quality --grid --variants=heldout --mixes=0

The method's defaults were chosen on the built-in sets (uagit_tf/data/synthetic*.py). This
set shares none of their code, shapes, textures or colours, so that a default that only
fits the built-in generators' quirks shows it here. Nothing in uagit_tf may be tuned on it.

A holds teal shapes with soft shading and a dark outline on a brick wall (mauve bricks,
pale mortar); B holds yellow shapes with black spots on rippled water (blue-green, lighter
diagonal crests). The shapes are the same in both domains (stars, regular polygons,
rounded rectangles, lobed blobs of random proportions and rotation), 0-3 per image (mostly one), some
cut by the frame; only their coat tells the domains apart. `background_mix` gives that
share of images the other domain's background. Pure numpy: every image is a function of
(seed, split, domain, index). Written in the CycleGAN layout with masks/ as
`uagit_tf.data.folders` reads it.
"""

from absl import app
from absl import flags
import numpy as np

from uagit_tf.data import synthetic

_SPLIT = {"train": 0, "test": 1}
_DOMAIN = {"a": 0, "b": 1}


def _rng(seed: int, split: str, domain: str, index: int) -> np.random.Generator:
  return np.random.default_rng([seed, 7919, _SPLIT[split], _DOMAIN[domain], index])


def _bricks(rng, size: int, yy, xx) -> np.ndarray:
  """Mauve bricks in running bond, each its own shade, on pale mortar."""
  bh = rng.uniform(0.14, 0.22) * size
  bw = bh * rng.uniform(1.8, 2.6)
  row = np.floor((yy + rng.uniform(0, bh)) / bh)
  shifted = xx + rng.uniform(0, bw) + (row % 2) * bw / 2
  col = np.floor(shifted / bw)
  mortar = ((yy + rng.uniform(0, bh)) % bh < 1.2) | (shifted % bw < 1.2)
  shade = np.sin(row * 12.9898 + col * 78.233) * 43758.5453 % 1.0  # Per-brick jitter.
  base = np.array([0.55, 0.36, 0.45]) + rng.uniform(-0.05, 0.05, 3)
  brick = base[None, None] * (0.85 + 0.3 * shade[..., None])
  return np.where(mortar[..., None], np.array([0.86, 0.84, 0.80]), brick)


def _water(rng, size: int, yy, xx) -> np.ndarray:
  """Blue-green water, darker with depth, with lighter diagonal ripple crests."""
  base = np.array([0.12, 0.42, 0.55]) + rng.uniform(-0.05, 0.05, 3)
  depth = 0.8 + 0.35 * yy / size
  angle = rng.uniform(0.3, 1.2)
  phase = (xx * np.cos(angle) + yy * np.sin(angle)) / size
  ripple = np.sin(2 * np.pi * (rng.uniform(4, 7) * phase + 0.6 * np.sin(3 * np.pi * yy / size)))
  crest = np.clip(ripple - 0.6, 0, None) * 0.5
  return base[None, None] * depth[..., None] + crest[..., None]


def _shape(rng, size: int, yy, xx) -> np.ndarray:
  """One random shape's silhouette, boolean [size, size]."""
  cy, cx = rng.uniform(0.1, 0.9, 2) * size
  r = rng.uniform(0.16, 0.3) * size
  t = rng.uniform(0, 2 * np.pi)
  dy, dx = yy - cy, xx - cx
  u = dx * np.cos(t) + dy * np.sin(t)
  v = -dx * np.sin(t) + dy * np.cos(t)
  rho, phi = np.hypot(u, v), np.arctan2(v, u)
  kind = rng.integers(4)
  if kind == 0:  # A star with 4-7 points.
    k = rng.integers(4, 7)
    return rho < r * (0.72 + 0.28 * np.cos(k * phi))
  if kind == 1:  # A regular polygon with 3-6 sides.
    k = rng.integers(3, 7)
    return rho * np.cos((phi % (2 * np.pi / k)) - np.pi / k) < r * 0.8
  if kind == 2:  # A rounded rectangle.
    a, b, c = r, r * rng.uniform(0.35, 0.8), r * 0.25
    qu, qv = np.clip(np.abs(u) - a + c, 0, None), np.clip(np.abs(v) - b + c, 0, None)
    return np.hypot(qu, qv) < c
  k = rng.integers(2, 5)  # A blob with 2-4 lobes.
  return rho < r * (0.75 + 0.25 * np.sin(k * phi + rng.uniform(0, 6)))


def _coat(domain: str, rng, size: int, yy, xx) -> np.ndarray:
  """A: teal, shaded from the top left. B: yellow with black spots."""
  if domain == "a":
    base = np.array([0.10, 0.62, 0.60]) + rng.uniform(-0.05, 0.05, 3)
    light = 1.15 - 0.45 * (yy + xx) / (2 * size)
    return np.clip(base[None, None] * light[..., None], 0, 1)
  base = np.array([0.95, 0.82, 0.22]) + rng.uniform(-0.04, 0.04, 3)
  spots = np.zeros((size, size), bool)
  for _ in range(int(size * size / 40)):
    sy, sx = rng.uniform(0, size, 2)
    spots |= np.hypot(yy - sy, xx - sx) < rng.uniform(1.0, 2.2) * size / 64
  return np.where(spots[..., None], np.array([0.06, 0.05, 0.04]), base[None, None])


def example(seed: int, split: str, domain: str, index: int, size: int,
            background_mix: float) -> tuple[np.ndarray, np.ndarray]:
  """(image [size, size, 3] in [0, 1], mask [size, size] in {0, 1})."""
  rng = _rng(seed, split, domain, index)
  yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
  own = rng.uniform() >= background_mix
  background = _bricks if (domain == "a") == own else _water
  image = background(rng, size, yy, xx)
  mask = np.zeros((size, size), bool)
  for _ in range(rng.choice(4, p=[0.08, 0.57, 0.25, 0.10])):
    shape = _shape(rng, size, yy, xx)
    coat = _coat(domain, rng, size, yy, xx)
    if domain == "a":  # A dark outline, as a cartoon's.
      inner = _erode(shape)
      coat = np.where((shape & ~inner)[..., None], coat * 0.35, coat)
    image = np.where(shape[..., None], coat, image)
    mask |= shape
  noise = rng.normal(0, 0.015, image.shape)
  return np.clip(image + noise, 0, 1), mask.astype(np.float64)


def _erode(mask: np.ndarray) -> np.ndarray:
  padded = np.pad(mask, 1)
  return (padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1]
          & padded[1:-1, :-2] & padded[1:-1, 2:])


def write_folders(output_dir: str, seed: int = 0, size: int = 72, train_size: int = 1000,
                  test_size: int = 100, background_mix: float = 0.0) -> dict[str, int]:
  """The set in the CycleGAN layout with masks/, as the built-in sets are written."""
  def make(*key):
    image, mask = example(*key)
    return image * 2.0 - 1.0, mask[..., None]
  return synthetic.write_layout(output_dir, make, seed, size, train_size, test_size,
                                background_mix)


def main(argv):
  del argv
  f = flags.FLAGS
  write_folders(f.output, f.seed, f.size, f.train_size, f.test_size, f.background_mix)


if __name__ == "__main__":
  # Defined only when run: benchmarks.quality imports this module and has flags of its own.
  flags.DEFINE_string("output", "data/heldout", "Folder to write.")
  flags.DEFINE_integer("seed", 0, "Which images.")
  flags.DEFINE_integer("size", 72, "Image size in pixels.")
  flags.DEFINE_integer("train_size", 1000, "Training images per domain.")
  flags.DEFINE_integer("test_size", 100, "Test images per domain.")
  flags.DEFINE_float("background_mix", 0.0, "Share of images with the other domain's background.")
  app.run(main)
