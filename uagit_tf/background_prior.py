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

from collections.abc import Callable

from absl import logging
import numpy as np
import tensorflow as tf

from uagit_tf import config as config_lib
from uagit_tf import keeper as keeper_lib
from uagit_tf import method
from uagit_tf.data import pipeline
from uagit_tf.domains import DOMAINS
from uagit_tf.models import attention

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
    images = pipeline.first_images(sources[d], SAMPLE_IMAGES, MEASURE_SIZE)
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


# ------------------------------------------------------------------------------------
# What the prior adds to the training step (uagit_tf/steps.py).


def update_statistics(nets: dict, real: dict, likeness: dict) -> dict[str, tf.Tensor]:
  """Stage 1, before each step: each attention net's polarity vote and `orient` levels
  take in its domain's images (`real[d]`, with `likeness[d]()` their border likeness).
  Returns the votes as losses to log (> 0: the net's raw masks are inverted)."""
  votes = {}
  for d, net in nets.items():
    if net.vote is not None:  # Polarity "border".
      net.update_statistics(real[d], likeness[d]())
      votes[f"mask_vote_{d}"] = tf.identity(net.vote)
  return votes


def keep(keeper: keeper_lib.AttentionKeeper, nets: dict, outs: dict) -> dict[str, tf.Tensor]:
  """Stage 1, before the update: the keeper takes in each net's mask health on `outs`
  (direction -> `steps.TrainStep.direction`'s dict), masks the current weights made.
  Returns the health's moving means as losses to log."""
  healths = keeper.update(nets, {d.source: keeper_lib.health(out["mask"], out["likeness"]())
                                 for d, out in outs.items()})
  return {f"mask_health_{d}": h for d, h in healths.items()}


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
      # Masks as stage 2 will see them: each pixel pulled to its side of tau (to 1 above
      # it, 0 below), so what the composite translates is what the hard mask shows D.
      ("mask_hard", cfg.lambda_mask_hard, lambda: method.l1(
          mask, tf.stop_gradient(method.hard_mask(mask, cfg.mask_threshold)))),
      # Leave out what looks like the image's border: the share of the border-coloured
      # pixels the mask covers.
      ("mask_background", cfg.lambda_mask_background,
       lambda: method.covered_share(mask, likeness())),
      # Take in what does not: the share of the other pixels the mask leaves out (an
      # image without them, at least 1% of its pixels, is barely pulled).
      ("mask_object", cfg.lambda_mask_object,
       lambda: method.covered_share(1.0 - mask, 1.0 - likeness(), min_weight=0.01)),
      # The net's raw mask, in logits and its polarity, ranking the pixels unlike the
      # border at least attention.LOGIT_MARGIN above those like it.
      ("mask_margin", cfg.lambda_mask_margin, lambda: tf.reduce_mean(
          attention.margin_shortfall(out["raw_logits"](), likeness(), out["vote"]))),
      # The net's border ring at its background's level, where `orient` reads it.
      ("mask_ring", cfg.lambda_mask_ring,
       lambda: tf.reduce_mean(attention.ring_gap(out["raw_mask"](), likeness()))),
  ]
  return [(name, weight, value()) for name, weight, value in priors if weight > 0]
