"""Attention network A_A / A_B: a soft one-channel mask in [0, 1] (docs/method.md)."""

import keras
import tensorflow as tf

from uagit_tf.models import layers

# The name scope of the mask's post-processing (`guided_filter`).
FLOAT_SCOPE = "mask_float"


@keras.saving.register_keras_serializable(package="uagit_tf")
class AttentionNet(keras.Model):
  """Encoder (7x7 s2, 3x3 s2), one residual block, nearest-upsampling decoder, sigmoid.

  `decoder_kernel` is 3 here (the last conv 7x7, reflect-padded); the authors' helper made
  the decoder convs and the last conv 1x1 in effect, which `decoder_kernel=1` reproduces.
  The residual block ends with a ReLU after the add (authors' code) unless
  `residual_relu` is False. With `refine_radius` > 0 the mask goes through a guided
  filter by its image (`guided_filter`; not in the paper). Maps [B, H, W, 3] to
  [B, H, W, 1]; H and W must be multiples of 4. The mask is the same in training and at
  inference: nothing in it depends on the image's border.
  """

  def __init__(self, width: int = 32, decoder_kernel: int = 3, residual_relu: bool = True,
               refine_radius: int = 0, refine_eps: float = 0.01, **kwargs):
    super().__init__(**kwargs)
    if refine_radius < 0 or refine_eps <= 0:
      raise ValueError(f"refine_radius must be >= 0 and refine_eps > 0, got {refine_radius} "
                       f"and {refine_eps}")
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

  def call(self, images):
    """Masks [B, H, W, 1] of images [B, H, W, 3]."""
    x = images
    for layer in self.body:
      x = layer(x)
    mask = tf.sigmoid(x)
    if self.refine_radius:
      # A few ops on one channel whose 3x3 solves int8 cannot hold: an int8 export keeps
      # what this scope names in float (exporting.py).
      with tf.name_scope(FLOAT_SCOPE):
        mask = guided_filter(mask, images, self.refine_radius, self.refine_eps)
    return mask

  def get_config(self):
    return {**super().get_config(), "width": self.width,
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

