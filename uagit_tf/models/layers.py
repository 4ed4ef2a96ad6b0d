"""Building blocks shared by the networks: init, instance norm, reflect padding, res block."""

import contextlib
import threading

import keras
import tensorflow as tf

from uagit_tf.models import adjoint


def conv_init() -> keras.initializers.Initializer:
  """All convolutions: weights N(0, 0.02), bias 0 (authors' code; docs/method.md)."""
  return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def conv(filters: int, kernel: int, strides: int = 1, padding: str = "valid",
         **kwargs) -> keras.layers.Conv2D:
  return adjoint.Conv2D(filters, kernel, strides=strides, padding=padding,
                        kernel_initializer=conv_init(), bias_initializer="zeros", **kwargs)


# Output layers compute in float32 under any mixed-precision policy: images, masks and
# patch scores feed the compositing and the losses (see uagit_tf/precision.py).
OUTPUT_DTYPE = "float32"


def instance_norm(name: str | None = None) -> keras.layers.GroupNormalization:
  """Exact instance norm: one group per channel, per-channel affine (docs/method.md)."""
  return InstanceNorm(groups=-1, epsilon=1e-5, name=name)


@keras.saving.register_keras_serializable(package="uagit_tf")
class InstanceNorm(keras.layers.GroupNormalization):
  """GroupNormalization(groups=-1), the same weights and math, computed more directly.

  Keras reshapes to [B, H, W, C, 1], which LiteRT runs slowly. Here the statistics come
  from the 4-D tensor in float32, the variance as E[x^2] - E[x]^2 (a MUL, not the
  SQUARED_DIFFERENCE of tf.nn.moments, which LiteRT's int8 kernels run much slower), folded
  into one scale and offset applied in the compute dtype. The gradient is written out
  (`_instance_norm`): autodiff through the statistics costs many small ops per norm.
  Measurements: docs/experiments.md.
  """

  def call(self, x):
    gamma, beta = tf.convert_to_tensor(self.gamma), tf.convert_to_tensor(self.beta)
    shared = getattr(_shared_statistics, "state", None)
    if shared is None:
      return _instance_norm(x, gamma, beta, self.epsilon)
    x32 = tf.cast(x, tf.float32)

    def statistics():
      mean = tf.reduce_mean(x32, axis=[1, 2], keepdims=True)
      return mean, tf.maximum(tf.reduce_mean(x32 * x32, axis=[1, 2], keepdims=True)
                              - mean * mean, 0.0)

    mean, variance = whole_image_statistics(statistics)
    scale = tf.math.rsqrt(variance + self.epsilon) * gamma
    return tf.cast(x32 * scale + (beta - mean * scale), x.dtype)


_shared_statistics = threading.local()


def whole_image_statistics(compute):
  """compute(), recorded or replayed inside `shared_norm_statistics` (in call order)."""
  shared = getattr(_shared_statistics, "state", None)
  if shared is None:
    return compute()
  value = compute() if shared["replay"] is None else shared["replay"][len(shared["recorded"])]
  shared["recorded"].append(value)
  return value


@contextlib.contextmanager
def shared_norm_statistics(replay: list | None = None):
  """Records, or replays, the statistics of every InstanceNorm call in the block.

  Without `replay`, each call computes its statistics and appends (mean, variance) to the
  list this yields; with the list of an earlier block, the calls use those instead, in the
  same order. Tiled inference uses it to normalise every tile with the whole image's
  statistics. Eager calls only (a traced function would bake the first values in).
  """
  if tf.inside_function():
    raise RuntimeError("shared_norm_statistics works on eager calls only")
  state = {"replay": replay, "recorded": []}
  _shared_statistics.state = state
  try:
    yield state["recorded"]
  finally:
    _shared_statistics.state = None


def _instance_norm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor,
                   epsilon: float) -> tf.Tensor:
  """gamma * (x - mean) / sqrt(var + epsilon) + beta per image and channel of [B, H, W, C].

  Statistics and gradients are computed in float32 whatever x's dtype; the output and the
  input gradient come back in x's dtype.
  """

  @tf.custom_gradient
  def norm(x, gamma, beta):
    x32 = tf.cast(x, tf.float32)
    mean = tf.reduce_mean(x32, axis=[1, 2], keepdims=True)
    mean_square = tf.reduce_mean(x32 * x32, axis=[1, 2], keepdims=True)
    variance = tf.maximum(mean_square - mean * mean, 0.0)  # Rounding can dip below 0.
    inv_std = tf.math.rsqrt(variance + epsilon)
    scale = inv_std * gamma
    offset = beta - mean * scale

    def grad(dy):
      # With xhat = (x - mean) * inv_std and y = gamma * xhat + beta:
      #   dx = scale * (dy - mean(dy) - xhat * mean(dy * xhat)),
      # rearranged as dy * scale + x * b + c with per-(image, channel) b and c.
      dy32 = tf.cast(dy, tf.float32)
      count = tf.cast(tf.shape(x)[1] * tf.shape(x)[2], tf.float32)
      sum_dy = tf.reduce_sum(dy32, axis=[1, 2], keepdims=True)
      sum_dy_xhat = inv_std * (tf.reduce_sum(dy32 * x32, axis=[1, 2], keepdims=True)
                               - mean * sum_dy)
      k = sum_dy_xhat * inv_std / count
      dx = dy32 * scale + x32 * (-scale * k) + scale * (k * mean - sum_dy / count)
      return (tf.cast(dx, x.dtype), tf.reduce_sum(sum_dy_xhat, axis=[0, 1, 2]),
              tf.reduce_sum(sum_dy, axis=[0, 1, 2]))

    return x * tf.cast(scale, x.dtype) + tf.cast(offset, x.dtype), grad

  return norm(x, gamma, beta)


