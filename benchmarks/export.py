"""Latency, FLOP rate and size of the exported translators on this machine.

    python -m benchmarks.export --image_size=256 --repeats=10

Builds the paper's architecture (ngf 32, 9 blocks; weights do not matter for speed),
exports it as a SavedModel and as TFLite (none / float16 / dynamic / int8), and prints per
format: median latency per image after warm-up, the forward pass's FLOPs (counted by the
TF profiler on the frozen graph), achieved GFLOP/s, that rate against this machine's
float32 matmul peak measured in the same run, and the size on disk.
"""

import os
import tempfile

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from benchmarks.machine import matmul_peak_gflops
from benchmarks.machine import median_seconds
from uagit_tf import config as config_lib
from uagit_tf import exporting
from uagit_tf.models import build_networks

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


def main(argv):
  del argv
  from ai_edge_litert.interpreter import Interpreter
  size = FLAGS.image_size
  if FLAGS.workdir:
    from uagit_tf.workdir import restore_networks
    cfg, nets = restore_networks(FLAGS.workdir)
  else:
    cfg = config_lib.Config()
    nets = build_networks(cfg.model, cfg.data.image_size, discriminators=False)
  peak = matmul_peak_gflops()
  gflop = forward_gflop(exporting.ExportModule(nets, cfg), size)
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, [1, size, size, 3], dtype=np.uint8)
  rows = []
  with tempfile.TemporaryDirectory() as tmp:
    path = exporting.export_saved_model(nets, cfg, tmp)
    serve = tf.saved_model.load(path).signatures["a2b"]
    x = tf.constant(image)
    rows.append(("SavedModel float32", median_seconds(
        lambda: serve(images=x)["translated"].numpy(), FLAGS.repeats), dir_size(path)))
    rep = rng.random([8, size, size, 3]).astype(np.float32)
    for q in exporting.QUANTIZATIONS:
      model = exporting.export_tflite(nets, cfg, "a2b", size, q, False,
                                      rep if q == "int8" else None)
      interpreter = Interpreter(model_content=model, num_threads=os.cpu_count())
      runner = interpreter.get_signature_runner()
      rows.append((f"TFLite {q}", median_seconds(lambda: runner(images=image), FLAGS.repeats),
                   len(model)))
  print(f"\nimage {size}x{size}, forward {gflop:.1f} GFLOP (TF profiler, frozen graph), "
        f"float32 matmul peak {peak:.1f} GFLOP/s (2048^3, this run)")
  print(f"{'format':22s}{'ms/image':>10s}{'GFLOP/s':>10s}{'% peak':>8s}{'MiB':>8s}")
  for name, seconds, nbytes in rows:
    rate = gflop / seconds
    print(f"{name:22s}{seconds * 1e3:10.1f}{rate:10.1f}{100 * rate / peak:8.1f}"
          f"{nbytes / 2**20:8.2f}")
  fp32 = dict((r[0], r[1]) for r in rows)
  print(f"TFLite int8 speed-up over TFLite float32: "
        f"{fp32['TFLite none'] / fp32['TFLite int8']:.2f}x")


if __name__ == "__main__":
  app.run(main)
