"""Attention network A_A / A_B: a soft one-channel mask in [0, 1] (docs/method.md)."""

import keras
import tensorflow as tf

from uagit_tf import distribute
from uagit_tf import method
from uagit_tf.config import ATTENTION_POLARITIES
from uagit_tf.models import layers

MIN_CONTRAST = 0.25  # `orient` stretches a mask's peak to 1 by at most 1 / MIN_CONTRAST.
# Stage 1's polarity vote and `orient`'s statistics at inference: moving means over about
# 100 steps.
MOMENTUM = 0.99
# Training images `AttentionNet.calibrate` measures where the moving means do not serve.
CALIBRATION_IMAGES = 32
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
# The name scope of the mask's post-processing (`orient`, `guided_filter`).
FLOAT_SCOPE = "mask_float"


@keras.saving.register_keras_serializable(package="uagit_tf")
class AttentionNet(keras.Model):
  """Encoder (7x7 s2, 3x3 s2), one residual block, nearest-upsampling decoder, sigmoid.

  `decoder_kernel` is 3 here (the last conv 7x7, reflect-padded); the authors' helper made
  the decoder convs and the last conv 1x1 in effect, which `decoder_kernel=1` reproduces.
  The residual block ends with a ReLU after the add (authors' code) unless
  `residual_relu` is False. Maps [B, H, W, 3] to [B, H, W, 1]; H and W must be multiples
  of 4.

  With `polarity="border"`, whether the net selects the object or the background is the
  net's, not each image's: a weight `vote` in [-1, 1], the moving mean
  of its training images' polarity signs (`update_statistics`), decides for every image
  once it is not 0. Per image, a small object on a background the net leaves at a mid
  level can tip the sign the wrong way, and its mask comes out empty.

  With `polarity="border"`, `orient` maps the raw masks in training by each image's own
  border level and contrast (`call(images, training=True)`: stage 1), and at inference
  (and in stage 2) by constants of the weights, `levels`: the moving means of those
  statistics over stage 1's batches. No mask at inference depends on its image's border,
  so an object that fills the frame keeps its mask, and tiles agree.
  """

  def __init__(self, width: int = 32, decoder_kernel: int = 3, residual_relu: bool = True,
               polarity: str = "free", refine_radius: int = 0, refine_eps: float = 0.01,
               **kwargs):
    super().__init__(**kwargs)
    if polarity not in ATTENTION_POLARITIES:
      raise ValueError(f"polarity must be one of {ATTENTION_POLARITIES}, got {polarity!r}")
    if refine_radius < 0 or refine_eps <= 0:
      raise ValueError(f"refine_radius must be >= 0 and refine_eps > 0, got {refine_radius} "
                       f"and {refine_eps}")
    self.polarity = polarity
    self.vote = (self.add_weight(shape=(), initializer="zeros", trainable=False,
                                 autocast=False, aggregation="only_first_replica",
                                 name="vote", dtype="float32")
                 if polarity == "border" else None)
    # (w, w level, w contrast): moving means of each stage-1 batch's mean `orient` level
    # and contrast, w the moving mean of 1 that corrects their start at 0 (as Adam's). A
    # plain tf.Variable, not a Keras weight: checkpoints from before it keep their layout
    # (WeightsOf), and it is restored where a checkpoint has it (workdir.ADDED_STATE).
    self.levels = (distribute.replicated_state(tf.zeros([3]), tf.float32, name="mask_levels")
                   if polarity == "border" else None)
    self.refine_radius = refine_radius
    self.refine_eps = refine_eps
    self.width = width
    self.decoder_kernel = decoder_kernel
    self.residual_relu = residual_relu
    k = decoder_kernel
    self.body = [
        layers.ReflectionPad2D(3), *layers.conv_norm_relu(width, 7, strides=2, padding="valid"),
        *layers.conv_norm_relu(2 * width, 3, strides=2),
        layers.ResidualBlock(2 * width, residual_relu),
        keras.layers.UpSampling2D(2, interpolation="nearest"),
        *layers.conv_norm_relu(2 * width, k),
        keras.layers.UpSampling2D(2, interpolation="nearest"),
        *layers.conv_norm_relu(width, k),
        # The last conv: 7x7 on a reflect-padded input, or 1x1 as the authors' code ran.
        *([layers.conv(1, 1, dtype=layers.OUTPUT_DTYPE)] if k == 1 else
          [layers.ReflectionPad2D(3), layers.conv(1, 7, dtype=layers.OUTPUT_DTYPE)]),
    ]

  def call(self, images, training=False):
    """Masks [B, H, W, 1] of images [B, H, W, 3]; `training`: `orient` by each image's
    statistics (stage 1), else by the weights' `levels` (stage 2 and inference)."""
    mask = self.raw_mask(images)
    # A few ops on one channel whose 3x3 solves int8 cannot hold: an int8 export keeps
    # what this scope names in float (exporting.py).
    with tf.name_scope(FLOAT_SCOPE):
      if self.polarity == "border":
        mask = (orient(mask, self.vote) if training
                else orient_fixed(mask, self.vote, self.levels))
      if self.refine_radius:
        mask = guided_filter(mask, images, self.refine_radius, self.refine_eps)
    return mask

  def raw_mask(self, images):
    """The net's own mask, before `orient` and the guided filter."""
    return tf.sigmoid(self.raw_logits(images))

  def raw_logits(self, images):
    """The logits of `raw_mask`."""
    x = images
    for layer in self.body:
      x = layer(x)
    return x

  def update_statistics(self, images, likeness) -> None:
    """Stage 1, before each step, on `images` (a replica's share of a training batch; the
    replicas count alike): moves `vote` toward their mean polarity sign, then `levels`
    toward the mean `orient` level and contrast of their masks in that polarity.

    Each image's ballot is the sign of its `colour_margin` by `likeness` ([B, H, W, 1],
    `method.background_likeness` of `images`); an image with under MIN_OBJECT_SHARE of
    pixels not coloured like its border abstains, and where every image abstains the vote
    stays. (A ballot of the ring against the mean, until the fourteenth session, read the
    ring, which the net's padding shapes, against a mean that a large mid-level background
    dominates: nets brighter on their objects lost it and had their masks inverted.)
    """
    if self.levels is None:
      return
    mask = self.raw_mask(images)
    replicas = tf.distribute.get_replica_context()
    likeness = tf.cast(likeness, tf.float32)
    margin = colour_margin(mask, likeness)
    voters = tf.cast(tf.reduce_mean(1.0 - likeness, axis=[1, 2, 3]) >= MIN_OBJECT_SHARE,
                     tf.float32)
    yes, count = tf.unstack(replicas.all_reduce(tf.distribute.ReduceOp.SUM, tf.stack(
        [tf.reduce_sum(voters * tf.sign(tf.cast(margin, tf.float32))),
         tf.reduce_sum(voters)])))
    moved = MOMENTUM * self.vote + (1.0 - MOMENTUM) * yes / tf.maximum(count, 1.0)
    self.vote.assign(tf.where(count > 0, moved, self.vote))
    _, level, contrast = statistics(mask, self.vote)
    level, contrast, count = tf.unstack(replicas.all_reduce(tf.distribute.ReduceOp.SUM, tf.stack(
        [tf.reduce_sum(level), tf.reduce_sum(contrast), tf.cast(tf.shape(mask)[0], tf.float32)])))
    self.levels.assign(MOMENTUM * self.levels
                       + (1.0 - MOMENTUM) * tf.stack([1.0, level / count, contrast / count]))

  def calibrate(self, images) -> None:
    """Sets `levels` to the mean `orient` statistics of `images` (eager; e.g. a net the
    keeper restored at stage 1's end, whose moving means were another state's)."""
    if self.levels is not None:
      _, level, contrast = statistics(self.raw_mask(images), self.vote)
      self.levels.assign(tf.stack([1.0, tf.reduce_mean(level), tf.reduce_mean(contrast)]))

  def get_config(self):
    return {**super().get_config(), "width": self.width, "polarity": self.polarity,
            "decoder_kernel": self.decoder_kernel, "residual_relu": self.residual_relu,
            "refine_radius": self.refine_radius, "refine_eps": self.refine_eps}


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


