"""The paper's equations: compositing, one direction's forward pass and cycle, the losses.

Everything here is written once for one direction (source -> target) and called for
A -> B and B -> A. Equation numbers refer to arXiv 1806.02311; docs/method.md has them.
"""

import numpy as np
import tensorflow as tf

from uagit_tf.domains import Direction


def composite(mask: tf.Tensor, generated: tf.Tensor, source: tf.Tensor) -> tf.Tensor:
  """s' = s_a * F(s) + (1 - s_a) * s (Eq. 1): foreground translated, background copied."""
  return mask * generated + (1.0 - mask) * source


def hard_mask(mask: tf.Tensor, threshold: float) -> tf.Tensor:
  """1 where mask > threshold, else 0 (stage 2's discriminator input, Eq. 6)."""
  return tf.cast(mask > threshold, mask.dtype)


def mask_statistics(mask: tf.Tensor, threshold: float) -> dict[str, tf.Tensor]:
  """What the logs show of masks [B, H, W, 1]: their mean, and the shares above the
  threshold tau and above 0.5."""
  return {"mask_mean": tf.reduce_mean(mask),
          "mask_above_tau": tf.reduce_mean(hard_mask(mask, threshold)),
          "mask_above_half": tf.reduce_mean(hard_mask(mask, 0.5))}


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


def weighted_mean(values: tf.Tensor, weights: tf.Tensor, min_weight: float = 0.0) -> tf.Tensor:
  """[B]: each image's mean of `values` [B, H, W, C] weighted by `weights` (of a shape that
  broadcasts to theirs, in [0, 1]). The weights count as at least `min_weight` of the
  image's pixels, so that an image with almost none weighs its few pixels little."""
  pixels = tf.cast(tf.reduce_prod(tf.shape(values)[1:]), values.dtype)
  total = tf.maximum(tf.reduce_sum(weights, axis=[1, 2, 3]), min_weight * pixels)
  return tf.reduce_sum(values * weights, axis=[1, 2, 3]) / (total + 1e-6)


def covered_share(mask: tf.Tensor, weights: tf.Tensor, min_weight: float = 0.0) -> tf.Tensor:
  """Mean over the batch of the share of each image's weighted pixels (`weights`
  [B, H, W, 1] in [0, 1], e.g. its background) that its mask covers. Each image's weights
  count as at least `min_weight` of its pixels, so that an image with almost none (an
  image without an object, for weights that mark objects) weighs little."""
  return tf.reduce_mean(weighted_mean(mask, weights, min_weight))


