"""Inference: pad -> mask -> composite -> crop, at any resolution.

The ONE definition of translation that the translate command, the SavedModel and the
TFLite model all use. Networks need height and width that are multiples of 4 (two
stride-2 stages) and at least 8 (reflect padding inside the residual blocks); images of
any other size are padded by mirroring (symmetric, so even a 1x1 image works) and the
outputs are cropped back.

    translator = Translator.from_workdir(workdir, "a2b")
    out = translator(images)                     # images [B, H, W, 3] in [-1, 1]
    out = translator.translate_image(image)      # one [H, W, 3] image, tiled when large

Large images are translated in tiles with bounded memory: a first pass over a copy
downscaled to one tile records every instance norm's statistics, then each tile (with a
halo of context, cropped off again) is normalised with those, so tiles agree with each
other and show no seams.
"""

import numpy as np
import tensorflow as tf

from uagit_tf import domains
from uagit_tf import method
from uagit_tf import workdir as workdir_lib
from uagit_tf.models import Networks
from uagit_tf.models import layers

MULTIPLE = 4
MIN_SIZE = 8
DEFAULT_TILE = 1024  # Images above DEFAULT_TILE^2 pixels are translated in tiles.
HALO = 64            # Context around each tile, in pixels.


def _padded_length(n: tf.Tensor) -> tf.Tensor:
  return tf.maximum(MIN_SIZE, (n + MULTIPLE - 1) // MULTIPLE * MULTIPLE)


def _mirror_indices(n: tf.Tensor, before: tf.Tensor, total: tf.Tensor) -> tf.Tensor:
  """Indices into [0, n) of a symmetric (edge-repeating) padding, for any pad width."""
  i = tf.range(total) - before
  j = tf.math.floormod(i, 2 * n)
  return tf.where(j >= n, 2 * n - 1 - j, j)


def pad(images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
  """Mirror-pads [B, H, W, C] to network-friendly sizes; returns (padded, [top, left, H, W])."""
  shape = tf.shape(images)
  h, w = shape[1], shape[2]
  ph, pw = _padded_length(h), _padded_length(w)
  top, left = (ph - h) // 2, (pw - w) // 2
  images = tf.gather(images, _mirror_indices(h, top, ph), axis=1)
  images = tf.gather(images, _mirror_indices(w, left, pw), axis=2)
  return images, tf.stack([top, left, h, w])


def crop(images: tf.Tensor, box: tf.Tensor) -> tf.Tensor:
  return images[:, box[0]:box[0] + box[2], box[1]:box[1] + box[3], :]


class Translator(tf.Module):
  """One direction's generator and source attention net, with padding and compositing."""

  def __init__(self, gen, att, name: str | None = None):
    super().__init__(name=name)
    self.gen = gen
    self.att = att  # None: plain CycleGAN, mask = all ones.
    self._traced = tf.function(self.__call__, reduce_retracing=True)

  def __call__(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
    """images [B, H, W, 3] float in [-1, 1], any H, W >= 1.

    Returns:
      translated, generated: [B, H, W, 3] in [-1, 1]; mask: [B, H, W, 1] in [0, 1].
    """
    padded, box = pad(images)
    out = method.translate(padded, self.gen, self.att)
    return {k: crop(v, box) for k, v in out.items()}

  def translate_image(self, image: tf.Tensor, tile: int = 0) -> dict[str, tf.Tensor]:
    """One image [H, W, 3] in [-1, 1]: whole if it has at most tile^2 pixels, else `tiled`.

    Returns:
      translated, generated [H, W, 3] in [-1, 1]; mask [H, W, 1] in [0, 1].
    """
    tile = tile or DEFAULT_TILE
    if image.shape[0] * image.shape[1] <= tile * tile:
      return {k: v[0] for k, v in self._traced(image[None]).items()}
    return self.tiled(image, tile)

  def tiled(self, image: tf.Tensor, tile: int, halo: int = HALO,
            statistics_side: int = DEFAULT_TILE) -> dict[str, tf.Tensor]:
    """Translates [H, W, 3] in tiles of `tile` px, each seen with `halo` px of context.

    Instance norm statistics come from the whole image, downscaled so its longer side is
    at most `statistics_side` (exact when it already is), and are shared by every tile.

    Raises:
      ValueError: the image and its outputs would not fit in the memory available.
    """
    h, w = int(image.shape[0]), int(image.shape[1])
    _check_memory(h, w)
    scale = min(1.0, statistics_side / max(h, w))
    small = image if scale == 1.0 else tf.image.resize(
        image, [max(1, round(h * scale)), max(1, round(w * scale))], antialias=True)
    with layers.shared_norm_statistics() as statistics:
      self(small[None])
    # Tiles of the image padded as a whole, at offsets and sizes that are multiples of 4:
    # the stride-2 layers then sample each tile on the whole image's grid.
    padded, box = pad(image[None])
    ph, pw = int(padded.shape[1]), int(padded.shape[2])
    tile, halo = _round_up(tile, MULTIPLE), _round_up(max(halo, MULTIPLE), MULTIPLE)
    out = {"translated": np.empty([ph, pw, 3], np.float32),
           "mask": np.empty([ph, pw, 1], np.float32),
           "generated": np.empty([ph, pw, 3], np.float32)}
    for y0 in range(0, ph, tile):
      for x0 in range(0, pw, tile):
        y1, x1 = min(ph, y0 + tile), min(pw, x0 + tile)
        ya, xa = max(0, y0 - halo), max(0, x0 - halo)
        with layers.shared_norm_statistics(replay=statistics):
          part = method.translate(padded[:, ya:min(ph, y1 + halo), xa:min(pw, x1 + halo)],
                                  self.gen, self.att)
        for k, v in part.items():
          out[k][y0:y1, x0:x1] = v[0, y0 - ya:y1 - ya, x0 - xa:x1 - xa].numpy()
    return {k: crop(tf.constant(v)[None], box)[0] for k, v in out.items()}

  @classmethod
  def from_networks(cls, nets: Networks, direction: str) -> "Translator":
    """The translator of `direction` ('a2b' or 'b2a'), sharing the networks' weights.

    Raises:
      ValueError: another direction name.
    """
    source = domains.direction(direction).source
    return cls(nets.gen[source], nets.att.get(source), name=f"translator_{direction}")

  @classmethod
  def from_workdir(cls, workdir: str, direction: str,
                   checkpoint: str | None = None) -> "Translator":
    _, nets = workdir_lib.restore_networks(workdir, checkpoint)
    return cls.from_networks(nets, direction)


def _round_up(n: int, multiple: int) -> int:
  return -(-n // multiple) * multiple


def _check_memory(h: int, w: int) -> None:
  """Raises ValueError if an image's input and outputs (float32) would not fit in RAM."""
  need = h * w * (3 + 3 + 1 + 3) * 4 * 1.5  # Input, 3 outputs; PNG encoding and slack.
  try:
    with open("/proc/meminfo") as f:
      info = dict(line.split(":", 1) for line in f)
    available = int(info["MemAvailable"].split()[0]) * 1024
  except (OSError, KeyError, ValueError):
    return  # Not Linux: nothing to check against.
  if need > available:
    raise ValueError(f"A {w}x{h} image needs about {need / 2**30:.1f} GiB to translate even "
                     f"in tiles, and {available / 2**30:.1f} GiB is available. Downscale it "
                     "first.")
