"""`--background_prior`: what training assumes shows the background.

The default flags depart from the paper in the seven fields of `config.PAPER_METHOD`: the
masks' target is the pixels coloured unlike their image's border (a balanced L1 by the
priors `mask_background` and `mask_object`), the discriminators do not see border colours,
the cycle loss leaves out the object, and the attention nets learn at 10x lr with a 3x3
decoder and a guided filter. The colour target rests on one assumption: a training image
shows its background at its border, and its object is a minority of colours the border
does not show. Where that holds and the two domains' backgrounds differ, it keeps the
background out of the masks (docs/method.md); where it fails it loses objects that fill
the frame and objects in clutter (backgrounds with colours the border does not show),
which is why auto measures it. Nothing at inference reads the border: the exported
translators composite with the attention nets' own masks.

    on        the seven departures (each at its default; a field set otherwise stays).
    saliency  the paper's method with one prior whose assumption is the paper's own: both
              domains share their kind of background, so the object is where a small patch
              tells the domains apart (uagit_tf/saliency.py). It holds for objects that
              fill the frame, cross the border or sit in clutter, and fails where the
              backgrounds tell the domains apart: there the border prior holds.
    off       the paper's method: every field of PAPER_METHOD takes the paper's value
              (`--preset=paper` is this).
    auto      measured on the training data before training: `on` if in a typical image of
              each domain at most MAX_UNLIKE_SHARE of the pixels have colours its border
              does not show (`method.background_likeness` under UNLIKE), else `saliency`;
              the log says which and why, and config.json records the choice, so a
              resumed, translated or exported run keeps it.

on, saliency and off leave every field the user set as it is: one named on the command
line, or one away from its default (a preset's, a config.json's).

The measurement is the border prior's own colour model: the share of pixels it would call
object. On the built-in sets that share is 8-14% (median over images), on the held-out
set 10-13%; on cluttered scenes 29-32% and with frame-filling objects 52-57%
(docs/experiments.md, twenty-eighth session).

What the border prior adds to the training step lives here too (`shown`, `mask_priors`),
so that the step is the paper's but for a call each.
"""

from collections.abc import Callable

from absl import logging
import numpy as np
import tensorflow as tf

from uagit_tf import config as config_lib
from uagit_tf import method
from uagit_tf.data import pipeline
from uagit_tf.domains import DOMAINS

# auto keeps the border prior while a typical image has at most this share of its pixels
# in colours its border does not show. Nearer the cluttered scenes' 29-33% than the
# textured sets' 8-14%: of the two errors, keeping the border prior where it fails returns
# the input (its masks die), while the saliency prior where the backgrounds differ masks
# them.
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
    images = pipeline.first_images(sources[d], SAMPLE_IMAGES, MEASURE_SIZE)
    shares[d] = float(np.median(unlike_share(images)))
  return shares


def resolve(cfg: config_lib.Config, sources: dict,
            given: frozenset[str] = frozenset()) -> config_lib.Config:
  """`cfg` with `background_prior` decided (auto measures `sources`) and applied; the
  fields named in `given` (the user's) keep their values."""
  choice = cfg.loss.background_prior
  if choice == "auto":
    if not cfg.model.attention:  # A plain CycleGAN has no masks to keep off anything.
      return config_lib.apply_background_prior(cfg, "on", given)
    shares = measure(sources)
    worst = max(shares, key=shares.get)
    choice = "on" if shares[worst] <= MAX_UNLIKE_SHARE else "saliency"
    measured = ", ".join(f"{d.upper()} {100 * s:.0f}%" for d, s in shares.items())
    if choice == "on":
      logging.info(
          "--background_prior=auto chose on: a typical training image has at most %d%% of "
          "its pixels in colours its border does not show (%s), so its border shows its "
          "background; --background_prior=saliency assumes instead that both domains share "
          "their kind of background, off trains the paper's method.",
          100 * MAX_UNLIKE_SHARE, measured)
    else:
      logging.warning(
          "--background_prior=auto chose saliency: a typical training image of %s has %.0f%% "
          "of its pixels in colours its border does not show (%s; the border prior assumes "
          "at most %d%%): its objects fill the frame or its background has colours the "
          "border does not show. The masks learn where a small patch tells the domains "
          "apart, which assumes both domains share their kind of background. "
          "--background_prior=on keeps the border prior, off trains the paper's method.",
          worst.upper(), 100 * shares[worst], measured, 100 * MAX_UNLIKE_SHARE)
  return config_lib.apply_background_prior(cfg, choice, given)


# ------------------------------------------------------------------------------------
# What the prior adds to the training step (uagit_tf/steps.py).


def shown(cfg: config_lib.LossConfig, likeness: Callable[[], tf.Tensor], masks: tf.Tensor,
          hard: bool) -> tf.Tensor | float:
  """How much of each pixel a discriminator sees, [B, H, W, 1] or 1: with
  --disc_hide_background, 1 where the background likeness b (`likeness()`, of the reals,
  or of the fakes' sources) is at most disc_hide_start, 0 where it reaches disc_hide_end,
  linear between. A fake is shown where its source was not border-coloured, so a
  repainted background earns nothing (nor does covering it), and an object painted in
  the background's colours is still seen. The ramp leaves an object's pixels that merely
  resemble the border (a zebra's whites on pale sand: b about 0.5) in view. In stage 2
  (`hard`: D sees the hard masks), where the attention nets are frozen, the pixels whose
  own mask (`masks`, of the images) exceeds disc_show_mask_above are shown whatever their
  colour: the object's pale parts too, which D would otherwise learn to expect hidden."""
  if not cfg.disc_hide_background:
    return 1.0
  seen = 1.0 - tf.clip_by_value((likeness() - cfg.disc_hide_start)
                                / (cfg.disc_hide_end - cfg.disc_hide_start), 0.0, 1.0)
  if hard:
    seen = tf.maximum(seen, method.hard_mask(tf.cast(masks, seen.dtype),
                                             cfg.disc_show_mask_above))
  return seen


def mask_priors(cfg: config_lib.LossConfig, out: dict) -> list[tuple[str, float, tf.Tensor]]:
  """(name, weight, value) of each stage-1 mask prior with a weight > 0 (none is in the
  paper), on one direction's `out` (`steps.TrainStep.direction`)."""
  mask, likeness = out["mask"], out["likeness"]
  priors = [
      # Cover no more than needed.
      ("mask_l1", cfg.lambda_mask, lambda: tf.reduce_mean(mask)),
      # Leave out what looks like the image's border: the share of the border-coloured
      # pixels the mask covers.
      ("mask_background", cfg.lambda_mask_background,
       lambda: method.covered_share(mask, likeness())),
      # Take in what does not: the share of the other pixels the mask leaves out (an
      # image without them, at least 1% of its pixels, is barely pulled).
      ("mask_object", cfg.lambda_mask_object,
       lambda: method.covered_share(1.0 - mask, 1.0 - likeness(), min_weight=0.01)),
  ]
  return [(name, weight, value()) for name, weight, value in priors if weight > 0]