def background_likeness(images: tf.Tensor, sigma: float = 0.1, grid: int = 32,
                        power: float = 2.0) -> tf.Tensor:
  """[B, H, W, 1] in [0, 1]: how much each pixel's colour looks like its image's border,
  the background prior of saliency detection made a colour model of the image itself.

  The colours of a grid x grid lattice of sample pixels are the model. Each pixel's colour
  density among the samples on the border (the lattice's outer two rings, 1/16 of the image
  wide) is divided by its density among all samples (Gaussian kernel, `sigma` in RGB units
  of [0, 1]), and the ratio raised to `power`: colours found on the border score about
  1/(background share) >= 1 and are clipped to 1; colours found only inside (an object's)
  score near 0. An object cut by the frame brings its colours to the border: holding 10%
  of the border and 15% of the image, its ratio is 0.67, and squared 0.44, so the priors
  and the discriminators' hiding (which start at 0.5) no longer take it for background
  (docs/experiments.md, seventeenth session). Samples are pixels, not cell averages, so a
  fine texture's colours stay as they are (averaged, a brick wall's thin pale mortar
  matched no cell and scored 0). It depends on the image alone, so a mask cannot move it;
  no gradient flows through it. Computed at most 64 px wide and resized back.
  """
  h, w = _size(images, 1), _size(images, 2)
  x = tf.stop_gradient((tf.cast(images, tf.float32) + 1.0) / 2.0)
  pixels = _area_resize(x, tf.minimum(h, 64), tf.minimum(w, 64))
  samples = _jittered_samples(pixels, grid)
  batch = tf.shape(x)[0]
  flat_pixels = tf.reshape(pixels, [batch, -1, 3])
  flat_samples = tf.reshape(samples, [batch, grid * grid, 3])
  # Squared colour distances [B, pixels, samples] as |p|^2 + |c|^2 - 2 p.c (one matmul).
  distance = tf.nn.relu(tf.reduce_sum(tf.square(flat_pixels), -1)[:, :, None]
                        + tf.reduce_sum(tf.square(flat_samples), -1)[:, None, :]
                        - 2.0 * tf.matmul(flat_pixels, flat_samples, transpose_b=True))
  kernel = tf.exp(-distance / (2.0 * sigma * sigma))
  width = max(1, grid // 16)
  ring = np.pad(np.zeros([grid - 2 * width] * 2, np.float32), width, constant_values=1.0)
  # Densities on the border and anywhere: the kernel's means over the ring and over all.
  weights = np.stack([ring.ravel() / ring.sum(), np.full(grid * grid, 1.0 / grid**2)], 1)
  on_border, anywhere = tf.unstack(tf.einsum("bps,sk->kbp", kernel, weights.astype(np.float32)))
  likeness = tf.minimum((on_border / (anywhere + 1e-6)) ** power, 1.0)
  likeness = tf.reshape(likeness, [batch, tf.shape(pixels)[1], tf.shape(pixels)[2], 1])
  return tf.image.resize(likeness, [h, w], method="bilinear")


def _jittered_samples(images: tf.Tensor, grid: int) -> tf.Tensor:
  """[B, grid, grid, C]: one pixel of each cell of a grid x grid partition of a 2*grid
  nearest resize of `images`, picked by a fixed pseudo-random pattern. A regular lattice
  aliases with a regular texture (a brick wall's mortar every few pixels: every sample on
  it, or none); the jitter keeps each colour's share of the samples near its share of the
  image."""
  fine = tf.image.resize(images, [2 * grid, 2 * grid], method="nearest")
  blocks = tf.reshape(fine, [-1, grid, 2, grid, 2, images.shape[-1]])
  pick = np.random.default_rng(0).integers(0, 4, [grid, grid])
  one_hot = np.eye(4, dtype=np.float32)[pick].reshape(grid, grid, 2, 2).transpose(0, 2, 1, 3)
  return tf.einsum("bizjwc,izjw->bijc", blocks, tf.constant(one_hot, images.dtype))


def _size(images: tf.Tensor, axis: int):
  """The static size of `axis` where known (XLA needs it), else the dynamic one."""
  return images.shape[axis] if images.shape[axis] is not None else tf.shape(images)[axis]


def _area_resize(images: tf.Tensor, height, width) -> tf.Tensor:
  """Area-averaging resize of [B, H, W, C] to a smaller size, as two matrix products (XLA
  has no ResizeArea kernel)."""
  def weights(size, cells):
    # weights[i, j]: the share of pixel j in cell i, divided by the cell's width.
    size = tf.cast(size, tf.float32)
    edges = tf.range(tf.cast(cells, tf.float32) + 1.0) * size / tf.cast(cells, tf.float32)
    j = tf.range(size)
    overlap = tf.nn.relu(tf.minimum(j[None] + 1.0, edges[1:, None])
                         - tf.maximum(j[None], edges[:-1, None]))
    return overlap / (size / tf.cast(cells, tf.float32))
  return tf.einsum("ih,bhwc,jw->bijc", weights(tf.shape(images)[1], height), images,
                   weights(tf.shape(images)[2], width))


def lsgan_generator_loss(fake_scores: tf.Tensor) -> tf.Tensor:
  """mean((D(fake) - 1)^2): least-squares adversarial loss of the generator (Eq. 3)."""
  return tf.reduce_mean(tf.square(fake_scores - 1.0))


def lsgan_discriminator_loss(real_scores: tf.Tensor, fake_scores: tf.Tensor) -> tf.Tensor:
  """0.5 * [mean((D(real) - 1)^2) + mean(D(fake)^2)] (Eq. 3, LSGAN as in authors' code)."""
  return 0.5 * (tf.reduce_mean(tf.square(real_scores - 1.0)) +
                tf.reduce_mean(tf.square(fake_scores)))


def l1(x: tf.Tensor, y: tf.Tensor, weights: tf.Tensor | float = 1.0) -> tf.Tensor:
  """Mean absolute error, each pixel times `weights` (broadcast): the cycle-consistency
  loss (Eq. 4)."""
  return tf.reduce_mean(tf.abs(x - y) * weights)


def cycle_weights(mask: tf.Tensor, object_weight: float) -> tf.Tensor | float:
  """Per-pixel weights of the cycle loss: `object_weight` where the source mask is 1, 1
  where it is 0 (the mask held constant). Below 1 the object's reconstruction counts less,
  so a translation that cannot be undone exactly (zebra -> horse loses the stripes that
  the way back must restore) no longer pays the mask to stay off the object; the
  background's reconstruction, where a leaking mask shows, keeps its full weight."""
  if object_weight == 1.0:
    return 1.0
  return 1.0 - (1.0 - object_weight) * tf.stop_gradient(mask)
