"""Test helpers: small image folders in the CycleGAN layout, network weights as arrays."""

import os

import numpy as np
from PIL import Image


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
