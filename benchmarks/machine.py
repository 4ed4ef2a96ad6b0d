"""What this machine can do, measured in the same run as a benchmark: timing and matmul peak."""

import statistics
import time

import tensorflow as tf


def median_seconds(fn, repeats: int, warmup: int = 2) -> float:
  """Median wall time of `fn()` over `repeats` calls after `warmup` untimed ones."""
  for _ in range(warmup):
    fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def matmul_peak_gflops(dtype: tf.DType = tf.float32, n: int = 2048, repeats: int = 10) -> float:
  """Square matmul rate of this machine in `dtype`, through TensorFlow (oneDNN), GFLOP/s."""
  a = tf.cast(tf.random.normal([n, n]), dtype)
  b = tf.cast(tf.random.normal([n, n]), dtype)
  mm = tf.function(lambda: tf.matmul(a, b))
  seconds = median_seconds(lambda: mm().numpy(), repeats)
  return 2 * n**3 / seconds / 1e9
