"""Latency, FLOP rate, size and faithfulness of the exported translators on this machine.

    python -m benchmarks.export --image_size=256 --repeats=10
    python -m benchmarks.export --workdir=runs/h2z --image_size=256     # trained weights
    python -m benchmarks.export --port_dir=/tmp/uaggan --torch_python=/tmp/torch/bin/python

Exports a SavedModel and TFLite (none / float16 / dynamic / int8) of the paper's networks
with `--preset=paper`'s masks and with the default flags' (or a workdir's trained model),
and prints per format:
median latency per image after warm-up, the forward pass's FLOPs (counted by the TF
profiler on the frozen graph), achieved GFLOP/s, that rate against this machine's float32
matmul peak measured in the same run, the size on disk, and how the format agrees with the
float model (mask IoU at 0.5 and mean |translated| difference in grey levels, on the
workdir's source images, or random ones): a fast model that returns its input is no
result. Without --workdir the weights are the paper architecture's random initial ones
(speed only; their agreement says little). A format that cannot be built here is a row
that says why. Given a checkout of the PyTorch port and a torch environment
(benchmarks/port.py), the port's translation of one image (mask, generator, composite, in
eval mode) is timed first, alone, and each format's time is set against it with issue
#44's bars.
"""

import os
import tempfile

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from benchmarks import port as port_lib
from benchmarks.machine import describe
from benchmarks.machine import matmul_peak_gflops
from benchmarks.machine import median_seconds
from uagit_tf import config as config_lib
from uagit_tf import distribute
from uagit_tf import exporting
from uagit_tf.models import build_networks
from uagit_tf.translator import Translator

flags.DEFINE_integer("image_size", 256, "Input size.")
flags.DEFINE_integer("repeats", 10, "Timed runs per format (after 2 warm-up runs).")
flags.DEFINE_string("workdir", None, "Optional trained workdir; default random weights.")
flags.DEFINE_list("configs", ["paper", "default"], "Without --workdir: paper: --preset=paper's "
                  "networks and masks; default: the default flags' (3x3 decoder, guided filter).")
flags.DEFINE_list("quantize", list(exporting.QUANTIZATIONS), "TFLite kinds to build.")
flags.DEFINE_string("port_dir", None, "A checkout of github.com/yhlleo/uaggan (benchmarks/port.py).")
flags.DEFINE_string("torch_python", None, "The python of an environment with torch.")
flags.DEFINE_integer("torch_threads", 0, "torch.set_num_threads for the port; 0: usable cores.")
FLAGS = flags.FLAGS

# Issue #44's bars: a format's time per image against the port's translation.
BARS = {"SavedModel float32": 0.8, "TFLite int8": 0.3}


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


def _rows(cfg, nets, size: int) -> tuple[float, list[tuple]]:
  """(forward GFLOP, rows (format, seconds or None, bytes, note)) of one model's exports."""
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
  for q in FLAGS.quantize:
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
  return gflop, rows


def main(argv):
  del argv
  size = FLAGS.image_size
  if FLAGS.workdir:
    from uagit_tf.workdir import restore_networks
    cfg, nets = restore_networks(FLAGS.workdir)
    models = {f"trained ({FLAGS.workdir})": (cfg, nets)}
  else:
    models = {}
    for name in FLAGS.configs:
      cfg = config_lib.preset("paper") if name == "paper" else config_lib.Config()
      models[f"{name} flags, random weights"] = (
          cfg, build_networks(cfg.model, cfg.data.image_size, discriminators=False))
  # The port first, alone: its process ends before ours start timing.
  port = port_lib.median_seconds(port_lib.TRANSLATE, FLAGS.port_dir, FLAGS.torch_python, size,
                                 FLAGS.torch_threads or distribute.usable_cores(), 2,
                                 FLAGS.repeats)
  peak = matmul_peak_gflops()
  results = {name: _rows(cfg, nets, size) for name, (cfg, nets) in models.items()}
  print(f"\nmachine: {describe()}")
  print(f"image {size}x{size}, batch 1, float32 matmul peak {peak:.1f} GFLOP/s (2048^3, "
        "this run); forward GFLOP from the TF profiler on the frozen graph")
  if isinstance(port, str):
    print(f"port (yhlleo/uaggan) translation: cannot run: {port}")
  else:
    print(f"port (yhlleo/uaggan, {port[1]}) translation A->B: {port[0] * 1e3:.1f} ms/image")
  for name, (gflop, rows) in results.items():
    print(f"\n{name}: forward {gflop:.1f} GFLOP")
    print(f"{'format':22s}{'ms/image':>10s}{'GFLOP/s':>10s}{'% peak':>8s}{'MiB':>8s}"
          f"{'x port':>8s}  against the float model")
    for fmt, seconds, nbytes, note in rows:
      if seconds is None:
        print(f"{fmt:22s}  {note}")
        continue
      rate = gflop / seconds
      ratio = "" if isinstance(port, str) else f"{seconds / port[0]:.2f}"
      bar = BARS.get(fmt)
      if ratio and bar:
        ratio += " PASS" if seconds / port[0] <= bar else " FAIL"
      print(f"{fmt:22s}{seconds * 1e3:10.1f}{rate:10.1f}{100 * rate / peak:8.1f}"
            f"{nbytes / 2**20:8.2f}{ratio:>12s}  {note or 'itself'}")
    times = {r[0]: r[1] for r in rows}
    if times.get("TFLite none") and times.get("TFLite int8"):
      print(f"TFLite int8 speed-up over TFLite float32: "
            f"{times['TFLite none'] / times['TFLite int8']:.2f}x")
  if not isinstance(port, str):
    print("bars (issue #44): " + ", ".join(f"{f} <= {b}x the port's time"
                                            for f, b in BARS.items()))


if __name__ == "__main__":
  app.run(main)
