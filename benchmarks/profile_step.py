"""Where a training step's time goes, by kind of op, against the arithmetic each needs.

    python -m benchmarks.profile_step                                  # 128 px, both stages
    ONEDNN_MAX_CPU_ISA=AVX2 python -m benchmarks.profile_step --configs=paper

Builds the paper's networks with `--preset=paper`'s method or the default flags', traces a
stage's step, runs `--warmup` steps, then `--steps` under TensorFlow's profiler, and sums
the time of every op the executor ran (over all its threads) by kind: forward
convolutions, their input and weight gradients (a transposed convolution's forward is an
input-gradient kernel), instance norm, reflection padding and its gradient, oneDNN's
layout conversions, Adam, and the rest. Beside each convolution kind: the GFLOP it must do
(2 x multiply-adds, from the traced graph's static shapes) and the rate it got. The op
times overlap when ops run side by side, so their sum can exceed the step's wall time.
"""

import collections
import glob
import os
import re
import tempfile

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from benchmarks.machine import describe
from benchmarks.machine import median_seconds
from benchmarks.machine import training_step

flags.DEFINE_integer("size", 128, "Image size.")
flags.DEFINE_list("configs", ["paper", "default"], "paper: --preset=paper; default: the flags'.")
flags.DEFINE_list("stages", ["1", "2"], "Stage 1 (attention nets train) and/or 2.")
flags.DEFINE_integer("steps", 3, "Profiled steps.")
flags.DEFINE_integer("warmup", 2, "Untimed steps after tracing.")
flags.DEFINE_integer("top", 0, "Also list this many slowest single ops of each step.")
flags.DEFINE_integer("intra_op_threads", 0, "Trainer flag of the same name (0: its default).")
flags.DEFINE_integer("inter_op_threads", 0, "Trainer flag of the same name (0: its default).")
FLAGS = flags.FLAGS

# Kind of op -> a test on (op name, op type). The first match wins; the order matters.
KINDS = [
    ("conv weight gradient", lambda n, t: "BackpropFilter" in t),
    ("conv input gradient / transposed conv", lambda n, t: "BackpropInput" in t),
    ("conv forward", lambda n, t: "Conv2D" in t),
    ("reflection pad (+ gradient)", lambda n, t: "MirrorPad" in t),
    ("layout conversion", lambda n, t: "ToTf" in t or t in ("Transpose", "_MklTranspose")),
    ("instance norm (+ gradient)", lambda n, t: "instance_norm" in n or "group_norm" in n),
    ("Adam", lambda n, t: re.match(r"(adam|Adam)", n) is not None),
    ("matmul", lambda n, t: "MatMul" in t),
]
_CONV_FLOPS = {"conv weight gradient": "Conv2DBackpropFilter",
               "conv input gradient / transposed conv": "Conv2DBackpropInput",
               "conv forward": "Conv2D"}


def conv_flops_by_type(graph: tf.Graph) -> dict[str, int]:
  """2 x multiply-adds of each convolution op type in `graph` and its functions."""
  totals = collections.Counter()
  graphs = [graph, *graph._functions.values()]  # pylint: disable=protected-access
  for g in graphs:
    g = getattr(g, "graph", g)
    for op in g.get_operations():
      if op.type == "Conv2D":
        out, filt = op.outputs[0], op.inputs[1]
        kh, kw, c_in, _ = filt.shape.as_list()
        totals[op.type] += 2 * int(np.prod(out.shape.as_list())) * kh * kw * c_in
      elif op.type in ("Conv2DBackpropInput", "Conv2DBackpropFilter"):
        grad = op.inputs[2]  # The output's gradient: [B, H, W, C_out].
        filt_shape = (op.inputs[1] if op.type == "Conv2DBackpropInput" else
                      op.outputs[0]).shape.as_list()
        kh, kw, c_in, _ = filt_shape
        totals[op.type] += 2 * int(np.prod(grad.shape.as_list())) * kh * kw * c_in
  return totals


def op_times(logdir: str) -> collections.Counter:
  """Op (name, type) -> picoseconds, summed over the executor's threads in the trace."""
  from tensorflow.tsl.profiler.protobuf import xplane_pb2
  path = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True))[-1]
  space = xplane_pb2.XSpace()
  with open(path, "rb") as f:
    space.ParseFromString(f.read())
  times = collections.Counter()
  for plane in space.planes:
    if plane.name != "/host:CPU":
      continue
    for line in plane.lines:
      if not line.name.startswith("tf_Compute"):
        continue
      for event in line.events:
        name = plane.event_metadata[event.metadata_id].name
        if ":" in name and "::" not in name:  # "scope/op:Type", not the executor's own.
          op, kind = name.rsplit(":", 1)
          times[(op, kind)] += event.duration_ps
  return times


def profile(config: str, stage: int) -> dict:
  _, step, a, b = training_step(config, FLAGS.size, stage)
  flops = conv_flops_by_type(step.get_concrete_function(a, b).graph)
  seconds = median_seconds(lambda: step(a, b)["gen_total"].numpy(), FLAGS.steps, FLAGS.warmup)
  logdir = tempfile.mkdtemp()
  tf.profiler.experimental.start(logdir)
  for _ in range(FLAGS.steps):
    step(a, b)["gen_total"].numpy()
  tf.profiler.experimental.stop()
  times = op_times(logdir)
  by_kind = collections.Counter()
  for (name, kind), ps in times.items():
    label = next((k for k, test in KINDS if test(name, kind)), "other")
    by_kind[label] += ps / 1e12 / FLAGS.steps
  slowest = [(f"{name}:{kind}", ps / 1e12 / FLAGS.steps)
             for (name, kind), ps in times.most_common(FLAGS.top)]
  return {"seconds": seconds, "by_kind": by_kind, "flops": flops, "slowest": slowest}


def main(argv):
  del argv
  from uagit_tf import distribute
  threads = distribute.configure_threads(FLAGS.intra_op_threads, FLAGS.inter_op_threads)
  print(f"machine: {describe()}; threads intra/inter-op {threads[0]}/{threads[1]}; "
        f"{FLAGS.size} px, batch 1, float32; op times per step, summed over threads")
  for config in FLAGS.configs:
    for stage in map(int, FLAGS.stages):
      r = profile(config, stage)
      total = sum(r["by_kind"].values())
      print(f"\n{config} flags, stage {stage}: {r['seconds']:.3f} s/step wall, "
            f"{total:.3f} s of ops")
      print(f"  {'kind':40s}{'s/step':>8s}{'share':>7s}{'GFLOP':>8s}{'GFLOP/s':>9s}")
      for kind, secs in sorted(r["by_kind"].items(), key=lambda kv: -kv[1]):
        gflop = r["flops"].get(_CONV_FLOPS.get(kind, ""), 0) / 1e9
        rate = f"{gflop / secs:9.1f}" if gflop and secs else f"{'':9s}"
        gf = f"{gflop:8.1f}" if gflop else f"{'':8s}"
        print(f"  {kind:40s}{secs:8.3f}{100 * secs / total:6.1f}%{gf}{rate}")
      for name, secs in r["slowest"]:
        print(f"  {secs:8.4f} s  {name}")


if __name__ == "__main__":
  app.run(main)
