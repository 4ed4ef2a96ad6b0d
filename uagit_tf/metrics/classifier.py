"""A small domain classifier that judges the object alone: translation success.

Trained on real objects of both domains with the background blanked by the true mask, so
it cannot use the background's colour; applied to translated images blanked the same way.
"""

import keras
import numpy as np
import tensorflow as tf


def blank_background(images: tf.Tensor, masks: tf.Tensor) -> tf.Tensor:
  """Sets pixels outside the object to 0 (mid grey in [-1, 1])."""
  return images * tf.cast(masks > 0.5, images.dtype)


def build_classifier(width: int = 16) -> keras.Model:
  """conv-ReLU x3 (stride 2), global average pool, one logit: P(domain B)."""
  layers = [keras.layers.Conv2D(w, 3, strides=2, padding="same", activation="relu")
            for w in (width, 2 * width, 4 * width)]
  return keras.Sequential([*layers, keras.layers.GlobalAveragePooling2D(),
                           keras.layers.Dense(1)])


def train_classifier(images_a: np.ndarray, images_b: np.ndarray, steps: int = 300,
                     batch_size: int = 32, seed: int = 0) -> keras.Model:
  """Fits the classifier on blanked images of A (label 0) and B (label 1)."""
  keras.utils.set_random_seed(seed)
  x = np.concatenate([images_a, images_b]).astype(np.float32)
  y = np.concatenate([np.zeros(len(images_a)), np.ones(len(images_b))]).astype(np.float32)
  model = build_classifier()
  model.compile(optimizer=keras.optimizers.Adam(1e-3),
                loss=keras.losses.BinaryCrossentropy(from_logits=True))
  rng = np.random.default_rng(seed)
  for _ in range(steps):
    idx = rng.integers(0, len(x), batch_size)
    flip = rng.random(batch_size) < 0.5
    batch = np.where(flip[:, None, None, None], x[idx, :, ::-1], x[idx])
    model.train_on_batch(batch, y[idx])
  return model


def predict_b(model: keras.Model, images: np.ndarray) -> np.ndarray:
  """P(domain B) per image."""
  return tf.sigmoid(model(images.astype(np.float32), training=False))[:, 0].numpy()


def accuracy(model: keras.Model, images_a: np.ndarray, images_b: np.ndarray) -> float:
  """Share of images assigned to their own domain."""
  hits = np.concatenate([predict_b(model, images_a) < 0.5, predict_b(model, images_b) >= 0.5])
  return float(hits.mean())
