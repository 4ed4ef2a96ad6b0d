"""Input pipelines: domain sources, unaligned training batches, test batches.

Training order is a pure function of (seed, epoch, step): each epoch draws A and B
indices independently (CycleGAN's unaligned sampling) from permutations seeded by
(seed, epoch), and each sample's random crop and flip are seeded by its position. A
resumed run rebuilds the pipeline from its step, so it sees exactly the batches an
uninterrupted run would.
"""

import hashlib
import os

import numpy as np
import tensorflow as tf

from uagit_tf import config as config_lib
from uagit_tf.data import folders
from uagit_tf.data import synthetic
from uagit_tf.domains import DOMAINS


class SyntheticDomain:
  """One domain of one split of the built-in set (see data/synthetic.py)."""

  def __init__(self, seed: int, split: str, domain: str, size: int, background_mix: float,
               variant: str = "standard"):
    self.seed, self.split, self.domain, self.size = seed, split, domain, size
    self.background_mix = background_mix
    self._make = synthetic.variant(variant)
    self.name = f"the built-in {variant} set ({split}{domain.upper()})"
    self.has_masks = True

  def _example(self, index: tf.Tensor, size: int) -> tuple[tf.Tensor, tf.Tensor]:
    return self._make(self.seed, self.split, self.domain, index, size, self.background_mix)

  def load(self, index: tf.Tensor, size: int) -> tf.Tensor:
    return self._example(index, size)[0]

  def load_mask(self, index: tf.Tensor, size: int) -> tf.Tensor:
    return self._example(index, size)[1]


def sources(cfg: config_lib.DataConfig, split: str, seed: int) -> dict:
  """Domain name -> source for `split` ('train' or 'test') of `cfg.dataset`.

  `seed` selects the built-in set's images (the same as training's --seed).

  Raises:
    ValueError: the data set is unknown, a domain folder is missing or has no image.
  """
  if cfg.dataset == "synthetic":
    n = cfg.synthetic_train_size if split == "train" else cfg.synthetic_test_size
    return {d: SyntheticDomain(seed, split, d, n, cfg.synthetic_background_mix,
                               cfg.synthetic_variant) for d in DOMAINS}
  cache_size = cfg.load_size if split == "train" else cfg.image_size  # load >= image size.
  if os.path.isdir(cfg.dataset):  # An existing folder always wins over a TFDS name.
    return {d: folders.FolderDomain(cfg.dataset, split, d, cache_size) for d in DOMAINS}
  if "/" in cfg.dataset and not cfg.dataset.startswith((".", "/", "~")):
    from uagit_tf.data import tfds as tfds_lib
    return {d: tfds_lib.TfdsDomain(cfg.dataset, split, d, cache_size, cfg.tfds_data_dir or None)
            for d in DOMAINS}
  raise ValueError(f"--dataset={cfg.dataset!r} is neither 'synthetic', an existing folder "
                   "with trainA/ trainB/ testA/ testB/ inside, nor a TFDS name such as "
                   "cycle_gan/horse2zebra.")


def first_images(source, count: int, size: int) -> tf.Tensor:
  """[n, size, size, 3] float32 in [-1, 1]: the first n = min(count, source.size) images of
  a source, as loaded (no crop, no flip)."""
  return tf.stack([tf.cast(source.load(tf.constant(i, tf.int64), size), tf.float32)
                   for i in range(min(count, source.size))])


def sanity_warnings(train_sources: dict, cfg: config_lib.DataConfig) -> list[str]:
  """Warnings about data that trains badly: the same files in A and B, a batch larger than
  a domain, images far smaller than the training size."""
  warnings = []
  for d, source in train_sources.items():
    if cfg.batch_size > source.size:
      warnings.append(f"--batch_size={cfg.batch_size} is larger than domain {d.upper()}'s "
                      f"{source.size} training image(s): every batch repeats images.")
    tiny = getattr(source, "tiny", [])
    if tiny:
      warnings.append(f"{len(tiny)} image(s) of domain {d.upper()} are less than a quarter of "
                      f"--load_size={cfg.load_size} on their shorter side (e.g. {tiny[0]}): "
                      "upscaled, they carry little detail.")
  a, b = train_sources["a"], train_sources["b"]
  paths_a, paths_b = getattr(a, "paths", None), getattr(b, "paths", None)
  if paths_a is None or paths_b is None or len(paths_a) != len(paths_b):
    return warnings

  def fingerprint(paths):
    return sorted(hashlib.sha1(open(p, "rb").read()).hexdigest() for p in paths)

  if fingerprint(paths_a) == fingerprint(paths_b):
    warnings.append(f"{a.directory} and {b.directory} hold the same files: the translation "
                    "will learn nothing (are the domains duplicated or mislabelled?)")
  return warnings


