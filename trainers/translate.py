"""Translates an image file or a folder of images with a trained workdir.

    python -m trainers.translate --workdir=runs/demo --input=img.jpg --output=out --direction=a2b

Writes, per input, the translated image and the mask as PNGs at the input's resolution,
and out/index.html showing input | mask | translated.
"""

import sys

from absl import app
from absl import flags
from absl import logging

from uagit_tf import translate_files
from uagit_tf.domains import DIRECTIONS
from uagit_tf.translator import Translator

flags.DEFINE_string("workdir", None, "A training workdir.", required=True)
flags.DEFINE_string("checkpoint", None, "A checkpoint prefix; default the latest.")
flags.DEFINE_string("input", None, "An image file or a folder (searched recursively).",
                    required=True)
flags.DEFINE_string("output", None, "Output folder.", required=True)
flags.DEFINE_enum("direction", "a2b", sorted(DIRECTIONS), "Which way to translate.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  try:
    translator = Translator.from_workdir(FLAGS.workdir, FLAGS.direction, FLAGS.checkpoint)
    results = translate_files.translate_files(translator, FLAGS.input, FLAGS.output)
  except (ValueError, FileNotFoundError) as e:
    sys.exit(f"translate: error: {e}")
  logging.info("Wrote %d translation(s) and %s/index.html", len(results), FLAGS.output)


def run():
  app.run(main)


if __name__ == "__main__":
  run()
