"""The paper's equations: compositing, one direction's forward pass and cycle, the losses.

Everything here is written once for one direction (source -> target) and called for
A -> B and B -> A. Equation numbers refer to arXiv 1806.02311; docs/method.md has them.
"""

import tensorflow as tf

from uagit_tf.domains import Direction


def composite(mask: tf.Tensor, generated: tf.Tensor, source: tf.Tensor) -> tf.Tensor:
  """s' = s_a * F(s) + (1 - s_a) * s (Eq. 1): foreground translated, background copied."""
  return mask * generated + (1.0 - mask) * source


def hard_mask(mask: tf.Tensor, threshold: float) -> tf.Tensor:
  """1 where mask > threshold, else 0 (stage 2's discriminator input, Eq. 6)."""
  return tf.cast(mask > threshold, mask.dtype)


def full_mask(images: tf.Tensor) -> tf.Tensor:
  """An all-ones mask: the plain CycleGAN baseline, and threshold 0 in stage 1."""
  return tf.ones_like(images[..., :1])


def translate(images: tf.Tensor, gen, att) -> dict[str, tf.Tensor]:
  """One direction at inference or in training: mask, raw generator output, composite.

  Args:
    images: [B, H, W, 3] in [-1, 1], H and W multiples of 4.
    gen: the generator of this direction.
    att: the attention net of the source domain, or None (plain CycleGAN).
  Returns:
    mask [B, H, W, 1] in [0, 1], generated and translated [B, H, W, 3] in [-1, 1].
  """
  generated = gen(images)
  mask = att(images) if att is not None else full_mask(images)
  return {"mask": mask, "generated": generated,
          "translated": composite(mask, generated, images)}


def cycle(images: tf.Tensor, nets, direction: Direction) -> tuple[dict, dict]:
  """s -> s' -> s'' (Eq. 1-2): `translate` forward, then back with the other direction's
  generator and the target domain's attention net, composited over s'.

  Args:
    images: [B, H, W, 3] in [-1, 1] of direction.source.
    nets: a `models.Networks`.
  Returns:
    (forward, backward): `translate`'s dicts; backward["translated"] is s''.
  """
  source, target = direction
  forward = translate(images, nets.gen[source], nets.att.get(source))
  backward = translate(forward["translated"], nets.gen[target], nets.att.get(target))
  return forward, backward


def background_share(mask: tf.Tensor, background: tf.Tensor) -> tf.Tensor:
  """Mean over the batch of the share of each image's background (weights [B, H, W, 1]
  in [0, 1]) that its mask covers."""
  covered = tf.reduce_sum(mask * background, axis=[1, 2, 3])
  return tf.reduce_mean(covered / (tf.reduce_sum(background, axis=[1, 2, 3]) + 1e-6))


def lsgan_generator_loss(fake_scores: tf.Tensor) -> tf.Tensor:
  """mean((D(fake) - 1)^2): least-squares adversarial loss of the generator (Eq. 3)."""
  return tf.reduce_mean(tf.square(fake_scores - 1.0))


def lsgan_discriminator_loss(real_scores: tf.Tensor, fake_scores: tf.Tensor) -> tf.Tensor:
  """0.5 * [mean((D(real) - 1)^2) + mean(D(fake)^2)] (Eq. 3, LSGAN as in authors' code)."""
  return 0.5 * (tf.reduce_mean(tf.square(real_scores - 1.0)) +
                tf.reduce_mean(tf.square(fake_scores)))


def l1(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
  """Mean absolute error: the cycle-consistency loss (Eq. 4)."""
  return tf.reduce_mean(tf.abs(x - y))
