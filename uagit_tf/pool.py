"""The history pool of (fake image, mask) pairs that the discriminators learn from.

Shrivastava et al. / CycleGAN: until the pool is full every fake is stored and returned;
then, half the time, a fake is swapped for a random stored one and the old one is
returned. All state (entries, fill count, the draw counter) lives in tf.Variables,
so the pool works inside tf.function and is saved and restored with the checkpoint:
a resumed run sees the same pool and the same random draws.

Draws are stateless (seed, counter) and the variables aggregate ONLY_FIRST_REPLICA, so
under tf.distribute every replica, fed the same gathered global batch, makes the same
draws and the same updates: the pool behaves as one pool over the global batch.
"""

import tensorflow as tf

from uagit_tf.distribute import replicated_state


class ImagePool(tf.Module):
  """A pool of `size` (image, mask) pairs; `size=0` passes fakes straight through."""

  def __init__(self, size: int, image_size: int, seed: int, name: str | None = None):
    super().__init__(name=name)
    self.size = size
    shape = [max(size, 1), image_size, image_size]
    self.images = replicated_state(tf.zeros(shape + [3]), name="images")
    self.masks = replicated_state(tf.zeros(shape + [1]), name="masks")
    self.count = replicated_state(0, tf.int32, name="count")
    self.seed = replicated_state(seed, tf.int64, name="seed")  # Checkpointed with the draws.
    self.draws = replicated_state(0, tf.int64, name="draws")

  def __call__(self, images: tf.Tensor, masks: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Stores the batch and returns a batch of the same shape drawn as described above.

    Args:
      images: [B, H, W, 3] fakes; masks: [B, H, W, 1]. B must be static.
    """
    if self.size == 0:
      return images, masks
    out_images, out_masks = [], []
    for i in range(images.shape[0]):  # Static batch: a few unrolled ops per element.
      image, mask = images[i], masks[i]
      draws = tf.random.stateless_uniform(
          [2], seed=tf.stack([self.seed, self.draws]))
      self.draws.assign_add(1)
      full = self.count >= self.size
      swap = tf.logical_and(full, draws[0] > 0.5)
      slot = tf.where(full, tf.cast(draws[1] * self.size, tf.int32) % self.size, self.count)
      old_image, old_mask = self.images[slot], self.masks[slot]
      store = tf.logical_or(tf.logical_not(full), swap)
      with tf.control_dependencies([old_image, old_mask]):
        new_image = tf.where(store, image, old_image)
        new_mask = tf.where(store, mask, old_mask)
        # scatter_update, not a slice assign: XLA (--jit_compile) compiles it.
        assign_i = self.images.scatter_update(tf.IndexedSlices(new_image[None], slot[None]))
        assign_m = self.masks.scatter_update(tf.IndexedSlices(new_mask[None], slot[None]))
      with tf.control_dependencies([assign_i, assign_m]):
        self.count.assign(tf.minimum(self.count + 1, self.size))
      out_images.append(tf.where(swap, old_image, image))
      out_masks.append(tf.where(swap, old_mask, mask))
    return tf.stack(out_images), tf.stack(out_masks)
