"""What this machine can do, measured in the same run as a benchmark: timing and matmul peak."""

import os
import platform
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


def describe() -> str:
  """The CPU, the vector instructions oneDNN may use here, and the core count: the line to
  print beside every figure (figures differ several-fold between the machines seen)."""
  model, flags = platform.processor() or platform.machine(), set()
  try:
    with open("/proc/cpuinfo") as f:
      info = f.read()
    first = info.split("\n\n")[0]  # The first processor's block.
    fields = {k.strip(): v for k, v in (l.split(":", 1) for l in first.splitlines() if ":" in l)}
    model = " ".join(f"{fields[k].strip()}" for k in ("model name",) if k in fields) or model
    family = f"family {fields['cpu family'].strip()} model {fields['model'].strip()}" if (
        "cpu family" in fields and "model" in fields) else ""
    flags = set(fields.get("flags", "").split())
    model = f"{model} ({family})" if family else model
  except OSError:
    pass
  isa = ("AVX-512" + (" + bf16" if "avx512_bf16" in flags else "") + (" + AMX" if any(
      f.startswith("amx") for f in flags) else "")) if "avx512f" in flags else (
          "AVX2" if "avx2" in flags else "no AVX2")
  cap = os.environ.get("ONEDNN_MAX_CPU_ISA")
  return (f"{model}, {os.cpu_count()} cores, {isa}"
          + (f", oneDNN capped at {cap} (ONEDNN_MAX_CPU_ISA)" if cap else ""))
