"""Latency, FLOP rate, size and faithfulness of the exported translators on this machine.

    python -m benchmarks.export --image_size=256 --repeats=10
    python -m benchmarks.export --workdir=runs/h2z --image_size=256     # trained weights

Exports a SavedModel and TFLite (none / float16 / dynamic / int8) and prints per format:
median latency per image after warm-up, the forward pass's FLOPs (counted by the TF
profiler on the frozen graph), achieved GFLOP/s, that rate against this machine's float32
matmul peak measured in the same run, the size on disk, and how the format agrees with the
float model (mask IoU at 0.5 and mean |translated| difference in grey levels, on the
workdir's source images, or random ones): a fast model that returns its input is no
result. Without --workdir the weights are the paper architecture's random initial ones
(speed only; their agreement says little). A format that cannot be built here is a row
that says why.
"""

import os
import tempfile

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from benchmarks.machine import describe
from benchmarks.machine import matmul_peak_gflops
from benchmarks.machine import median_seconds
from uagit_tf import config as config_lib
from uagit_tf import exporting
from uagit_tf.models import build_networks
from uagit_tf.translator import Translator

flags.DEFINE_integer("image_size", 256, "Input size.")
flags.DEFINE_integer("repeats", 10, "Timed runs per format (after 2 warm-up runs).")
flags.DEFINE_string("workdir", None, "Optional trained workdir; default random weights.")
FLAGS = flags.FLAGS


def forward_gflop(module: exporting.ExportModule, size: int) -> float:
  from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
  fn = module.signature("a2b", "fixed_float32", size).get_concrete_function()
  opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
  opts["output"] = "none"
  graph = convert_variables_to_constants_v2(fn).graph
  return tf.compat.v1.profiler.profile(graph=graph, options=opts).total_float_ops / 1e9


def dir_size(path: str) -> int:
  return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)


def _images(cfg, size: int, count: int) -> np.ndarray:
  """Source-domain images of a2b in [0, 1]: the workdir's, else random pixels."""
  if FLAGS.workdir:
    from export.tflite import representative_images
    try:
      return representative_images(cfg, "a2b", size, count)
    except ValueError as e:
      print(f"(the workdir's images cannot be read, {e}; random images instead)")
  return np.random.default_rng(0).random([count, size, size, 3]).astype(np.float32)


def main(argv):
  del argv
  size = FLAGS.image_size
  if FLAGS.workdir:
    from uagit_tf.workdir import restore_networks
    cfg, nets = restore_networks(FLAGS.workdir)
  else:
    cfg = config_lib.Config()
    nets = build_networks(cfg.model, cfg.data.image_size, discriminators=False)
  peak = matmul_peak_gflops()
  gflop = forward_gflop(exporting.ExportModule(nets, cfg), size)
  images = _images(cfg, size, 16)
  calibration, held_out = images[:8], images[8:]
  image = np.round(held_out[:1] * 255).astype(np.uint8)
  translator = Translator.from_networks(nets, "a2b")
  rows = []
  with tempfile.TemporaryDirectory() as tmp:
    path = exporting.export_saved_model(nets, cfg, tmp)
    serve = tf.saved_model.load(path).signatures["a2b"]
    x = tf.constant(image)
    rows.append(("SavedModel float32", median_seconds(
        lambda: serve(images=x)["translated"].numpy(), FLAGS.repeats), dir_size(path), None))
    for q in exporting.QUANTIZATIONS:
      try:
        model = exporting.export_tflite(nets, cfg, "a2b", size, q, False,
                                        calibration if q == "int8" else None)
      except Exception as e:  # A row that says why, not a traceback (issue 44).
        rows.append((f"TFLite {q}", None, None, f"not built: {str(e).splitlines()[0][:120]}"))
        continue
      runner = Interpreter(model_content=model, num_threads=os.cpu_count()
                           ).get_signature_runner()
      agreement = exporting.tflite_agreement(model, translator, held_out)
      problem = exporting.agreement_problem(agreement)
      rows.append((f"TFLite {q}", median_seconds(lambda: runner(images=image), FLAGS.repeats),
                   len(model), f"IoU {agreement['mask_iou']:.3f}, translated "
                   f"{agreement['translated_mae']:.2f}" + (" FAILS THE CHECK" if problem
                                                           else "")))
  print(f"\nmachine: {describe()}")
  print(f"image {size}x{size}, forward {gflop:.1f} GFLOP (TF profiler, frozen graph), "
        f"float32 matmul peak {peak:.1f} GFLOP/s (2048^3, this run), weights: "
        f"{FLAGS.workdir or 'random (paper architecture)'}")
  print(f"{'format':22s}{'ms/image':>10s}{'GFLOP/s':>10s}{'% peak':>8s}{'MiB':>8s}  "
        "against the float model")
  for name, seconds, nbytes, note in rows:
    if seconds is None:
      print(f"{name:22s}  {note}")
      continue
    rate = gflop / seconds
    print(f"{name:22s}{seconds * 1e3:10.1f}{rate:10.1f}{100 * rate / peak:8.1f}"
          f"{nbytes / 2**20:8.2f}  {note or 'itself'}")
  times = {r[0]: r[1] for r in rows}
  if times.get("TFLite none") and times.get("TFLite int8"):
    print(f"TFLite int8 speed-up over TFLite float32: "
          f"{times['TFLite none'] / times['TFLite int8']:.2f}x")


if __name__ == "__main__":
  app.run(main)
