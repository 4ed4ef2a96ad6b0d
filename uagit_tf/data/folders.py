"""Image folders in the CycleGAN layout: root/trainA, trainB, testA, testB.

Files are found recursively (upper-case extensions too) and checked once at start by
decoding them: unreadable or truncated files are skipped with a warning that counts them
and names the first few, so a bad file never crashes training mid-epoch. Grayscale and
RGBA images become RGB, 16-bit PNGs are scaled to the same [0, 1] range as 8-bit ones,
GIFs give their first frame. EXIF orientation is NOT applied (images are used as stored).
Optional ground-truth masks for evaluation live in root/masks/testA (same file names).
"""

import os
import re

from absl import logging
import numpy as np
import tensorflow as tf

from uagit_tf.data import cache

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


def list_images(directory: str) -> list[str]:
  """All image files below `directory`, sorted, by extension (case-insensitive)."""
  found = []
  for root, dirs, files in os.walk(directory):
    dirs.sort()
    found.extend(os.path.join(root, f) for f in sorted(files)
                 if f.lower().endswith(IMAGE_EXTENSIONS))
  return found


def decode(contents: tf.Tensor) -> tf.Tensor:
  """Encoded bytes -> float32 [H, W, 3] in [0, 1]; works in graphs (tf.data, exports).

  PNGs are decoded at 16 bits (8-bit ones are scaled up exactly), everything else at 8:
  decode_image cannot give WebP as anything but uint8.
  """
  is_png = tf.equal(tf.strings.substr(contents, 0, 8), b"\x89PNG\r\n\x1a\n")
  image = tf.cond(
      is_png,
      lambda: tf.image.convert_image_dtype(
          tf.io.decode_png(contents, channels=3, dtype=tf.uint16), tf.float32),
      lambda: tf.image.convert_image_dtype(
          tf.io.decode_image(contents, channels=3, expand_animations=False), tf.float32))
  image.set_shape([None, None, 3])
  return image


def read_image(path: str) -> tf.Tensor:
  """Reads one image file eagerly: float32 [H, W, 3] in [0, 1].

  Raises:
    ValueError: the file is missing, empty, or not a decodable image; the message names it.
  """
  if not os.path.isfile(path):
    raise ValueError(f"Image file not found: {path}")
  try:
    image = decode(tf.io.read_file(path))
  except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as e:
    raise ValueError(f"Cannot decode image {path}: {_reason(e)}") from None
  if image.shape[0] == 0 or image.shape[1] == 0:
    raise ValueError(f"Image {path} is empty ({image.shape[0]}x{image.shape[1]})")
  return image


def _reason(error: tf.errors.OpError) -> str:
  """TF's error text without its op-location decorations."""
  text = re.sub(r"\{\{.*?\}\}|\[Op:\w+\].*", "", error.message.splitlines()[0])
  return text.strip() or type(error).__name__


def readable_images(directory: str, keep_size: int | None = None,
                    keep_budget: int = cache.DEFAULT_BUDGET_BYTES
                    ) -> tuple[list[str], list[np.ndarray]]:
  """The decodable images below `directory`; logs the ones skipped.

  Args:
    keep_size: also return each image decoded, as uint8 at this size (for the cache), if
      they all fit in `keep_budget` bytes.
  Returns:
    (paths, images, shorter sides); images is empty without keep_size.
  Raises:
    ValueError: `directory` is missing, or holds no readable image.
  """
  if not os.path.isdir(directory):
    raise ValueError(f"Image folder not found: {directory}")
  paths = list_images(directory)
  if keep_size and len(paths) * keep_size**2 * 3 > keep_budget:
    keep_size = None
  good, bad, kept, sides = [], [], [], []
  for path in paths:
    try:
      image = read_image(path)
    except ValueError:
      bad.append(path)
      continue
    good.append(path)
    sides.append(min(int(image.shape[0]), int(image.shape[1])))
    if keep_size:
      kept.append(cache.to_uint8(image, keep_size))
  if bad:
    logging.warning("Skipped %d unreadable image(s) in %s, e.g. %s", len(bad), directory,
                    ", ".join(os.path.basename(p) for p in bad[:5]))
  if not good:
    raise ValueError(
        f"No readable image in {directory} (found {len(paths)} file(s) with extensions "
        f"{', '.join(IMAGE_EXTENSIONS)}; {len(bad)} could not be decoded).")
  return good, kept, sides


def load_images(directory: str, size: int, count: int) -> np.ndarray:
  """Up to `count` readable images below `directory`, resized to [N, size, size, 3] in [0, 1].

  Raises:
    ValueError: the folder is missing or holds no readable image.
  """
  paths, _, _ = readable_images(directory)
  images = [tf.image.resize(read_image(p), [size, size], antialias=True) for p in paths[:count]]
  return np.clip(np.stack([i.numpy() for i in images]), 0.0, 1.0)


def resize(image: tf.Tensor, size: int) -> tf.Tensor:
  """[H, W, 3] in [0, 1] -> [size, size, 3] in [-1, 1] (antialiased bilinear)."""
  image = tf.image.resize(image, [size, size], method="bilinear", antialias=True)
  return tf.clip_by_value(image, 0.0, 1.0) * 2.0 - 1.0


class FolderDomain:
  """One domain of one split: root/{split}{A|B}, optionally with root/masks/{split}{A|B}."""

  def __init__(self, root: str, split: str, domain: str, cache_size: int | None = None,
               cache_budget: int = cache.DEFAULT_BUDGET_BYTES):
    """cache_size: keep the decoded images in memory at this size, if they fit the budget
    (they are decoded at start anyway, to find unreadable files)."""
    self.directory = os.path.join(root, f"{split}{domain.upper()}")
    self.paths, kept, sides = readable_images(self.directory, cache_size, cache_budget)
    self.size = len(self.paths)
    # Images upscaled more than 4x to the load size carry little detail (1x1 ones none).
    self.tiny = [p for p, side in zip(self.paths, sides) if cache_size and side * 4 < cache_size]
    self._cache = cache.ImageCache(kept, f"cache_{split}{domain}") if kept else None
    mask_dir = os.path.join(root, "masks", f"{split}{domain.upper()}")
    self.mask_paths = None
    if os.path.isdir(mask_dir):
      rel = [os.path.relpath(p, self.directory) for p in self.paths]
      masks = [os.path.join(mask_dir, r) for r in rel]
      missing = [m for m in masks if not os.path.isfile(m)]
      if missing:
        raise ValueError(f"{len(missing)} image(s) of {self.directory} have no mask in "
                         f"{mask_dir}, e.g. {missing[0]}")
      self.mask_paths = masks
    self.name = self.directory
    self.has_masks = self.mask_paths is not None
    self._paths = tf.constant(self.paths)

  def load(self, index: tf.Tensor, size: int) -> tf.Tensor:
    """Image `index` as [size, size, 3] in [-1, 1]."""
    if self._cache is not None:
      return self._cache.load(index, size)
    return resize(decode(tf.io.read_file(tf.gather(self._paths, index))), size)

  def load_mask(self, index: tf.Tensor, size: int) -> tf.Tensor:
    """Ground-truth mask `index` as [size, size, 1] in {0, 1} (> 0.5 of its grey level)."""
    if self.mask_paths is None:
      raise ValueError(f"No ground-truth masks for {self.directory}")
    mask = decode(tf.io.read_file(tf.gather(tf.constant(self.mask_paths), index)))
    mask = tf.image.resize(mask[..., :1], [size, size], method="nearest")
    return tf.cast(mask > 0.5, tf.float32)
