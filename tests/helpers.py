"""Test helpers: the commands in subprocesses, small image folders in the CycleGAN
layout, network weights as arrays."""

import os
import subprocess
import sys

import numpy as np
from PIL import Image
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"}


def run(module, *args, check=True):
  """Runs `python -m module args` from the repository root; fails with its stderr."""
  proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=ENV,
                        capture_output=True, text=True, timeout=600)
  if check and proc.returncode:
    raise AssertionError(f"{module} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
  return proc


def start(module, *args, **kwargs) -> subprocess.Popen:
  """Starts `python -m module args` in the background (output discarded by default)."""
  kwargs = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": ENV, **kwargs}
  return subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, **kwargs)


def latest_step(workdir):
  """The step of the workdir's latest checkpoint, or -1 without one."""
  path = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
  return -1 if path is None else int(path.rsplit("-", 1)[1])


def write_image(path, size=(40, 48), mode="RGB", seed=0, bits=8):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  rng = np.random.default_rng(seed)
  h, w = size
  if bits == 16:
    Image.fromarray(rng.integers(0, 65535, (h, w), dtype=np.uint16)).save(path)
    return
  channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
  data = rng.integers(0, 255, (h, w, channels), dtype=np.uint8)
  Image.fromarray(data[..., 0] if channels == 1 else data, mode).save(path)


def make_folder_dataset(root, n=3, splits=("train", "test"), size=(40, 48)):
  """root/{train,test}{A,B}/img_i.png, n per domain."""
  for split in splits:
    for i, d in enumerate("AB"):
      for k in range(n):
        write_image(os.path.join(root, f"{split}{d}", f"img_{k}.png"), size, seed=10 * i + k)
  return str(root)


def weights(nets):
  """network/index -> value (layer names carry global counters, so keys use positions)."""
  return {f"{name}/{i}": w.numpy() for name, net in nets.by_name().items()
          for i, w in enumerate(net.weights)}
