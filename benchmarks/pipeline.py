"""Is the input pipeline ever the bottleneck? Its images/s alone vs the training step rate.

    python -m benchmarks.pipeline --preset=demo
    python -m benchmarks.pipeline --preset=paper --dataset=/data/horse2zebra --steps=20

Reads `--steps` batches of the training pipeline alone (both domains, decode, resize,
crop, flip), then times the same number of training steps, and prints both rates.
"""

import tempfile
import time

from absl import app
from absl import flags

from uagit_tf import config as config_lib
from uagit_tf import training
from uagit_tf.data import pipeline

flags.DEFINE_string("preset", "demo", "Config preset.")
flags.DEFINE_string("dataset", None, "Override the preset's data set.")
flags.DEFINE_integer("steps", 50, "Batches / steps to time (after warm-up).")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  overrides = {"dataset": FLAGS.dataset} if FLAGS.dataset else {}
  cfg = config_lib.preset(FLAGS.preset, **overrides)
  sources = pipeline.sources(cfg.train, "train")
  spe = pipeline.steps_per_epoch(cfg.train, sources)
  n = min(FLAGS.steps, spe)
  batches = iter(pipeline.train_epoch(sources, cfg.train, 0, spe))
  next(batches)  # Warm-up: tracing the map function.
  start = time.perf_counter()
  for _ in range(n - 1):
    next(batches)
  data_rate = (n - 1) * 2 * cfg.train.batch_size / (time.perf_counter() - start)

  with tempfile.TemporaryDirectory() as workdir:
    trainer = training.Trainer(cfg, workdir, sources)
    data = list(pipeline.train_epoch(sources, cfg.train, 0, spe, 0, n))
    trainer._steps[1](*data[0])  # Warm-up: tracing the step.
    start = time.perf_counter()
    for a, b in data[1:]:
      trainer._steps[1](a, b)["gen_total"].numpy()
    step_rate = (n - 1) * 2 * cfg.train.batch_size / (time.perf_counter() - start)
  print(f"\n{cfg.train.dataset}, {cfg.train.image_size} px, batch {cfg.train.batch_size}:")
  print(f"  input pipeline alone: {data_rate:8.1f} images/s (A and B)")
  print(f"  training (stage 1):   {step_rate:8.1f} images/s")
  print(f"  pipeline headroom:    {data_rate / step_rate:8.1f}x")


if __name__ == "__main__":
  app.run(main)
