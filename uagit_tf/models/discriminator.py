"""PatchGAN 70x70 discriminator D_A / D_B (SPEC)."""

import keras
import tensorflow as tf

from uagit_tf.models import layers


@keras.saving.register_keras_serializable(package="uagit_tf")
class PatchDiscriminator(keras.Model):
  """4x4 convs to ndf (s2), 2ndf (s2), 4ndf (s2), 8ndf (s1), 1 (s1); LeakyReLU 0.2.

  Instance norm follows every conv but the last. `call(x, use_norm=False)` skips the
  norms, which the authors' code does in stage 2 (the stage is a Python value, so each
  setting traces its own graph). Returns raw patch scores (LSGAN, no sigmoid).
  """

  def __init__(self, ndf: int = 64, **kwargs):
    super().__init__(**kwargs)
    self.ndf = ndf
    widths = [(ndf, 2), (2 * ndf, 2), (4 * ndf, 2), (8 * ndf, 1)]
    self.convs = [layers.conv(w, 4, strides=s, padding="same") for w, s in widths]
    self.norms = [layers.instance_norm() for _ in widths]
    self.head = layers.conv(1, 4, padding="same")

  def call(self, x, use_norm: bool = True):
    for conv, norm in zip(self.convs, self.norms):
      x = conv(x)
      if use_norm:
        x = norm(x)
      x = tf.nn.leaky_relu(x, alpha=0.2)
    return self.head(x)

  def get_config(self):
    return {**super().get_config(), "ndf": self.ndf}
