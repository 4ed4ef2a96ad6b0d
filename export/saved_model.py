"""Exports a trained workdir as a SavedModel for TensorFlow Serving.

    python -m export.saved_model --workdir=runs/demo --export_dir=models/uagit

Writes EXPORT_DIR/<version>/ (the next integer unless --version), atomically, with
signatures serving_default (= a2b), a2b, b2a (uint8 images) and a2b_bytes, b2a_bytes
(PNG/JPEG bytes), and config.json inside.
"""

import sys

from absl import flags
from absl import logging

from trainers import console
from uagit_tf import exporting
from uagit_tf.workdir import CheckpointError, restore_networks

flags.DEFINE_string("workdir", None, "A training workdir.", required=True)
flags.DEFINE_string("checkpoint", None, "A checkpoint prefix or step; default the newest that reads.")
flags.DEFINE_string("export_dir", None, "Base folder that TF Serving polls.", required=True)
flags.DEFINE_integer("version", None, "Version number (>= 1); default the next free integer.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  try:
    exporting.check_export_base(FLAGS.export_dir, FLAGS.version)  # Before any work.
    cfg, nets = restore_networks(FLAGS.workdir, FLAGS.checkpoint)
    path = exporting.export_saved_model(nets, cfg, FLAGS.export_dir, FLAGS.version)
  except (ValueError, FileNotFoundError, CheckpointError) as e:
    sys.exit(f"export: error: {e}")
  logging.info("Exported %s with signatures %s", path, ", ".join(exporting.SERVING_SIGNATURES))
  print(path)


def run():
  console.run(__name__, main)


if __name__ == "__main__":
  run()
