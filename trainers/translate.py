"""Translates an image file or a folder of images with a trained workdir.

    python -m trainers.translate --workdir=runs/demo --input=img.jpg --output=out --direction=a2b

Writes, per input, the translated image and the mask as PNGs at the input's resolution,
and out/index.html showing input | mask | translated. The outputs are checked before any
work: nothing of the user's is written over (uagit_tf/translate_files.py).
"""

import sys

from absl import flags
from absl import logging

from trainers import console
from uagit_tf import translate_files
from uagit_tf import translator as translator_lib
from uagit_tf import workdir as workdir_lib
from uagit_tf.domains import DIRECTIONS

flags.DEFINE_string("workdir", None, "A training workdir.", required=True)
flags.DEFINE_string("checkpoint", None, "A checkpoint prefix or step; default the newest that reads.")
flags.DEFINE_string("input", None, "An image file or a folder (searched recursively).",
                    required=True)
flags.DEFINE_string("output", None, "Output folder.", required=True)
flags.DEFINE_enum("direction", "a2b", sorted(DIRECTIONS), "Which way to translate.")
flags.DEFINE_integer("tile", translator_lib.DEFAULT_TILE,
                     "Images above tile^2 pixels are translated in tiles of this side.",
                     lower_bound=64)
FLAGS = flags.FLAGS


def main(argv):
  del argv
  try:
    outputs = translate_files.plan(FLAGS.input, FLAGS.output)  # Before any work.
    translator = translator_lib.Translator.from_workdir(FLAGS.workdir, FLAGS.direction,
                                                        FLAGS.checkpoint)
    results = translate_files.translate_files(translator, outputs, FLAGS.output, FLAGS.tile)
  except (ValueError, FileNotFoundError, workdir_lib.CheckpointError) as e:
    sys.exit(f"translate: error: {e}")
  logging.info("Wrote %d translation(s) and %s/index.html", len(results), FLAGS.output)


def run():
  console.run(__name__, main)


if __name__ == "__main__":
  run()
