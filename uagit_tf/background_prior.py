"""`--background_prior`: what training assumes shows the background.

The default flags depart from the paper in the thirteen fields of `config.PAPER_METHOD`
(the border-coloured background priors, the discriminators blind to border colours, the
mask's orientation by the border, ...). All of them rest on one assumption: a training
image shows its background at its border, and its object is a minority of colours the
border does not show. Where that holds and the two domains' backgrounds differ, they keep
the background out of the masks (docs/method.md); where it fails they train masks that
die (objects that fill the frame) or lose the object in clutter (backgrounds with colours
the border does not show).

    on        the thirteen departures (each at its default; a field set otherwise stays).
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

The border prior's mechanisms live here too, so that the attention net and the training
step are the paper's but for a call each: `orient` (each image's in stage 1, the weights'
levels after) and the polarity ballot, which `models/attention.py` applies; and what the
step adds (`update_statistics`, `keep`, `shown`, `mask_priors`).
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
# The prior on masks: `orient` (the attention net's, `models/attention.py`), the polarity
# ballot, and the priors on the raw mask.

MIN_CONTRAST = 0.25  # `orient` stretches a mask's peak to 1 by at most 1 / MIN_CONTRAST.
# In the colour ballot, an image with less than this share of pixels unlike its border
# (no object) abstains.
MIN_OBJECT_SHARE = 0.01
# `orient` passes this share of the gradient to the pixels below the border's level,
# which its ReLU maps to 0: without it a mask that sank below there could not come back.
BELOW_LEVEL_GRADIENT = 0.1
# The margin, in logits, by which `margin_shortfall` asks a net's raw mask to rank an
# image's pixels unlike its border above those like it. 0: it only turns back a mask that
# ranks them below (inverted on that image). A margin of 1 also pulled every image of a
# new net, and the hard set's horse-to-zebra translation failed where it had passed
# (docs/experiments.md, twenty-second session).
LOGIT_MARGIN = 0.0
# ... on an image with at least this share of pixels clearly unlike its border (likeness
# under MARGIN_LIKENESS): an object. The hard set's object-less images have at most 1.3%
# such pixels in their textures (and up to 24% under MIN_OBJECT_SHARE's 0.5), its images
# with objects 2% or more, all but a few small or border-coloured ones.
MARGIN_OBJECT_SHARE = 0.02
MARGIN_LIKENESS = 0.25


def statistics(mask: tf.Tensor, vote: tf.Tensor | None = None) -> tuple:
  """`orient`'s statistics of raw masks [B, H, W, 1], each [B]: whether it flips a mask,
  the border's level and the contrast (peak less level, at least MIN_CONTRAST) after it."""
  border = border_mean(mask)
  flip = flips(mask, vote)
  level = tf.where(flip, 1.0 - border, border)
  peak = tf.where(flip, 1.0 - tf.reduce_min(mask, axis=[1, 2, 3]),
                  tf.reduce_max(mask, axis=[1, 2, 3]))
  return flip, level, tf.maximum(peak - level, MIN_CONTRAST)


def orient(mask: tf.Tensor, vote: tf.Tensor | None = None) -> tf.Tensor:
  """The background prior of saliency detection on masks [B, H, W, 1], in training: the
  image border is background. Each mask keeps the net's partition of its image, with
  three changes: its polarity flips where the net selected the background (`vote` > 0,
  the net's polarity; without it, or while it is 0, where the mask's border is brighter
  than its mean); the border's level maps to 0; and its peak maps to 1, stretched by at
  most 1 / MIN_CONTRAST (a faint partition is noise, not an object). The pixels below the
  border's level come out 0, as a ReLU's, but pass BELOW_LEVEL_GRADIENT of their gradient
  (a prior or D may raise them again).
  """
  flip, level, contrast = statistics(mask, vote)
  mask = tf.where(flip[:, None, None, None], 1.0 - mask, mask)
  rise = _relu_leaking_gradient(mask - level[:, None, None, None])
  return tf.minimum(rise / contrast[:, None, None, None], 1.0)


def orient_fixed(mask: tf.Tensor, vote: tf.Tensor, levels: tf.Tensor) -> tf.Tensor:
  """`orient` at inference: the net's polarity (`vote` > 0: flipped) and the moving means
  of the level and contrast (`levels`, see `AttentionNet`), the same for every image:
  an elementwise map of the raw mask, fixed by the weights. Before any stage-1 step
  (w = 0) the level is 0 and the contrast 1, and the polarity the raw mask's."""
  w, level, contrast = tf.unstack(tf.cast(levels, mask.dtype))
  level = tf.math.divide_no_nan(level, w)
  contrast = tf.where(w > 0, tf.math.divide_no_nan(contrast, w), 1.0)
  mask = tf.where(vote > 0, 1.0 - mask, mask)
  return tf.minimum(tf.nn.relu(mask - level) / contrast, 1.0)


@tf.custom_gradient
def _relu_leaking_gradient(x: tf.Tensor):
  """relu(x) forward; backward, BELOW_LEVEL_GRADIENT of the gradient where x <= 0.

  A custom gradient, not a term that is 0 forward (x - stop_gradient(x)): exported graphs
  then hold a plain ReLU. int8 calibration gave such an always-0 term the range [0, 0],
  a quantization scale of 0, and the int8 ADD that took it returned a mask of 0 everywhere.
  """
  def grad(upstream):
    return upstream * tf.cast(tf.where(x > 0, 1.0, BELOW_LEVEL_GRADIENT), upstream.dtype)
  return tf.nn.relu(x), grad