def steps_per_epoch(cfg: config_lib.Config, train_sources: dict) -> int:
  """--steps_per_epoch, or max(|A|, |B|) / batch_size when it is 0 (paper)."""
  if cfg.schedule.steps_per_epoch:
    return cfg.schedule.steps_per_epoch
  return max(1, max(s.size for s in train_sources.values()) // cfg.data.batch_size)


def _epoch_indices(seed: int, epoch: int, stream: int, n: int, count: int) -> np.ndarray:
  """`count` indices in [0, n): consecutive permutations seeded by (seed, epoch, stream)."""
  rng = np.random.default_rng([seed, epoch, stream])
  reps = -(-count // n)
  return np.concatenate([rng.permutation(n) for _ in range(reps)])[:count]


def _augment(image: tf.Tensor, seed: tf.Tensor, image_size: int) -> tf.Tensor:
  """Random crop to image_size and random horizontal flip, both seeded (stateless)."""
  seeds = tf.random.experimental.stateless_split(seed, 2)
  image = tf.image.stateless_random_crop(image, [image_size, image_size, 3], seeds[0])
  return tf.image.stateless_random_flip_left_right(image, seeds[1])


def train_batches(train_sources: dict, cfg: config_lib.DataConfig, seed: int,
                  steps_per_epoch: int, start_step: int, stop_step: int) -> tf.data.Dataset:
  """Batches (a, b) of the run's steps [start_step, stop_step), across epochs, each
  [B, S, S, 3]: one pipeline for a whole run.

  The batches depend only on (seed, epoch, step), never on where a run starts or
  stops, so a resumed run sees exactly what an uninterrupted one would. Built once, the
  pipeline traces its loader once and starts its iterator once; built per epoch, it cost
  0.6-1 CPU-second an epoch (a trace and an iterator's start), 1.1 of the CPU-minutes of
  a 100-epoch run of the paper's nets at 64 px (docs/experiments.md, twentieth session).
  Each epoch's indices are drawn as its first batch is needed.

  Args:
    train_sources: domain -> source, from `sources(cfg, 'train')`.
    cfg: batch_size, load_size and image_size are used.
    seed: the run's seed.
    steps_per_epoch: each epoch's length: an epoch's indices are its permutations.
    start_step: the first step to yield (a resumed run's current step).
    stop_step: one past the last step to yield.
  """
  batch, count = cfg.batch_size, steps_per_epoch * cfg.batch_size
  sizes = [train_sources[d].size for d in DOMAINS]

  def samples():  # Per epoch: the A and B indices and the sample ids of its steps.
    for epoch in range(start_step // steps_per_epoch, -(-stop_step // steps_per_epoch)):
      first = max(start_step * batch - epoch * count, 0)
      last = min(stop_step * batch - epoch * count, count)
      yield tuple([_epoch_indices(seed, epoch, stream, n, count)[first:last].astype(np.int64)
                   for stream, n in enumerate(sizes)]
                  + [np.arange(first, last, dtype=np.int64) + epoch * count])

  column = tf.TensorSpec([None], tf.int64)
  ds = tf.data.Dataset.from_generator(samples, output_signature=(column,) * 3).unbatch()

  def load(ia, ib, sid):
    out = []
    for stream, (d, i) in enumerate(zip(DOMAINS, (ia, ib))):
      image = train_sources[d].load(i, cfg.load_size)
      sample_seed = tf.stack([tf.constant(seed * 2 + stream, tf.int64), sid])
      out.append(_augment(image, sample_seed, cfg.image_size))
    return tuple(out)

  ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return ds.batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def train_epoch(train_sources: dict, cfg: config_lib.DataConfig, seed: int, epoch: int,
                steps_per_epoch: int, start_step: int = 0,
                stop_step: int | None = None) -> tf.data.Dataset:
  """`train_batches` of steps [start_step, stop_step) of one epoch (default: to its end),
  counted from the epoch's start."""
  stop_step = steps_per_epoch if stop_step is None else stop_step
  first = epoch * steps_per_epoch
  return train_batches(train_sources, cfg, seed, steps_per_epoch, first + start_step,
                       first + stop_step)


def test_batches(source, image_size: int, batch_size: int = 8, with_masks: bool = False,
                 limit: int | None = None) -> tf.data.Dataset:
  """Test images of one domain, resized only (no random crop: docs/method.md), in order.

  Yields images [B, S, S, 3] in [-1, 1], or (images, masks) with `with_masks`.
  """
  n = source.size if limit is None else min(limit, source.size)
  ds = tf.data.Dataset.range(n)
  if with_masks:
    fn = lambda i: (source.load(i, image_size), source.load_mask(i, image_size))
  else:
    fn = lambda i: source.load(i, image_size)
  ds = ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
