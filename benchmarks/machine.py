"""What this machine can do, measured in the same run as a benchmark: timing and matmul peak."""

import os
import statistics
import time

import tensorflow as tf

from uagit_tf import cpu


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
  """The CPU, the vector instructions oneDNN may use here, the core count, and whether
  TensorFlow's oneDNN kernels are on: the line to print beside every figure (figures differ
  several-fold between the machines seen)."""
  model, flags = cpu.info()
  isa = ("AVX-512" + (" + bf16" if "avx512_bf16" in flags else "") + (" + AMX" if any(
      f.startswith("amx") for f in flags) else "")) if "avx512f" in flags else (
          "AVX2" if "avx2" in flags else "no AVX2")
  cap = os.environ.get("ONEDNN_MAX_CPU_ISA")
  return (f"{model}, {os.cpu_count()} cores, {isa}, TensorFlow's oneDNN kernels "
          + ("on" if cpu.onednn_on() else "off")
          + (f", oneDNN capped at {cap} (ONEDNN_MAX_CPU_ISA)" if cap else ""))


def training_step(config: str, size: int, stage: int = 1, batch: int = 1, **overrides):
  """(cfg, the traced step's function, a batch of A, a batch of B): the paper's networks
  with `--preset=paper`'s method (`config` "paper"), the default flags' with the border
  prior ("default") or with the saliency prior ("saliency": what `auto` trains where the
  border does not show the background) at `size` px, as the speed benchmarks time them.
  `overrides`: more config fields."""
  from uagit_tf import config as config_lib
  from uagit_tf.data import pipeline
  from uagit_tf.steps import Stage, TrainStep
  base = {"paper": config_lib.preset("paper"), "default": config_lib.Config(),
          "saliency": config_lib.apply_background_prior(config_lib.Config(), "saliency")
          }[config]
  cfg = config_lib.override(base, dict(
      image_size=size, load_size=size, batch_size=batch, synthetic_train_size=2 * batch,
      synthetic_test_size=4, image_summary_every=10**9, **overrides))
  sources = pipeline.sources(cfg.data, "train", cfg.run.seed)
  a, b = next(iter(pipeline.train_epoch(sources, cfg.data, cfg.run.seed, 0, 1)))
  step = TrainStep(cfg).function(Stage.ATTENTION if stage == 1 else Stage.MASKED)
  return cfg, step, a, b
