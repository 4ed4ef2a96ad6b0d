"""Decoded images kept in memory as uint8 at the pipeline's size, for folders and TFDS."""

import numpy as np
import tensorflow as tf

from uagit_tf import pixels

# Folders larger than this (decoded, at the cache size) are decoded from disk every epoch.
DEFAULT_BUDGET_BYTES = 2 * 2**30


def to_uint8(image01: tf.Tensor, size: int) -> np.ndarray:
  """[H, W, 3] in [0, 1] -> [size, size, 3] uint8 (antialiased bilinear)."""
  image = tf.image.resize(image01, [size, size], method="bilinear", antialias=True)
  return pixels.to_uint8(image, 0.0).numpy()


class ImageCache:
  """[N, S, S, 3] uint8 images in a tf.Variable (a constant would be copied into every
  tf.data graph that reads it)."""

  def __init__(self, images: list[np.ndarray], name: str):
    self.size = len(images)
    self.images = tf.Variable(np.stack(images), trainable=False, name=name)

  def load(self, index: tf.Tensor, size: int) -> tf.Tensor:
    """Image `index` as [size, size, 3] in [-1, 1]."""
    image = tf.cast(tf.gather(self.images, index), tf.float32) / 255.0
    if image.shape[0] != size:
      image = tf.image.resize(image, [size, size], method="bilinear", antialias=True)
    return tf.clip_by_value(image, 0.0, 1.0) * 2.0 - 1.0
