"""Fuzzes every signature of an export: N random requests, 0 crashes, 0 wrong shapes.

    python -m benchmarks.fuzz_serving --export=models/uagit/1 --requests=10000

Requests: uint8 images of odd shapes (empty batches, zero, one and 2048 px sides), other
dtypes and channel counts, and encoded images (valid PNG/JPEG/GIF/BMP, truncated and
corrupt ones, random bytes, empty strings). Each must return outputs of the right shape
and dtype, or fail that request with a clean InvalidArgument; anything else, or a model that
stops serving, is a crash. Prints the counts and the bar (10,000 requests, 0 crashes, 0
wrong shapes). The tests (tests/test_serving_fuzz.py) check responses with the same
functions.
"""

import collections
import io
import time

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

FLAGS = flags.FLAGS

CLEAN_ERRORS = (tf.errors.InvalidArgumentError,)


class WrongOutput(AssertionError):
  """A response of the wrong shape, dtype or range."""


def check_images_response(images: np.ndarray, out: dict) -> None:
  """Raises WrongOutput unless `out` is a valid response to uint8 `images` [B, H, W, 3]."""
  b, h, w = images.shape[:3]
  want = {"translated": ((b, h, w, 3), tf.uint8), "generated": ((b, h, w, 3), tf.uint8),
          "mask": ((b, h, w, 1), tf.float32)}
  for name, (shape, dtype) in want.items():
    if tuple(out[name].shape) != shape or out[name].dtype != dtype:
      raise WrongOutput(f"{name}: {out[name].shape} {out[name].dtype}, want {shape} {dtype}")
  mask = out["mask"].numpy()
  if not np.all((mask >= 0) & (mask <= 1)):
    raise WrongOutput("mask outside [0, 1]")


def check_bytes_response(batch: list[bytes], out: dict) -> None:
  """Raises WrongOutput unless `out` holds a PNG per input of the input's size."""
  if tuple(out["translated_bytes"].shape) != (len(batch),):
    raise WrongOutput(f"translated_bytes: {out['translated_bytes'].shape} for {len(batch)}")
  for data, translated, mask in zip(batch, out["translated_bytes"], out["mask_bytes"]):
    h, w = tf.io.decode_image(data, channels=3, expand_animations=False).shape[:2]
    if (tf.io.decode_png(translated).shape != (h, w, 3)
        or tf.io.decode_png(mask).shape != (h, w, 1)):
      raise WrongOutput(f"PNGs of the wrong size for a {w}x{h} input")


def should_succeed(images: np.ndarray) -> bool:
  """Whether an image request is valid: uint8, 3 channels, both sides >= 1."""
  return (images.dtype == np.uint8 and images.ndim == 4 and images.shape[3] == 3
          and images.shape[1] > 0 and images.shape[2] > 0)


def random_images(rng: np.random.Generator) -> np.ndarray:
  side = lambda: int(rng.choice([0, 1, 2, 3, 5, 8, 13, 31, 64, 255, 2048])
                     if rng.random() < 0.3 else rng.integers(1, 48))
  batch = int(rng.choice([0, 1, 1, 1, 2, 3]))
  h, w = side(), side()
  if batch * h * w > 2048 * 2048:
    batch = 1
  channels = int(rng.choice([3, 3, 3, 3, 1, 2, 4]))
  dtype = rng.choice([np.uint8] * 6 + [np.uint16, np.int32, np.float32])
  return rng.integers(0, 256, [batch, h, w, channels]).astype(dtype)


