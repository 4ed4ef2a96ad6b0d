"""InceptionV3 pool3 features (2048-d) for KID and FID; weights are never downloaded here.

Images in [-1, 1] are resized to 299x299 (bilinear), which in [-1, 1] is already
Inception's preprocessing (x / 127.5 - 1 of 0-255 pixels).
"""

import os

import keras
import numpy as np
import tensorflow as tf

WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"


def keras_cache_path() -> str:
  return os.path.join(os.path.expanduser(os.environ.get("KERAS_HOME", "~/.keras")), "models",
                      WEIGHTS_FILE)


def build_extractor(weights: str | None) -> keras.Model:
  """InceptionV3 without its top, global-average pooled: [N, 299, 299, 3] -> [N, 2048].

  Args:
    weights: a local .h5/.keras weights file; None looks in Keras' cache; 'random' gives
      randomly initialised weights (tests only: the numbers mean nothing).
  Raises:
    FileNotFoundError: no weights file, with how to get one (nothing is downloaded).
  """
  if weights == "random":
    return keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg",
                                          input_shape=(299, 299, 3))
  path = weights or keras_cache_path()
  if not os.path.isfile(path):
    raise FileNotFoundError(
        f"InceptionV3 weights not found at {path}. KID/FID need the ImageNet weights file "
        f"{WEIGHTS_FILE} (what keras.applications.InceptionV3(weights='imagenet', "
        "include_top=False) downloads). Fetch it once on a machine with network access, then "
        f"pass --inception_weights=/path/to/{WEIGHTS_FILE} or put it in {keras_cache_path()}.")
  model = keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg",
                                         input_shape=(299, 299, 3))
  model.load_weights(path)
  return model


def features(model: keras.Model, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
  """Pool3 features of images in [-1, 1], [N, H, W, 3] -> [N, 2048] float64."""
  out = []
  for i in range(0, len(images), batch_size):
    x = tf.image.resize(tf.constant(images[i:i + batch_size], tf.float32), [299, 299],
                        method="bilinear")
    out.append(model(tf.clip_by_value(x, -1.0, 1.0), training=False).numpy())
  return np.concatenate(out).astype(np.float64)
