"""`--background_prior`: whether training assumes the image border shows the background.

The default flags depart from the paper in the thirteen fields of `config.PAPER_METHOD`
(the border-coloured background priors, the discriminators blind to border colours, the
mask's orientation by the border, ...). All of them rest on one assumption: a training
image shows its background at its border, and its object is a minority of colours the
border does not show. Where that holds and the two domains' backgrounds differ, they keep
the background out of the masks (docs/method.md); where it fails they train masks that
die (objects that fill the frame) or lose the object in clutter (backgrounds with colours
the border does not show), and the paper's method does at least as well.

    on    the thirteen departures (each at its default; a field set otherwise stays).
    off   the paper's method: every one of those fields at its default takes the paper's
          value (`--preset=paper` is this).
    auto  measured on the training data before training: `on` if in a typical image of
          each domain at most MAX_UNLIKE_SHARE of the pixels have colours its border does
          not show (`method.background_likeness` under UNLIKE), else `off`; the log says
          which and why, and config.json records the choice, so a resumed, translated or
          exported run keeps it.

The measurement is the prior's own colour model: the share of pixels it would call object.
On the built-in sets that share is 8-14% (median over images), on the held-out set 10-13%;
on cluttered scenes 29-32% and with frame-filling objects 52-57% (docs/experiments.md,
twenty-eighth session).
"""

from absl import logging
import numpy as np
import tensorflow as tf

from uagit_tf import config as config_lib
from uagit_tf import method
from uagit_tf.domains import DOMAINS

# auto keeps the prior while a typical image has at most this share of its pixels in
# colours its border does not show. Nearer the cluttered scenes' 29-33% than the textured
# sets' 8-14%: of the two errors, keeping the prior where it fails returns the input
# (its masks die), while the paper's method where the backgrounds differ repaints them.
MAX_UNLIKE_SHARE = 0.25
# A pixel whose border likeness is under this is one the prior calls object.
UNLIKE = 0.5
# Images per domain that auto measures (the first ones; a median over them).
SAMPLE_IMAGES = 32
# The size they are measured at (the colour model works at most 64 px wide anyway).
MEASURE_SIZE = 64


def unlike_share(images: tf.Tensor) -> np.ndarray:
  """[B]: each image's share of pixels in colours its border does not show (images
  [B, H, W, 3] in [-1, 1])."""
  likeness = method.background_likeness(images)
  return tf.reduce_mean(tf.cast(likeness < UNLIKE, tf.float32), axis=[1, 2, 3]).numpy()


def measure(sources: dict) -> dict[str, float]:
  """Domain -> the median `unlike_share` of its first SAMPLE_IMAGES training images."""
  shares = {}
  for d in DOMAINS:
    count = min(SAMPLE_IMAGES, sources[d].size)
    images = tf.stack([tf.cast(sources[d].load(tf.constant(i, tf.int64), MEASURE_SIZE),
                               tf.float32) for i in range(count)])
    shares[d] = float(np.median(unlike_share(images)))
  return shares


def resolve(cfg: config_lib.Config, sources: dict) -> config_lib.Config:
  """`cfg` with `background_prior` decided (auto measures `sources`) and applied."""
  choice = cfg.loss.background_prior
  if choice == "auto":
    if not cfg.model.attention:  # A plain CycleGAN has no masks to keep off anything.
      return config_lib.apply_background_prior(cfg, "on")
    shares = measure(sources)
    worst = max(shares, key=shares.get)
    choice = "on" if shares[worst] <= MAX_UNLIKE_SHARE else "off"
    measured = ", ".join(f"{d.upper()} {100 * s:.0f}%" for d, s in shares.items())
    if choice == "on":
      logging.info(
          "--background_prior=auto chose on: a typical training image has at most %d%% of "
          "its pixels in colours its border does not show (%s), so its border shows its "
          "background; --background_prior=off trains the paper's method.",
          100 * MAX_UNLIKE_SHARE, measured)
    else:
      logging.warning(
          "--background_prior=auto chose off: a typical training image of %s has %.0f%% of "
          "its pixels in colours its border does not show (%s; the prior assumes at most "
          "%d%%): its objects fill the frame or its background has colours the border does "
          "not show, so training follows the paper's method. --background_prior=on keeps "
          "the border prior.", worst.upper(), 100 * shares[worst], measured,
          100 * MAX_UNLIKE_SHARE)
  return config_lib.apply_background_prior(cfg, choice)
