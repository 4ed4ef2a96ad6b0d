"""The networks of the method, built from a `ModelConfig`."""

import dataclasses

import tensorflow as tf

from uagit_tf.config import ModelConfig
from uagit_tf.models.attention import AttentionNet
from uagit_tf.models.discriminator import PatchDiscriminator
from uagit_tf.models.generator import ResnetGenerator

DOMAINS = ("a", "b")


@dataclasses.dataclass
class Networks:
  """All six networks, keyed by domain: gen["a"] maps A -> B, att["a"] masks A images.

  `att` is empty for a plain CycleGAN (attention=False).
  """
  gen: dict[str, ResnetGenerator]
  att: dict[str, AttentionNet]
  disc: dict[str, PatchDiscriminator]

  def trackable(self) -> dict[str, tf.Module]:
    """Name -> network, the layout used in checkpoints."""
    out = {f"gen_{d}2{o}": self.gen[d] for d, o in zip(DOMAINS, DOMAINS[::-1])}
    out.update({f"att_{d}": self.att[d] for d in self.att})
    out.update({f"disc_{d}": self.disc[d] for d in self.disc})
    return out


def build_networks(cfg: ModelConfig, image_size: int = 64,
                   discriminators: bool = True) -> Networks:
  """Creates and builds (by one call on zeros) all networks of the method.

  Args:
    cfg: the architecture.
    image_size: the spatial size used to build the weights (any multiple of 4 works later).
    discriminators: False for inference, where only generators and masks are needed.
  """
  gen = {d: ResnetGenerator(cfg.ngf, cfg.n_res_blocks, name=f"gen_{d}2{o}")
         for d, o in zip(DOMAINS, DOMAINS[::-1])}
  att = ({d: AttentionNet(cfg.attention_width, cfg.attention_decoder_kernel, name=f"att_{d}")
          for d in DOMAINS} if cfg.attention else {})
  disc = ({d: PatchDiscriminator(cfg.ndf, name=f"disc_{d}") for d in DOMAINS}
          if discriminators else {})
  x = tf.zeros([1, image_size, image_size, 3])
  for net in [*gen.values(), *att.values(), *disc.values()]:
    net(x)
  return Networks(gen=gen, att=att, disc=disc)