def random_bytes(rng: np.random.Generator) -> tuple[list[bytes], bool]:
  """A batch of encoded images, some random bytes, truncated or with a byte flipped.

  Returns:
    The batch, and whether every item is an intact PNG, JPEG, GIF or BMP (a request the
    model must serve; another may be served or refused).
  """
  def one() -> tuple[bytes, bool]:
    h, w = int(rng.integers(1, 40)), int(rng.integers(1, 40))
    pixels = rng.integers(0, 256, [h, w, 3], dtype=np.uint8)
    kind = rng.integers(0, 7)
    if kind == 0:
      return rng.bytes(int(rng.integers(0, 64))), False
    if kind == 1:
      return b"", False
    gray, rgba = pixels[..., :1], np.concatenate([pixels, pixels[..., :1]], axis=-1)
    encoders = {2: lambda: tf.io.encode_png(gray).numpy(),
                3: lambda: tf.io.encode_jpeg(pixels).numpy(), 4: lambda: _gif(pixels),
                5: lambda: _bmp(pixels), 6: lambda: tf.io.encode_png(rgba).numpy()}
    data = encoders[int(kind)]()
    if rng.random() < 0.3:  # Truncated, or a byte flipped.
      data = data[:int(rng.integers(0, len(data)))] if rng.random() < 0.5 else (
          data[:len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1:])
      return data, False
    return data, True
  items = [one() for _ in range(int(rng.choice([0, 1, 1, 2, 3])))]
  return [data for data, _ in items], all(intact for _, intact in items)


def _gif(pixels: np.ndarray) -> bytes:
  from PIL import Image  # The test extra; GIF and BMP are what PIL writes.
  buf = io.BytesIO()
  Image.fromarray(pixels).save(buf, format="GIF")
  return buf.getvalue()


def _bmp(pixels: np.ndarray) -> bytes:
  from PIL import Image
  buf = io.BytesIO()
  Image.fromarray(pixels).save(buf, format="BMP")
  return buf.getvalue()


def fuzz(signatures, requests: int, seed: int) -> collections.Counter:
  """Sends `requests` random requests; counts ok, clean errors, wrong outputs and crashes."""
  rng = np.random.default_rng(seed)
  counts = collections.Counter()
  names = sorted(signatures)
  for i in range(requests):
    name = names[i % len(names)]
    if name.endswith("_bytes"):
      request, intact = random_bytes(rng)
      call = lambda: signatures[name](image_bytes=tf.constant(request, dtype=tf.string))
      check = lambda out: check_bytes_response(request, out)
      # Intact images must be served; whether damaged bytes decode is the model's to decide.
      valid = True if intact else None
    else:
      request = random_images(rng)
      call = lambda: signatures[name](images=tf.constant(request))
      check = lambda out: check_images_response(request, out)
      valid = should_succeed(request)
    try:
      out = call()
    except CLEAN_ERRORS:
      counts["wrong_outputs" if valid else "clean_errors"] += 1
      continue
    except Exception as e:  # pylint: disable=broad-except
      counts["crashes"] += 1
      print(f"crash on {name}: {type(e).__name__}: {str(e)[:200]}")
      continue
    try:
      if valid is False:
        raise WrongOutput("an invalid request was served")
      check(out)
      counts["ok"] += 1
    except WrongOutput as e:
      counts["wrong_outputs"] += 1
      print(f"wrong output on {name}: {e}")
  return counts


def main(argv):
  del argv
  signatures = tf.saved_model.load(FLAGS.export).signatures
  start = time.time()
  counts = fuzz(signatures, FLAGS.requests, FLAGS.seed)
  alive = signatures["a2b"](images=tf.zeros([1, 8, 8, 3], tf.uint8))["mask"].shape == (1, 8, 8, 1)
  total = sum(counts.values())
  print(f"{total} requests in {time.time() - start:.0f} s over {len(signatures)} signatures: "
        f"{counts['ok']} served, {counts['clean_errors']} clean errors, "
        f"{counts['wrong_outputs']} wrong outputs, {counts['crashes']} crashes; "
        f"still serving: {alive}")
  ok = total >= 10000 and counts["crashes"] == 0 and counts["wrong_outputs"] == 0 and alive
  print(f"bar (>= 10,000 requests, 0 crashes, 0 wrong shapes): {'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
  # Defined here, not at import: the tests import this module's checks.
  flags.DEFINE_string("export", None, "A SavedModel version folder (EXPORT_DIR/<version>).",
                      required=True)
  flags.DEFINE_integer("requests", 10000, "Requests in all, spread over the signatures.")
  flags.DEFINE_integer("seed", 0, "Seed of the requests.")
  app.run(main)
