"""Training-step speed and memory of the paper's architecture against this machine's limit.

    python -m benchmarks.train_step                          # 128 and 256 px, batch 1 and 4
    python -m benchmarks.train_step --sizes=128 --batches=1 --precisions=float32,bfloat16
    python -m benchmarks.train_step --intra_op_threads=1    # the trainer's thread flags

For each (size, batch, precision, config) a fresh process builds the paper's networks
(ngf 32, 9 blocks, ndf 64, attention) with `--preset=paper`'s method or the default flags'
(their stage-1 views and priors cost more), traces the stage-1 step (the heavier one:
attention nets train too) and times it: median seconds per step after warm-up, image pairs (one A, one B)
per second, the step's FLOPs, the achieved GFLOP/s, and the process's peak RSS. FLOPs are
counted from the traced graph: every Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter and
MatMul, 2 x multiply-adds from their static shapes (norms, activations and Adam are left
out: they are a fraction of a percent). This machine's float32 and bfloat16 matmul peaks
are measured in the same run, and the bars of issue #7 are checked at the end.
"""

import itertools
import json
import os
import resource
import subprocess
import sys

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from benchmarks.machine import describe
from benchmarks.machine import matmul_peak_gflops
from benchmarks.machine import median_seconds
from benchmarks.machine import training_step

flags.DEFINE_list("sizes", ["128", "256"], "Image sizes.")
flags.DEFINE_list("batches", ["1", "4"], "Global batch sizes.")
flags.DEFINE_list("precisions", ["float32", "bfloat16"], "float32, bfloat16, float16.")
flags.DEFINE_list("configs", ["paper", "default", "saliency"],
                  "paper: --preset=paper's method; default: the default flags' (the border "
                  "prior); saliency: --background_prior=saliency's (all at the paper's "
                  "networks).")
flags.DEFINE_integer("repeats", 5, "Timed steps (after --warmup untimed ones).")
flags.DEFINE_integer("warmup", 2, "Untimed steps after tracing.")
flags.DEFINE_bool("jit_compile", False, "XLA-compile the step.")
flags.DEFINE_integer("intra_op_threads", 0, "Trainer flag of the same name (0: its default).")
flags.DEFINE_integer("inter_op_threads", 0, "Trainer flag of the same name (0: its default).")
flags.DEFINE_string("child", None, "Internal: run one configuration 'size,batch,precision'.")
flags.DEFINE_string("peak", None, "Internal: measure this dtype's matmul peak and print it.")
FLAGS = flags.FLAGS
# Passed on to each configuration's process.
_CHILD_FLAGS = ("repeats", "warmup", "jit_compile", "intra_op_threads", "inter_op_threads")

_CONV_OPS = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter")


def graph_flops(graph: tf.Graph) -> int:
  """2 x multiply-adds of the convolutions and matmuls in `graph` and its functions."""
  total = 0
  graphs = [graph] + [f.graph for f in getattr(graph, "_functions", {}).values()
                      if hasattr(f, "graph")]
  for g in graphs:
    for op in g.get_operations():
      if op.type in _CONV_OPS:
        # Every form costs 2 * |out_backprop or output| * kh * kw * c_in.
        grad = op.inputs[2] if op.type != "Conv2D" else op.outputs[0]
        filt = op.outputs[0] if op.type == "Conv2DBackpropFilter" else op.inputs[1]
        kh, kw, c_in, _ = filt.shape.as_list()
        total += 2 * int(np.prod(grad.shape.as_list())) * kh * kw * c_in
      elif op.type == "MatMul":
        a, b = (t.shape.as_list() for t in op.inputs)
        m, k = a[::-1] if op.get_attr("transpose_a") else a
        n = b[0] if op.get_attr("transpose_b") else b[1]
        total += 2 * m * k * n
  return total


