"""Attention network A_A / A_B: a soft one-channel mask in [0, 1] (docs/method.md)."""

import keras
import tensorflow as tf

from uagit_tf import background_prior
from uagit_tf import distribute
from uagit_tf.config import ATTENTION_POLARITIES
from uagit_tf.models import layers

# Stage 1's polarity vote and `orient`'s statistics at inference: moving means over about
# 100 steps.
MOMENTUM = 0.99
# Training images `AttentionNet.calibrate` measures where the moving means do not serve.
CALIBRATION_IMAGES = 32
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
        mask = (background_prior.orient(mask, self.vote) if training
                else background_prior.orient_fixed(mask, self.vote, self.levels))
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
    margin = background_prior.colour_margin(mask, likeness)
    voters = tf.cast(tf.reduce_mean(1.0 - likeness, axis=[1, 2, 3]) >= background_prior.MIN_OBJECT_SHARE,
                     tf.float32)
    yes, count = tf.unstack(replicas.all_reduce(tf.distribute.ReduceOp.SUM, tf.stack(
        [tf.reduce_sum(voters * tf.sign(tf.cast(margin, tf.float32))),
         tf.reduce_sum(voters)])))
    moved = MOMENTUM * self.vote + (1.0 - MOMENTUM) * yes / tf.maximum(count, 1.0)
    self.vote.assign(tf.where(count > 0, moved, self.vote))
    _, level, contrast = background_prior.statistics(mask, self.vote)
    level, contrast, count = tf.unstack(replicas.all_reduce(tf.distribute.ReduceOp.SUM, tf.stack(
        [tf.reduce_sum(level), tf.reduce_sum(contrast), tf.cast(tf.shape(mask)[0], tf.float32)])))
    self.levels.assign(MOMENTUM * self.levels
                       + (1.0 - MOMENTUM) * tf.stack([1.0, level / count, contrast / count]))

  def calibrate(self, images) -> None:
    """Sets `levels` to the mean `orient` statistics of `images` (eager; e.g. a net the
    keeper restored at stage 1's end, whose moving means were another state's)."""
    if self.levels is not None:
      _, level, contrast = background_prior.statistics(self.raw_mask(images), self.vote)
      self.levels.assign(tf.stack([1.0, tf.reduce_mean(level), tf.reduce_mean(contrast)]))

  def get_config(self):
    return {**super().get_config(), "width": self.width, "polarity": self.polarity,
            "decoder_kernel": self.decoder_kernel, "residual_relu": self.residual_relu,
            "refine_radius": self.refine_radius, "refine_eps": self.refine_eps}


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

