"""Exports one direction of a trained workdir as a TFLite model (LiteRT), builtin ops only.

    python -m export.tflite --workdir=runs/demo --output=a2b.tflite --image_size=256 --quantize=int8

Input: one RGB image [1, S, S, 3] (uint8 0-255, or float32 0-1 with --float_io). Outputs:
`translated` and `generated` (same type and range as the input) and `mask` (float32 0-1);
an int8 model's outputs are all uint8 with a quantization scale. int8 calibrates on the
workdir's training images of the source domain, or on --calibration_data=FOLDER.

Before writing, the new model runs on those images beside the float model it came from:
where its mask is constant or it differs beyond `exporting.AGREEMENT` (mask IoU at 0.5,
translated grey levels), the command says so and exits non-zero without writing
(--allow_inexact writes it anyway).
"""

import os
import sys

from absl import flags
from absl import logging
import numpy as np

from trainers import console
from uagit_tf import exporting
from uagit_tf.data import folders
from uagit_tf.data import pipeline
from uagit_tf.domains import DIRECTIONS
from uagit_tf.translator import Translator
from uagit_tf.workdir import CheckpointError, restore_networks

flags.DEFINE_string("workdir", None, "A training workdir.", required=True)
flags.DEFINE_string("checkpoint", None, "A checkpoint prefix or step; default the newest that reads.")
flags.DEFINE_string("output", None, "The .tflite file to write.", required=True)
flags.DEFINE_integer("image_size", 256, "Fixed input size (a multiple of 4).")
flags.DEFINE_enum("direction", "a2b", sorted(DIRECTIONS), "Which way to translate.")
flags.DEFINE_enum("quantize", "none", exporting.QUANTIZATIONS, "Post-training quantization.")
flags.DEFINE_bool("float_io", False, "float32 input/output in [0, 1] instead of uint8.")
flags.DEFINE_integer("representative_images", 64, "Images used to calibrate int8.")
flags.DEFINE_string("calibration_data", None, "A folder of source-domain images to calibrate "
                    "int8 on; default the workdir's training images.")
flags.DEFINE_bool("allow_inexact", False, "Write the model even where it does not agree with "
                  "the float model (a constant mask, or beyond the check's tolerance).")
FLAGS = flags.FLAGS


def representative_images(cfg, direction: str, size: int, count: int,
                          folder: str | None = None) -> np.ndarray:
  """Images of the direction's source domain in [0, 1]: from `folder`, or the training data.

  Raises:
    ValueError: no readable images, naming where they were looked for.
  """
  if folder:
    return folders.load_images(folder, size, count)
  try:
    source = pipeline.sources(cfg.data, "train", cfg.run.seed)[DIRECTIONS[direction].source]
  except ValueError as e:
    raise ValueError(f"int8 calibration needs images of the source domain; the workdir's "
                     f"training data cannot be read ({e}). Pass --calibration_data=FOLDER "
                     "with a few of them.") from None
  batches = pipeline.test_batches(source, size, 16, limit=count)
  return np.concatenate([(b.numpy() + 1.0) / 2.0 for b in batches])


def check(model: bytes, nets, images) -> None:
  """Compares the converted model with the float one on `images`; exits where it fails.

  Raises:
    SystemExit: the model fails exporting.AGREEMENT and --allow_inexact is not set.
  """
  if images is None:
    logging.warning("Not checked against the float model: no images of the source domain "
                    "could be read (--calibration_data=FOLDER gives some).")
    return
  agreement = exporting.tflite_agreement(
      model, Translator.from_networks(nets, FLAGS.direction), images)
  logging.info("Against the float model on %d images: mask IoU %.3f, translated off by %.2f "
               "grey levels", len(images), agreement["mask_iou"], agreement["translated_mae"])
  problem = exporting.agreement_problem(agreement)
  if problem and not FLAGS.allow_inexact:
    sys.exit(f"export: error: the {FLAGS.quantize} model was not written: {problem} "
             f"(on {len(images)} images of the source domain; --allow_inexact writes it "
             "anyway)")
  if problem:
    logging.warning("Written although %s (--allow_inexact).", problem)


def main(argv):
  del argv
  try:
    exporting.check_writable_file(FLAGS.output)  # Before the conversion, which takes a while.
    cfg, nets = restore_networks(FLAGS.workdir, FLAGS.checkpoint)
    try:
      images = representative_images(cfg, FLAGS.direction, FLAGS.image_size,
                                      FLAGS.representative_images, FLAGS.calibration_data)
    except ValueError:
      if FLAGS.quantize == "int8":
        raise
      images = None  # A float model converts without images; only the check needs them.
    model = exporting.export_tflite(nets, cfg, FLAGS.direction, FLAGS.image_size,
                                    FLAGS.quantize, FLAGS.float_io, images)
    check(model, nets, images)
    tmp = f"{FLAGS.output}.tmp-{os.getpid()}"
    try:
      with open(tmp, "wb") as f:
        f.write(model)
      os.replace(tmp, FLAGS.output)
    finally:
      if os.path.exists(tmp):
        os.remove(tmp)
  except OSError as e:
    sys.exit(f"export: error: cannot write {FLAGS.output}: {e.strerror}")
  except (ValueError, FileNotFoundError, CheckpointError) as e:
    sys.exit(f"export: error: {e}")
  logging.info("Wrote %s (%.1f KiB, %s)", FLAGS.output, len(model) / 1024, FLAGS.quantize)


def run():
  console.run(__name__, main)


if __name__ == "__main__":
  run()
