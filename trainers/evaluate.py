"""Evaluates a trained workdir on test data with ground-truth masks.

    python -m trainers.evaluate --workdir=runs/demo
    python -m trainers.evaluate --workdir=runs/mine --dataset=data/with_masks --output=eval/

Prints the metric table and writes metrics.json, report.html and worst-IoU images.
"""

import os
import sys

from absl import flags

from trainers import console
from uagit_tf import config as config_lib
from uagit_tf import evaluation
from uagit_tf.metrics import inception
from uagit_tf.domains import DIRECTIONS
from uagit_tf.translator import Translator
from uagit_tf.workdir import CheckpointError, restore_networks

flags.DEFINE_string("workdir", None, "A training workdir.", required=True)
flags.DEFINE_string("checkpoint", None, "A checkpoint prefix or step; default the newest that reads.")
flags.DEFINE_string("dataset", None, "Test data; default the workdir's --dataset.")
flags.DEFINE_string("output", None, "Output folder; default WORKDIR/eval.")
flags.DEFINE_integer("num_images", None, "Test images per domain (>= 1); default all.",
                     lower_bound=1)
flags.DEFINE_integer("classifier_steps", 300, "Training steps of the object classifier.")
flags.DEFINE_bool("kid", False, "Also KID x100 (InceptionV3 pool3, cubic kernel) per direction.")
flags.DEFINE_bool("fid", False, "Also FID per direction.")
flags.DEFINE_string("inception_weights", None, "InceptionV3 no-top weights (.h5/.keras); "
                    "default Keras' cache. Never downloaded.")
flags.DEFINE_integer("kid_subsets", 100, "KID subsets.")
flags.DEFINE_integer("kid_subset_size", 1000, "KID subset size (capped at the set sizes).")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  try:
    cfg, nets = restore_networks(FLAGS.workdir, FLAGS.checkpoint)
    if FLAGS.dataset:
      cfg = config_lib.override(cfg, {"dataset": FLAGS.dataset})
    translators = {d: Translator.from_networks(nets, d) for d in DIRECTIONS}
    features = None
    if FLAGS.kid or FLAGS.fid:  # Before the long work: a missing file fails in seconds.
      features = inception.build_extractor(FLAGS.inception_weights)
    results = evaluation.evaluate(translators, cfg,
                                  FLAGS.output or os.path.join(FLAGS.workdir, "eval"),
                                  FLAGS.num_images, FLAGS.classifier_steps,
                                  feature_model=features, kid=FLAGS.kid, fid=FLAGS.fid,
                                  kid_subsets=FLAGS.kid_subsets,
                                  kid_subset_size=FLAGS.kid_subset_size)
  except (ValueError, FileNotFoundError, CheckpointError) as e:
    sys.exit(f"evaluate: error: {e}")
  print(evaluation.table(results))


def run():
  console.run(__name__, main)


if __name__ == "__main__":
  run()
