"""Attention network A_A / A_B: a soft one-channel mask in [0, 1] (docs/method.md)."""

import keras
import tensorflow as tf

from uagit_tf.models import layers


@keras.saving.register_keras_serializable(package="uagit_tf")
class AttentionNet(keras.Model):
  """Encoder (7x7 s2, 3x3 s2), one residual block, nearest-upsampling decoder, sigmoid.

  `decoder_kernel` is 3 here (the last conv 7x7, reflect-padded); the authors' helper made
  the decoder convs and the last conv 1x1 in effect, which `decoder_kernel=1` reproduces.
  The residual block ends with a ReLU after the add (authors' code) unless
  `residual_relu` is False. Maps [B, H, W, 3] to [B, H, W, 1]; H and W must be multiples
  of 4.
  """

  def __init__(self, width: int = 32, decoder_kernel: int = 3, residual_relu: bool = True,
               **kwargs):
    super().__init__(**kwargs)
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

  def call(self, x):
    for layer in self.body:
      x = layer(x)
    return tf.sigmoid(x)

  def get_config(self):
    return {**super().get_config(), "width": self.width,
            "decoder_kernel": self.decoder_kernel, "residual_relu": self.residual_relu}
