"""Exports one direction of a trained workdir as a TFLite model (LiteRT), builtin ops only.

    python -m export.tflite --workdir=runs/demo --output=a2b.tflite --image_size=256 --quantize=int8

Input: one RGB image [1, S, S, 3] (uint8 0-255, or float32 0-1 with --float_io). Outputs:
`translated` (same type and range) and `mask` (uint8 0-255, or float32 0-1).
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging
import numpy as np

from uagit_tf import exporting
from uagit_tf.data import pipeline
from uagit_tf.domains import DIRECTIONS
from uagit_tf.workdir import restore_networks

flags.DEFINE_string("workdir", None, "A training workdir.", required=True)
flags.DEFINE_string("checkpoint", None, "A checkpoint prefix; default the latest.")
flags.DEFINE_string("output", None, "The .tflite file to write.", required=True)
flags.DEFINE_integer("image_size", 256, "Fixed input size (a multiple of 4).")
flags.DEFINE_enum("direction", "a2b", sorted(DIRECTIONS), "Which way to translate.")
flags.DEFINE_enum("quantize", "none", exporting.QUANTIZATIONS, "Post-training quantization.")
flags.DEFINE_bool("float_io", False, "float32 input/output in [0, 1] instead of uint8.")
flags.DEFINE_integer("representative_images", 64, "Training images used to calibrate int8.")
FLAGS = flags.FLAGS


def representative_images(cfg, direction: str, size: int, count: int) -> np.ndarray:
  """Training images of the direction's source domain, in [0, 1]."""
  source = pipeline.sources(cfg.data, "train", cfg.run.seed)[DIRECTIONS[direction].source]
  batches = pipeline.test_batches(source, size, 16, limit=count)
  return np.concatenate([(b.numpy() + 1.0) / 2.0 for b in batches])


def main(argv):
  del argv
  try:
    cfg, nets = restore_networks(FLAGS.workdir, FLAGS.checkpoint)
    rep = None
    if FLAGS.quantize == "int8":
      rep = representative_images(cfg, FLAGS.direction, FLAGS.image_size,
                                  FLAGS.representative_images)
    model = exporting.export_tflite(nets, cfg, FLAGS.direction, FLAGS.image_size,
                                    FLAGS.quantize, FLAGS.float_io, rep)
  except (ValueError, FileNotFoundError) as e:
    sys.exit(f"export: error: {e}")
  os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True)
  tmp = FLAGS.output + ".tmp"
  with open(tmp, "wb") as f:
    f.write(model)
  os.replace(tmp, FLAGS.output)
  logging.info("Wrote %s (%.1f KiB, %s)", FLAGS.output, len(model) / 1024, FLAGS.quantize)


def run():
  app.run(main)


if __name__ == "__main__":
  run()
