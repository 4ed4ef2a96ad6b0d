"""Is the input pipeline ever the bottleneck? Its images/s alone vs the training step rate.

    python -m benchmarks.pipeline --preset=demo
    python -m benchmarks.pipeline --preset=paper --dataset=/data/horse2zebra --steps=20

Reads `--steps` batches of the training pipeline alone (both domains, decode, resize,
crop, flip), then times the same number of training steps, and prints both rates.
"""

import time

from absl import app
from absl import flags

from uagit_tf import config as config_lib
from uagit_tf.data import pipeline
from uagit_tf.steps import Stage, TrainStep

flags.DEFINE_string("preset", "demo", "Config preset.")
flags.DEFINE_string("dataset", None, "Override the preset's data set.")
flags.DEFINE_integer("steps", 50, "Batches / steps to time (after warm-up).")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  overrides = {"dataset": FLAGS.dataset} if FLAGS.dataset else {}
  cfg = config_lib.preset(FLAGS.preset, **overrides)
  data_cfg, seed = cfg.data, cfg.run.seed
  sources = pipeline.sources(data_cfg, "train", seed)
  spe = pipeline.steps_per_epoch(cfg, sources)
  n = min(FLAGS.steps, spe)
  batches = iter(pipeline.train_epoch(sources, data_cfg, seed, 0, spe))
  next(batches)  # Warm-up: tracing the map function.
  start = time.perf_counter()
  for _ in range(n - 1):
    next(batches)
  data_rate = (n - 1) * 2 * data_cfg.batch_size / (time.perf_counter() - start)

  step = TrainStep(cfg)
  data = list(pipeline.train_epoch(sources, data_cfg, seed, 0, spe, 0, n))
  step.run(*data[0], Stage.ATTENTION)  # Warm-up: tracing the step.
  start = time.perf_counter()
  for a, b in data[1:]:
    step.run(a, b, Stage.ATTENTION)["gen_total"].numpy()
  step_rate = (n - 1) * 2 * data_cfg.batch_size / (time.perf_counter() - start)
  print(f"\n{data_cfg.dataset}, {data_cfg.image_size} px, batch {data_cfg.batch_size}:")
  print(f"  input pipeline alone: {data_rate:8.1f} images/s (A and B)")
  print(f"  training (stage 1):   {step_rate:8.1f} images/s")
  print(f"  pipeline headroom:    {data_rate / step_rate:8.1f}x")


if __name__ == "__main__":
  app.run(main)
