"""ResNet generator F_{A->B} / F_{B->A} (authors' code with ngf = 32; docs/method.md)."""

import keras
import tensorflow as tf

from uagit_tf.models import layers


@keras.saving.register_keras_serializable(package="uagit_tf")
class ResnetGenerator(keras.Model):
  """c7s1-ngf, d2ngf, d4ngf, n x R4ngf, u2ngf, ungf, c7s1-3 with tanh.

  Maps [B, H, W, 3] in [-1, 1] to the same shape; H and W must be multiples of 4. The
  residual blocks end with a ReLU after the add (authors' code) unless `residual_relu`
  is False (CycleGAN's blocks).
  """

  def __init__(self, ngf: int = 32, n_res_blocks: int = 9, residual_relu: bool = True,
               **kwargs):
    super().__init__(**kwargs)
    self.ngf = ngf
    self.n_res_blocks = n_res_blocks
    self.residual_relu = residual_relu
    self.body = [
        layers.ReflectionPad2D(3), *layers.conv_norm_relu(ngf, 7, padding="valid"),
        *layers.conv_norm_relu(2 * ngf, 3, strides=2),
        *layers.conv_norm_relu(4 * ngf, 3, strides=2),
        *[layers.ResidualBlock(4 * ngf, residual_relu) for _ in range(n_res_blocks)],
        *layers.conv_norm_relu(2 * ngf, 3, strides=2, transpose=True),
        *layers.conv_norm_relu(ngf, 3, strides=2, transpose=True),
        layers.ReflectionPad2D(3), layers.conv(3, 7, dtype=layers.OUTPUT_DTYPE),
    ]

  def call(self, x):
    for layer in self.body:
      x = layer(x)
    return tf.tanh(x)

  def get_config(self):
    return {**super().get_config(), "ngf": self.ngf, "n_res_blocks": self.n_res_blocks,
            "residual_relu": self.residual_relu}
