"""TensorBoard for a training run: losses, schedule, mask statistics, image grids.

    tensorboard --logdir=runs/demo/logs

Scalars go under loss/ (every loss term), masks/ (mask_mean_<domain>, the mean mask, and
mask_above_tau_<domain>, the share of pixels stage 2 shows its discriminators) and train/
(lr, stage, epoch, steps_per_sec). Per direction, translation/<a2b|b2a> is a grid of
fixed test images: input | mask | translated | reconstruction.
"""

import tensorflow as tf

from uagit_tf import method
from uagit_tf.data import pipeline
from uagit_tf.domains import DIRECTIONS, DOMAINS


def image_grid(*columns: tf.Tensor) -> tf.Tensor:
  """Columns of [N, H, W, C] ([-1, 1] images or [0, 1] masks) -> one [1, NH, kW, 3] image."""
  cells = []
  for col in columns:
    col = tf.repeat(col, 3, axis=-1) if col.shape[-1] == 1 else (col + 1.0) / 2.0
    cells.append(tf.clip_by_value(col, 0.0, 1.0))
  rows = tf.concat(cells, axis=2)  # [N, H, kW, 3]
  return tf.reshape(rows, [1, -1, rows.shape[2], 3])


class Summaries:
  """Writes a run's TensorBoard events; with `logdir=None` (non-chief workers) nothing."""

  def __init__(self, logdir: str | None, preview: dict[str, tf.Tensor] | None = None):
    """preview: domain -> a few fixed test images [N, S, S, 3] for the image grids."""
    self.writer = (tf.summary.create_file_writer(logdir) if logdir
                   else tf.summary.create_noop_writer())
    self.preview = preview

  def scalars(self, step: int, losses: dict[str, float], **train: float) -> None:
    """Every loss (masks/ for mask statistics, loss/ for the rest) and train/<name>."""
    with self.writer.as_default(step=step):
      for k, v in losses.items():
        tf.summary.scalar(f"{'masks' if k.startswith('mask_') else 'loss'}/{k}", v)
      for k, v in train.items():
        tf.summary.scalar(f"train/{k}", v)

  def images(self, step: int, nets) -> None:
    """Per direction, one grid: rows of input | mask | translated | reconstruction."""
    if not self.preview:
      return
    with self.writer.as_default(step=step):
      for d in DIRECTIONS.values():
        real = self.preview[d.source]
        forward, backward = method.cycle(real, nets, d)
        tf.summary.image(f"translation/{d.name}", image_grid(
            real, forward["mask"], forward["translated"], backward["translated"]), step=step)

  def flush(self) -> None:
    self.writer.flush()


def preview_batches(sources: dict, image_size: int, n: int = 4) -> dict[str, tf.Tensor]:
  """The first `n` test images of each domain, for the image grids."""
  return {d: next(iter(pipeline.test_batches(sources[d], image_size, n, limit=n)))
          for d in DOMAINS}
