"""Writes the built-in synthetic set as image folders (trainA/ ... testB/, masks/).

    python -m trainers.make_dataset --output=data/synthetic --size=64 --train_size=0 --test_size=8

The folders train and evaluate exactly like a user's own data (--dataset=data/synthetic).
"""

from absl import flags
from absl import logging

from trainers import console
from uagit_tf import config as config_lib
from uagit_tf.data import synthetic

flags.DEFINE_string("output", None, "Output folder.", required=True)
flags.DEFINE_integer("size", 64, "Image size in pixels.")
flags.DEFINE_integer("train_size", 100, "Training images per domain.")
flags.DEFINE_integer("test_size", 20, "Test images per domain.")
flags.DEFINE_integer("seed", 0, "Seed (the same seed as --seed of train gives its images).")
flags.DEFINE_float("background_mix", config_lib.DataConfig().synthetic_background_mix,
                   "As --synthetic_background_mix of train.")
flags.DEFINE_enum("variant", config_lib.DataConfig().synthetic_variant,
                  config_lib.SYNTHETIC_VARIANTS, "As --synthetic_variant of train.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  counts = synthetic.write_folders(FLAGS.output, FLAGS.seed, FLAGS.size, FLAGS.train_size,
                                   FLAGS.test_size, FLAGS.background_mix, FLAGS.variant)
  logging.info("Wrote %s under %s", counts, FLAGS.output)


def run():
  console.run(__name__, main)


if __name__ == "__main__":
  run()
