"""The networks of the method, built from a `ModelConfig`."""

import dataclasses

import keras
import tensorflow as tf

from uagit_tf.config import ModelConfig
from uagit_tf.models.attention import AttentionNet
from uagit_tf.models.discriminator import PatchDiscriminator
from uagit_tf.domains import DIRECTIONS, DOMAINS
from uagit_tf.models.generator import ResnetGenerator


@dataclasses.dataclass
class Networks:
  """All six networks, keyed by domain: gen["a"] maps A -> B, att["a"] masks A images.

  `att` is empty for a plain CycleGAN (attention=False).
  """
  gen: dict[str, ResnetGenerator]
  att: dict[str, AttentionNet]
  disc: dict[str, PatchDiscriminator]

  def by_name(self) -> dict[str, keras.Model]:
    """Name -> network: gen_a2b, gen_b2a, att_a, att_b, disc_a, disc_b (those present)."""
    out = {f"gen_{d.name}": self.gen[d.source] for d in DIRECTIONS.values()}
    out.update({f"att_{d}": self.att[d] for d in self.att})
    out.update({f"disc_{d}": self.disc[d] for d in self.disc})
    return out

  def checkpointables(self) -> dict[str, tf.Module]:
    """Name -> the network's weights, explicitly tracked: the layout of checkpoints."""
    return {name: WeightsOf(net) for name, net in self.by_name().items()}


class WeightsOf(tf.Module):
  """Tracks every weight of a Keras model, in order, for tf.train.Checkpoint / SavedModel.

  Keras 3 models do not expose layers kept in Python lists to TensorFlow's object
  tracking: a checkpoint of the model object alone silently misses most weights (and a
  SavedModel fails in TF Serving's loader). Listing the weights explicitly fixes both.
  """

  def __init__(self, net: keras.Model):
    super().__init__(name=net.name)
    self.weights = list(net.weights)


def build_networks(cfg: ModelConfig, image_size: int = 64,
                   discriminators: bool = True) -> Networks:
  """Creates and builds (by one call on zeros) all networks of the method.

  Args:
    cfg: the architecture.
    image_size: the spatial size used to build the weights (any multiple of 4 works later).
    discriminators: False for inference, where only generators and masks are needed.
  """
  gen = {d.source: ResnetGenerator(cfg.ngf, cfg.n_res_blocks, cfg.residual_relu,
                                   name=f"gen_{d.name}") for d in DIRECTIONS.values()}
  refine = (max(1, round(cfg.attention_refine_radius * image_size))
            if cfg.attention_refine_radius else 0)
  att = ({d: AttentionNet(cfg.attention_width, cfg.attention_decoder_kernel, cfg.residual_relu,
                          refine, cfg.attention_refine_eps,
                          name=f"att_{d}") for d in DOMAINS}
         if cfg.attention else {})
  disc = ({d: PatchDiscriminator(cfg.ndf, cfg.disc_layers, cfg.disc_norm_first,
                                 name=f"disc_{d}") for d in DOMAINS}
          if discriminators else {})
  x = tf.zeros([1, image_size, image_size, 3])
  for net in [*gen.values(), *att.values(), *disc.values()]:
    net(x)
  return Networks(gen=gen, att=att, disc=disc)
