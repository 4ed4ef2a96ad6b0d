"""Our training step beside the PyTorch port's (yhlleo/uaggan), one after the other.

    git clone https://github.com/yhlleo/uaggan /tmp/uaggan          # never vendored here
    python3 -m venv /tmp/torch && /tmp/torch/bin/pip install torch  # the CPU wheel will do
    python -m benchmarks.port_step --port_dir=/tmp/uaggan --torch_python=/tmp/torch/bin/python

Each side runs in its own process with nothing else running: the port (benchmarks/port.py,
torch with one thread per usable core) times `optimize_parameters()`; ours times the
stage-1 step of `python -m benchmarks.train_step` with `--preset=paper` and with the default
flags, at the trainer's default threads unless told. Median seconds per step after
warm-up; the machine beside the figures; the bar of issue #44 (paper <= 0.9x the port's
time, default flags <= 1.1x) at the end. A side that cannot run prints why.
"""

import json
import os
import subprocess
import sys

from absl import app
from absl import flags

from benchmarks import port as port_lib
from benchmarks.machine import describe

flags.DEFINE_string("port_dir", None, "A checkout of github.com/yhlleo/uaggan.")
flags.DEFINE_string("torch_python", None, "The python of an environment with torch.")
flags.DEFINE_integer("size", 128, "Image size.")
flags.DEFINE_integer("repeats", 5, "Timed steps (after --warmup untimed ones).")
flags.DEFINE_integer("warmup", 2, "Untimed steps.")
flags.DEFINE_integer("torch_threads", 0, "torch.set_num_threads for the port; 0: usable cores.")
flags.DEFINE_integer("intra_op_threads", 0, "Ours: the trainer flag (0: its default).")
flags.DEFINE_integer("inter_op_threads", 0, "Ours: the trainer flag (0: its default).")
FLAGS = flags.FLAGS


def _cores() -> int:
  from uagit_tf import distribute
  return distribute.usable_cores()


def run_ours(config: str) -> dict | str:
  """train_step's RESULT dict for `config` (paper or default), or why it could not run."""
  proc = subprocess.run(
      [sys.executable, "-m", "benchmarks.train_step", f"--child={FLAGS.size},1,float32,{config}",
       f"--repeats={FLAGS.repeats}", f"--warmup={FLAGS.warmup}",
       f"--intra_op_threads={FLAGS.intra_op_threads}",
       f"--inter_op_threads={FLAGS.inter_op_threads}"],
      capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
  lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
  if proc.returncode or not lines:
    return (proc.stderr.strip().splitlines() or ["no message"])[-1][:200]
  return json.loads(lines[-1][len("RESULT "):])


def main(argv):
  del argv
  port = port_lib.median_seconds(port_lib.STEP, FLAGS.port_dir, FLAGS.torch_python,
                                 FLAGS.size, FLAGS.torch_threads or _cores(), FLAGS.warmup,
                                 FLAGS.repeats)
  ours = {config: run_ours(config) for config in ("paper", "default")}
  print(f"machine: {describe()}")
  print(f"{FLAGS.size} px, batch 1, float32, median of {FLAGS.repeats} steps after "
        f"{FLAGS.warmup}")
  if isinstance(port, str):
    print(f"port (yhlleo/uaggan): cannot run: {port}")
  else:
    print(f"port (yhlleo/uaggan, {port[1]}): {port[0]:.3f} s/step")
  for config, bar in (("paper", 0.9), ("default", 1.1)):
    r = ours[config]
    if isinstance(r, str):
      print(f"ours, {config}: cannot run: {r}")
      continue
    line = f"ours, {config} (threads {r['threads']}): {r['seconds']:.3f} s/step"
    if not isinstance(port, str):
      ratio = r["seconds"] / port[0]
      line += (f" = {ratio:.2f}x the port's (bar <= {bar}x): "
               f"{'PASS' if ratio <= bar else 'FAIL'}")
    print(line)


if __name__ == "__main__":
  app.run(main)