@keras.saving.register_keras_serializable(package="uagit_tf")
class ReflectionPad2D(keras.layers.Layer):
  """Pads height and width by `pad` pixels on each side, mirroring without the edge.

  The same values as tf.pad(mode="REFLECT"), built from one-row slices and a concat per
  axis: LiteRT's MIRROR_PAD kernel dominated the int8 generator's time, while slices and
  concats are plain copies there. The gradient is TensorFlow's fused MirrorPadGrad:
  autodiff through the slices would make one full-size tensor per slice and sum them.
  Measurements: docs/experiments.md. Each padded side must be longer than `pad`.
  """

  def __init__(self, pad: int, **kwargs):
    super().__init__(**kwargs)
    self.pad = pad

  def call(self, x):
    for axis in (1, 2):
      if x.shape[axis] is not None and x.shape[axis] <= self.pad:
        raise ValueError(f"reflection padding by {self.pad} needs sides longer than "
                         f"{self.pad}, got shape {tuple(x.shape)}")
    p = self.pad
    paddings = tf.constant([[0, 0], [p, p], [p, p], [0, 0]])

    @tf.custom_gradient
    def pad(x):
      def grad(dy):
        return tf.raw_ops.MirrorPadGrad(input=dy, paddings=paddings, mode="REFLECT")
      return self._reflect(self._reflect(x, 1), 2), grad

    return pad(x)

  def _reflect(self, x, axis: int):
    def rows(start, stop):
      index = [slice(None)] * 4
      index[axis] = slice(start, stop)
      return x[tuple(index)]
    before = [rows(i, i + 1) for i in range(self.pad, 0, -1)]  # x[p], ..., x[1]
    after = [rows(-1 - i, -i) for i in range(1, self.pad + 1)]  # x[n-2], ..., x[n-1-p]
    return tf.concat(before + [x] + after, axis)

  def compute_output_shape(self, shape):
    grow = lambda d: None if d is None else d + 2 * self.pad
    return (shape[0], grow(shape[1]), grow(shape[2]), shape[3])

  def get_config(self):
    return {**super().get_config(), "pad": self.pad}


@keras.saving.register_keras_serializable(package="uagit_tf")
class ResidualBlock(keras.layers.Layer):
  """x + IN(conv3x3(ReLU(IN(conv3x3(x))))), reflect-padded, then a ReLU after the add as
  the authors' code has it (`relu_after_add=False`: CycleGAN's block)."""

  def __init__(self, filters: int, relu_after_add: bool = True, **kwargs):
    super().__init__(**kwargs)
    self.filters = filters
    self.relu_after_add = relu_after_add
    self.pad1 = ReflectionPad2D(1)
    self.conv1 = conv(filters, 3)
    self.norm1 = instance_norm()
    self.pad2 = ReflectionPad2D(1)
    self.conv2 = conv(filters, 3)
    self.norm2 = instance_norm()

  def call(self, x):
    y = tf.nn.relu(self.norm1(self.conv1(self.pad1(x))))
    y = self.norm2(self.conv2(self.pad2(y)))
    return tf.nn.relu(x + y) if self.relu_after_add else x + y

  def get_config(self):
    return {**super().get_config(), "filters": self.filters,
            "relu_after_add": self.relu_after_add}


def conv_norm_relu(filters: int, kernel: int, strides: int = 1, padding: str = "same",
                   transpose: bool = False) -> list[keras.layers.Layer]:
  """conv (or transposed conv) -> instance norm -> ReLU, as a list of layers."""
  if transpose:
    layer = keras.layers.Conv2DTranspose(filters, kernel, strides=strides, padding=padding,
                                         kernel_initializer=conv_init(),
                                         bias_initializer="zeros")
  else:
    layer = conv(filters, kernel, strides, padding)
  return [layer, instance_norm(), keras.layers.ReLU()]