def flips(mask: tf.Tensor, vote: tf.Tensor | None = None) -> tf.Tensor:
  """[B] bool: where `orient` turns raw masks [B, H, W, 1] over: everywhere or nowhere by
  the net's `vote` once it is not 0, else where a mask's border is brighter than its mean.
  No gradient."""
  flip = tf.stop_gradient(polarity_margin(mask) > 0)
  if vote is not None:
    flip = tf.where(tf.not_equal(vote, 0.0), tf.broadcast_to(vote > 0, tf.shape(flip)), flip)
  return flip


def margin_shortfall(logits: tf.Tensor, likeness: tf.Tensor,
                     vote: tf.Tensor | None = None) -> tf.Tensor:
  """[B]: how far each raw mask (`logits` [B, H, W, 1], turned over as `orient` turns it)
  falls short of ranking its image's pixels unlike the border (weights 1 - `likeness`)
  LOGIT_MARGIN above those like it (weights `likeness`), in mean logits; 0 for an image
  without MARGIN_OBJECT_SHARE of pixels clearly unlike its border (likeness under
  MARGIN_LIKENESS), whose texture alone would set what its mask should rank first, and
  so train the net on noise.

  In logits, not in the sigmoid's range: a net inverted on one background family (its
  objects sunk to 0 there, the rest of its images voting its polarity) gets no gradient
  from its saturated sigmoid, nor from the priors on the oriented mask, which `orient`
  maps to 0 below the border's level. In logits the shortfall pulls linearly."""
  logits = tf.cast(logits, tf.float32)
  likeness = tf.cast(likeness, tf.float32)
  aligned = tf.where(flips(tf.sigmoid(logits), vote)[:, None, None, None], -logits, logits)
  margin = -colour_margin(aligned, likeness)  # Mean unlike the border less mean like it.
  clearly_unlike = tf.cast(likeness < MARGIN_LIKENESS, tf.float32)
  has_object = tf.cast(tf.reduce_mean(clearly_unlike, axis=[1, 2, 3]) >= MARGIN_OBJECT_SHARE,
                       tf.float32)
  return has_object * tf.nn.relu(LOGIT_MARGIN - margin)


def polarity_margin(mask: tf.Tensor) -> tf.Tensor:
  """[B]: each mask's border mean less its mean; `orient` flips the masks where it is > 0."""
  return border_mean(mask) - tf.reduce_mean(mask, axis=[1, 2, 3])


def colour_margin(mask: tf.Tensor, likeness: tf.Tensor) -> tf.Tensor:
  """[B]: each mask's mean over the pixels coloured like its image's border (weights
  `likeness`, [B, H, W, 1] in [0, 1]) less its mean over the others (weights
  1 - likeness). > 0: the mask is brighter on the background's colours."""
  return method.weighted_mean(mask, likeness) - method.weighted_mean(mask, 1.0 - likeness)


def border_mean(mask: tf.Tensor) -> tf.Tensor:
  """[B]: each mask's mean over a ring 1/16 of its size wide (at least 1 pixel)."""
  ring = border_ring(mask)
  return tf.reduce_sum(mask * ring, axis=[1, 2, 3]) / tf.reduce_sum(ring)


def border_ring(mask: tf.Tensor) -> tf.Tensor:
  """[1, H, W, 1]: 1 on the ring `border_mean` reads, 0 inside it."""
  h, w = tf.shape(mask)[1], tf.shape(mask)[2]
  bh, bw = tf.maximum(1, h // 16), tf.maximum(1, w // 16)
  return tf.pad(tf.zeros([h - 2 * bh, w - 2 * bw], mask.dtype), [[bh, bh], [bw, bw]],
                constant_values=1.0)[None, :, :, None]


def ring_gap(mask: tf.Tensor, likeness: tf.Tensor) -> tf.Tensor:
  """[B]: |the mask's mean on the border ring - its mean inside the ring|, both over the
  pixels coloured like the border (weights `likeness`, [B, H, W, 1] in [0, 1]); only the
  ring side passes gradient. `orient` takes the ring's level as the background's: a net
  that makes its ring unlike its background (it can tell the image's edge from its
  padding) moves that level, and the object sinks below it (docs/method.md). An object
  cut by the frame is left out of both means as far as its colours are."""
  ring = border_ring(mask)
  likeness = tf.cast(likeness, mask.dtype)
  return tf.abs(method.weighted_mean(mask, likeness * ring)
                - tf.stop_gradient(method.weighted_mean(mask, likeness * (1.0 - ring))))


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
      # border at least LOGIT_MARGIN above those like it.
      ("mask_margin", cfg.lambda_mask_margin, lambda: tf.reduce_mean(
          margin_shortfall(out["raw_logits"](), likeness(), out["vote"]))),
      # The net's border ring at its background's level, where `orient` reads it.
      ("mask_ring", cfg.lambda_mask_ring,
       lambda: tf.reduce_mean(ring_gap(out["raw_mask"](), likeness()))),
  ]
  return [(name, weight, value()) for name, weight, value in priors if weight > 0]
