"""Inference: pad -> mask -> composite -> crop, at any resolution.

The ONE definition of translation that the translate command, the SavedModel and the
TFLite model all use. Networks need height and width that are multiples of 4 (two
stride-2 stages) and at least 8 (reflect padding inside the residual blocks); images of
any other size are padded by mirroring (symmetric, so even a 1x1 image works) and the
outputs are cropped back.

    translator = Translator.from_workdir(workdir, "a2b")
    out = translator(images)   # images [B, H, W, 3] in [-1, 1]
"""

import tensorflow as tf

from uagit_tf import domains
from uagit_tf import method
from uagit_tf import workdir as workdir_lib
from uagit_tf.models import Networks

MULTIPLE = 4
MIN_SIZE = 8


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

  def __call__(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
    """images [B, H, W, 3] float in [-1, 1], any H, W >= 1.

    Returns:
      translated, generated: [B, H, W, 3] in [-1, 1]; mask: [B, H, W, 1] in [0, 1].
    """
    padded, box = pad(images)
    out = method.translate(padded, self.gen, self.att)
    return {k: crop(v, box) for k, v in out.items()}

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
