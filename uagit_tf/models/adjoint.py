"""Convolutions whose forward pass runs as their adjoint's input gradient.

Where oneDNN has no AVX-512 (an AVX2-only CPU, or ONEDNN_MAX_CPU_ISA=AVX2), it runs the
forward pass of an NHWC float32 convolution on im2col and a matrix product
(`x64:gemm:jit`) but its input gradient on brgemm kernels: on a Zen 1 EPYC the
generators' last 7x7 convolution (32 -> 3 channels, 128 px) took 66 ms forward and 15 ms
as an input gradient (docs/experiments.md, thirty-fourth session). A stride-1
convolution is the input gradient of its adjoint (the kernel flipped, its channels
swapped), so the training step can take the fast kernel for the same sums; its input
gradient stays the usual op, and so does its weight gradient unless it has fewer outputs.

    adjoint.use_in_training()      # True where it pays (and grappler's remapper is off)
    with adjoint.forward(True):    # around the traced step's body
      ...

Weights, checkpoints, exports, translation and evaluation are unchanged: `Conv2D` is
keras' with the same weights, and only a graph traced inside `forward` differs.
"""

import contextlib

import keras
import tensorflow as tf

from uagit_tf import cpu

_switch = {"on": False}  # Read by Conv2D when traced; set by `forward`.


@contextlib.contextmanager
def forward(enabled: bool = True):
  """In the block, `Conv2D` layers traced or called compute each stride-1 float32
  convolution with no more output than input channels ("valid", or "same" with an odd
  kernel) by `conv` (the same numbers to float32 rounding). Read when a graph is
  traced: wrap the traced function's body, not its calls. `TrainStep` enables it where
  `use_in_training()`."""
  before = _switch["on"]
  _switch["on"] = enabled
  try:
    yield
  finally:
    _switch["on"] = before


def pays() -> bool:
  """Whether this process runs oneDNN's kernels without AVX-512: there its forward
  convolutions are the slow ones (above). Elsewhere the plain forward is as fast."""
  return bool(cpu.onednn_on()) and not cpu.onednn_has_avx512()


def use_in_training() -> bool:
  """`pays()`, and where it does, grappler's remapper turned off for the process: with
  the adjoints it failed on the stage-2 graph (it logged "remapper failed: ...
  Mutation::Apply error" at the discriminators' conv + bias + LeakyReLU and ran that graph
  unfused), and off it cost stage 1 at most 3.5% on a Zen 1 EPYC (docs/experiments.md,
  thirty-fourth session). Call it before the step is traced."""
  if not pays():
    return False
  tf.config.optimizer.set_experimental_options({"remapping": False})
  return True


def conv(x: tf.Tensor, kernel: tf.Tensor, padding: str) -> tf.Tensor:
  """conv2d(x, kernel), stride 1, padding "valid", or "same" with an odd kernel, computed
  as Conv2DBackpropInput of its adjoint: the "same" convolution by the kernel flipped, in
  and out channels swapped, whose input gradient over x is the "same" convolution and
  holds every output of the "valid" one. Its input gradient is the plain one; its weight
  gradient, where the kernel has fewer output than input channels, is the adjoint's
  weight gradient flipped back (oneDNN's AVX2 weight-gradient kernel took 110 ms for the
  generators' 7x7 32 -> 3 convolution at 128 px, this 16)."""
  kh, kw, c_in, c_out = kernel.shape
  if padding not in ("valid", "same") or (padding == "same" and (kh % 2 == 0 or kw % 2 == 0)):
    raise ValueError(f"adjoint.conv takes padding 'valid', or 'same' with an odd kernel; "
                     f"got {padding!r} with a {kh}x{kw} kernel")
  mode, strides = padding.upper(), [1, 1, 1, 1]
  # Where the "valid" outputs sit in the "same" ones: (before, after) per axis.
  crop = ([(kh // 2, (kh - 1) // 2), (kw // 2, (kw - 1) // 2)] if mode == "VALID"
          else [(0, 0), (0, 0)])

  def adjoint(k: tf.Tensor) -> tf.Tensor:  # Its own inverse.
    return tf.transpose(tf.reverse(k, [0, 1]), [0, 1, 3, 2])

  @tf.custom_gradient
  def convolve(x, kernel):
    sizes = tf.concat([tf.shape(x)[:3], [c_out]], 0)
    y = tf.raw_ops.Conv2DBackpropInput(input_sizes=sizes, filter=adjoint(kernel),
                                       out_backprop=x, strides=strides, padding="SAME")
    if mode == "VALID":
      h, w = tf.shape(y)[1], tf.shape(y)[2]
      y = y[:, crop[0][0]:h - crop[0][1], crop[1][0]:w - crop[1][1], :]

    def grad(dy):
      dx = tf.raw_ops.Conv2DBackpropInput(input_sizes=tf.shape(x), filter=kernel,
                                          out_backprop=dy, strides=strides, padding=mode)
      if c_out < c_in:
        dk = adjoint(tf.raw_ops.Conv2DBackpropFilter(
            input=tf.pad(dy, [[0, 0], crop[0], crop[1], [0, 0]]),
            filter_sizes=[kh, kw, c_out, c_in], out_backprop=x, strides=strides,
            padding="SAME"))
      else:
        dk = tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=tf.shape(kernel),
                                             out_backprop=dy, strides=strides, padding=mode)
      return dx, dk
    return y, grad

  # A tensor, not the variable: the custom gradient is then the kernel's read's.
  return convolve(x, tf.convert_to_tensor(kernel))


@keras.saving.register_keras_serializable(package="uagit_tf")
class Conv2D(keras.layers.Conv2D):
  """keras.layers.Conv2D (the same weights and numbers), whose forward pass takes
  `conv` inside `forward`."""

  def convolution_op(self, inputs, kernel):
    if (_switch["on"] and self.strides == (1, 1) and self.dilation_rate == (1, 1)
        and self.groups == 1 and self.data_format == "channels_last"
        and inputs.dtype == tf.float32 and kernel.shape[3] <= kernel.shape[2]
        # An even kernel's "same" pads unevenly: its adjoint would need a pad op first
        # (the discriminators' 4x4 head, which gained under 0.5 ms).
        and (self.padding == "valid" or all(k % 2 for k in self.kernel_size))):
      return conv(inputs, kernel, self.padding)
    return super().convolution_op(inputs, kernel)