def run_child(spec: str) -> dict:
  from uagit_tf import distribute
  size, batch, precision, config = spec.split(",")
  size, batch = int(size), int(batch)
  # The pools first: building the step runs TensorFlow ops, which fix them.
  threads = distribute.configure_threads(FLAGS.intra_op_threads, FLAGS.inter_op_threads)
  _, step, a, b = training_step(
      config, size, batch=batch, mixed_precision={"float32": "none"}.get(precision, precision),
      jit_compile=FLAGS.jit_compile)
  flops = graph_flops(step.get_concrete_function(a, b).graph)
  seconds = median_seconds(lambda: step(a, b)["gen_total"].numpy(), FLAGS.repeats,
                           FLAGS.warmup)
  return {"size": size, "batch": batch, "precision": precision, "config": config,
          "seconds": seconds, "threads": "%d/%d" % threads,
          "gflop": flops / 1e9,
          "rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def _peak(dtype: str) -> float:
  """This machine's matmul peak in `dtype`, GFLOP/s, or NaN where it cannot run (said)."""
  proc = subprocess.run([sys.executable, "-m", "benchmarks.train_step", f"--peak={dtype}"],
                        capture_output=True, text=True,
                        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
  lines = [l for l in proc.stdout.splitlines() if l.startswith("PEAK ")]
  if proc.returncode or not lines:
    why = (f"the process was killed by signal {-proc.returncode} (an oneDNN abort: this "
           "CPU, or ONEDNN_MAX_CPU_ISA, lacks the instructions)" if proc.returncode < 0 else
           (proc.stderr.strip().splitlines() or ["no message"])[-1][:160])
    print(f"{dtype} matmul peak: cannot be measured here; {why}")
    return float("nan")
  return float(lines[-1].split()[1])


def main(argv):
  del argv
  if FLAGS.child:
    print("RESULT " + json.dumps(run_child(FLAGS.child)))
    return
  if FLAGS.peak:
    print(f"PEAK {matmul_peak_gflops(tf.as_dtype(FLAGS.peak))}")
    return
  # Each in its own process: oneDNN aborts the process (no exception) where a dtype cannot
  # run, e.g. bfloat16 under ONEDNN_MAX_CPU_ISA=AVX2 on a CPU with bf16 instructions.
  peaks = {dtype: _peak(dtype) for dtype in ("float32", "bfloat16")}
  rows = []
  for size in map(int, FLAGS.sizes):
    for batch in map(int, FLAGS.batches):
      for precision, config in itertools.product(FLAGS.precisions, FLAGS.configs):
        spec = f"{size},{batch},{precision},{config}"
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.train_step", f"--child={spec}",
             *(f"--{name}={FLAGS[name].value}" for name in _CHILD_FLAGS)],
            capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
        if proc.returncode or not lines:
          why = (f"killed by signal {-proc.returncode}" if proc.returncode < 0 else
                 (proc.stderr.strip().splitlines() or ["no message"])[-1][:200])
          print(f"{spec}: cannot run here: {why}")
          continue
        rows.append(json.loads(lines[-1][len("RESULT "):]))
        r = rows[-1]
        print(f"done {spec} (threads {r['threads']}): {r['seconds']:.3f} s/step", flush=True)

  print(f"\nmachine: {describe()}")
  print(f"matmul peak (2048^3, this run): float32 {peaks['float32']:.1f} GFLOP/s, "
        f"bfloat16 {peaks['bfloat16']:.1f} GFLOP/s ({peaks['bfloat16'] / peaks['float32']:.2f}x)"
        f"; jit_compile={FLAGS.jit_compile}; threads intra/inter-op as the trainer sets "
        "them for the flags given; FLOPs counted from the traced graph")
  print(f"{'size':>5s}{'batch':>6s}{'precision':>10s}{'config':>9s}{'threads':>8s}{'s/step':>9s}{'pairs/s':>9s}"
        f"{'GFLOP':>8s}{'GFLOP/s':>9s}{'%f32pk':>8s}{'%ownpk':>8s}{'RSS GiB':>9s}")
  for r in rows:
    rate = r["gflop"] / r["seconds"]
    own = peaks.get(r["precision"], peaks["float32"])
    print(f"{r['size']:5d}{r['batch']:6d}{r['precision']:>10s}{r['config']:>9s}{r['threads']:>8s}{r['seconds']:9.3f}"
          f"{r['batch'] / r['seconds']:9.2f}{r['gflop']:8.1f}{rate:9.1f}"
          f"{100 * rate / peaks['float32']:8.1f}{100 * rate / own:8.1f}{r['rss_gib']:9.2f}")
  by = {(r["size"], r["batch"], r["precision"]): r for r in rows if r["config"] == "paper"}
  f32, bf16, big = by.get((128, 1, "float32")), by.get((128, 1, "bfloat16")), by.get(
      (256, 1, "float32"))
  if f32:
    ratio = f32["gflop"] / f32["seconds"] / peaks["float32"]
    print(f"bar: float32 128 px batch 1 at {100 * ratio:.1f}% of the float32 peak "
          f"(>= 70%): {'PASS' if ratio >= 0.7 else 'FAIL'}")
  if f32 and bf16:
    ratio = bf16["seconds"] / f32["seconds"]
    print(f"bar: bfloat16 / float32 step time at 128 px batch 1 = {ratio:.2f} (<= 0.6): "
          f"{'PASS' if ratio <= 0.6 else 'FAIL'}")
  if big:
    print(f"bar: peak RSS at 256 px batch 1 float32 = {big['rss_gib']:.2f} GiB (<= 4): "
          f"{'PASS' if big['rss_gib'] <= 4 else 'FAIL'}")


if __name__ == "__main__":
  app.run(main)