def guided_filter(mask: tf.Tensor, images: tf.Tensor, radius: int, eps: float) -> tf.Tensor:
  """Edge-aware refinement of masks [B, H, W, 1] by their images [B, H, W, 3] in [-1, 1]:
  the colour guided filter of He et al. (2010). In each (2 radius + 1)^2 window the mask
  is fitted as a linear function of the pixel's colour (ridge `eps`), and the fits of the
  windows that hold a pixel are averaged: within a region of one colour the mask is
  smoothed (it spreads as far as the windows reach, 2 radius), across a colour edge it
  does not leak, so the mask's edges move onto the image's.

  The image is a guide, not an input to be changed: no gradient reaches it. The 3x3
  solve is written out (adjugate over determinant), elementwise ops that LiteRT's
  builtins run.
  """
  guide = tf.stop_gradient((tf.cast(images, tf.float32) + 1.0) / 2.0)
  p = tf.cast(mask, tf.float32)
  k = 2 * radius + 1
  # The window's mean as a row mean then a column mean: the same numbers (the windows
  # clipped at the border are rectangles), in 2k operations per pixel instead of k^2.
  box = lambda t: tf.nn.avg_pool2d(tf.nn.avg_pool2d(t, [1, k], 1, "SAME"), [k, 1], 1, "SAME")
  r, g, b = tf.unstack(guide, axis=-1)
  means = box(tf.stack([r, g, b, p[..., 0], r * p[..., 0], g * p[..., 0], b * p[..., 0],
                        r * r, r * g, r * b, g * g, g * b, b * b], axis=-1))
  mr, mg, mb, mp, mrp, mgp, mbp, mrr, mrg, mrb, mgg, mgb, mbb = tf.unstack(means, axis=-1)
  # The window's colour covariance (+ eps I) and the colour-mask covariance.
  srr, srg, srb = mrr - mr * mr + eps, mrg - mr * mg, mrb - mr * mb
  sgg, sgb, sbb = mgg - mg * mg + eps, mgb - mg * mb, mbb - mb * mb + eps
  vr, vg, vb = mrp - mr * mp, mgp - mg * mp, mbp - mb * mp
  # Cofactors of the symmetric covariance; it is positive definite, det >= eps^3.
  crr, crg, crb = sgg * sbb - sgb * sgb, srb * sgb - srg * sbb, srg * sgb - srb * sgg
  cgg, cgb, cbb = srr * sbb - srb * srb, srg * srb - srr * sgb, srr * sgg - srg * srg
  det = srr * crr + srg * crg + srb * crb
  ar = (crr * vr + crg * vg + crb * vb) / det
  ag = (crg * vr + cgg * vg + cgb * vb) / det
  ab = (crb * vr + cgb * vg + cbb * vb) / det
  offset = mp - ar * mr - ag * mg - ab * mb
  ar, ag, ab, offset = tf.unstack(box(tf.stack([ar, ag, ab, offset], axis=-1)), axis=-1)
  refined = ar * r + ag * g + ab * b + offset
  return tf.clip_by_value(refined, 0.0, 1.0)[..., None]

