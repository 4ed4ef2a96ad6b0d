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


def training_step(config: str, size: int, stage: int = 1, batch: int = 1, **overrides):
  """(cfg, the traced step's function, a batch of A, a batch of B): the paper's networks
  with `--preset=paper`'s method (`config` "paper") or the default flags' ("default") at
  `size` px, as the speed benchmarks time them. `overrides`: more config fields."""
  from uagit_tf import config as config_lib
  from uagit_tf.data import pipeline
  from uagit_tf.steps import Stage, TrainStep
  base = config_lib.preset("paper") if config == "paper" else config_lib.Config()
  cfg = config_lib.override(base, dict(
      image_size=size, load_size=size, batch_size=batch, synthetic_train_size=2 * batch,
      synthetic_test_size=4, image_summary_every=10**9, **overrides))
  sources = pipeline.sources(cfg.data, "train", cfg.run.seed)
  a, b = next(iter(pipeline.train_epoch(sources, cfg.data, cfg.run.seed, 0, 1)))
  step = TrainStep(cfg).function(Stage.ATTENTION if stage == 1 else Stage.MASKED)
  return cfg, step, a, b
