"""Float images to 8-bit pixels: the one conversion that exports, files and reports share."""

import tensorflow as tf


def to_uint8(images: tf.Tensor, low: float = -1.0) -> tf.Tensor:
  """Floats in [low, 1] -> uint8 0-255, rounded and clipped (low: -1 images, 0 masks)."""
  scaled = (tf.convert_to_tensor(images, tf.float32) - low) / (1.0 - low) * 255.0
  return tf.cast(tf.round(tf.clip_by_value(scaled, 0.0, 255.0)), tf.uint8)
