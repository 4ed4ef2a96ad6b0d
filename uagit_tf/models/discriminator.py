"""PatchGAN 70x70 discriminator D_A / D_B (docs/method.md)."""

import keras
import tensorflow as tf

from uagit_tf.models import layers


@keras.saving.register_keras_serializable(package="uagit_tf")
class PatchDiscriminator(keras.Model):
  """4x4 convs to ndf (s2), 2ndf (s2), 4ndf (s2), 8ndf (s1), 1 (s1); LeakyReLU 0.2.

  That is n_layers=3, the paper's 70x70 PatchGAN. On smaller images fewer layers keep the
  patch as local relative to the image as the paper's (70/256 of the side).

  Instance norm follows every conv but the last; the first's only with `norm_first` (the
  authors' code; CycleGAN's PatchGAN has none there). Normalised right after its first
  conv, D sees colour differences but not colours (each feature's mean over the image is
  taken out), and an image times any constant (a dim mask) as the image itself.
  `call(x, use_norm=False)` skips the norms, which the authors' code does in stage 2 (the
  stage is a Python value, so each setting traces its own graph). Returns raw patch
  scores (LSGAN, no sigmoid).
  """

  def __init__(self, ndf: int = 64, n_layers: int = 3, norm_first: bool = True, **kwargs):
    super().__init__(**kwargs)
    self.ndf = ndf
    self.n_layers = n_layers
    self.norm_first = norm_first
    # n_layers stride-2 convs then one stride-1 conv: receptive field 70 px for 3 (the
    # paper's), 34 px for 2, 16 px for 1 (pix2pix / CycleGAN's n_layers_D).
    widths = [(ndf * min(2**i, 8), 2) for i in range(n_layers)]
    widths.append((ndf * min(2**n_layers, 8), 1))
    self.convs = [layers.conv(w, 4, strides=s, padding="same") for w, s in widths]
    self.norms = [layers.instance_norm() if i or norm_first else None
                  for i in range(len(widths))]
    self.head = layers.conv(1, 4, padding="same", dtype=layers.OUTPUT_DTYPE)

  def call(self, x, use_norm: bool = True):
    for conv, norm in zip(self.convs, self.norms):
      x = conv(x)
      if use_norm and norm is not None:
        x = norm(x)
      x = tf.nn.leaky_relu(x, alpha=0.2)
    return self.head(x)

  def get_config(self):
    return {**super().get_config(), "ndf": self.ndf, "n_layers": self.n_layers,
            "norm_first": self.norm_first}
