"""Evaluates a trained workdir on test data with ground-truth masks.

    python -m trainers.evaluate --workdir=runs/demo
    python -m trainers.evaluate --workdir=runs/mine --dataset=data/with_masks --output=eval/

Prints the metric table and writes metrics.json, report.html and worst-IoU images.
"""

import os
import sys

from absl import app
from absl import flags

from uagit_tf import config as config_lib
from uagit_tf import evaluation
from uagit_tf.translator import DIRECTIONS, Translator, restore_networks

flags.DEFINE_string("workdir", None, "A training workdir.", required=True)
flags.DEFINE_string("checkpoint", None, "A checkpoint prefix; default the latest.")
flags.DEFINE_string("dataset", None, "Test data; default the workdir's --dataset.")
flags.DEFINE_string("output", None, "Output folder; default WORKDIR/eval.")
flags.DEFINE_integer("num_images", None, "Test images per domain; default all.")
flags.DEFINE_integer("classifier_steps", 300, "Training steps of the object classifier.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  try:
    cfg, nets = restore_networks(FLAGS.workdir, FLAGS.checkpoint)
    if FLAGS.dataset:
      cfg = config_lib.override(cfg, {"dataset": FLAGS.dataset})
    translators = {d: Translator.from_networks(nets, d) for d in DIRECTIONS}
    results = evaluation.evaluate(translators, cfg.train,
                                  FLAGS.output or os.path.join(FLAGS.workdir, "eval"),
                                  FLAGS.num_images, FLAGS.classifier_steps)
  except (ValueError, FileNotFoundError) as e:
    sys.exit(f"evaluate: error: {e}")
  print(evaluation.table(results))


def run():
  app.run(main)


if __name__ == "__main__":
  run()
