"""TFDS data sets with trainA / trainB / testA / testB splits (cycle_gan/horse2zebra, ...).

    python -m trainers.train --workdir=runs/h2z --dataset=cycle_gan/horse2zebra --tfds_data_dir=~/tensorflow_datasets

Nothing is downloaded during training: the data set must already be prepared in
--tfds_data_dir (default TFDS's own, ~/tensorflow_datasets); a missing one is one clear
error, within seconds, that says how to get it. Each split is decoded once and kept in
memory at the size the pipeline needs (horse2zebra at 286 px: about 600 MB).
"""

import tensorflow as tf

from uagit_tf.data import cache


def _missing(name: str, data_dir: str | None, error: Exception) -> ValueError:
  where = data_dir or "the TFDS default data dir (~/tensorflow_datasets)"
  return ValueError(
      f"TFDS data set {name!r} is not prepared in {where} ({str(error).splitlines()[0]}). "
      "Training never downloads. On a machine with network access run: python -c "
      f"\"import tensorflow_datasets as tfds; tfds.builder('{name}'"
      f"{', data_dir=' + repr(data_dir) if data_dir else ''}).download_and_prepare()\" "
      "and copy the data dir here (pass it as --tfds_data_dir).")


class TfdsDomain:
  """One domain of one split, e.g. trainA of cycle_gan/horse2zebra, cached as uint8."""

  def __init__(self, name: str, split: str, domain: str, cache_size: int,
               data_dir: str | None = None):
    import tensorflow_datasets as tfds  # Imported here: it is slow, and only this needs it.
    split_name = f"{split}{domain.upper()}"
    try:
      ds = tfds.load(name, split=split_name, data_dir=data_dir or None, download=False)
    except (AssertionError, tfds.core.registered.DatasetNotFoundError, FileNotFoundError) as e:
      raise _missing(name, data_dir, e) from None
    except ValueError as e:  # Unknown split.
      raise ValueError(f"TFDS data set {name!r} has no split {split_name!r}: {e}") from None

    images = [cache.to_uint8(tf.cast(x["image"][..., :3], tf.float32) / 255.0, cache_size)
              for x in ds]
    if not images:
      raise ValueError(f"TFDS split {name}:{split_name} is empty")
    self.size = len(images)
    self._cache = cache.ImageCache(images, f"tfds_{split_name}")
    self.name = f"TFDS {name}:{split_name}"
    self.has_masks = False

  def load(self, index: tf.Tensor, size: int) -> tf.Tensor:
    return self._cache.load(index, size)

  def load_mask(self, index: tf.Tensor, size: int) -> tf.Tensor:
    raise ValueError("TFDS cycle_gan data sets have no ground-truth masks")
