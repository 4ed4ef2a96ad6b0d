"""TensorBoard for a training run: losses, schedule, mask statistics, image grids.

    tensorboard --logdir=runs/demo/logs

Scalars go under loss/ (every loss term), masks/ (mask_mean_<domain>, the mean mask, and
mask_above_tau_<domain>, the share of pixels stage 2 shows its discriminators) and train/
(lr, stage, epoch, steps_per_sec). Per direction, translation/<a2b|b2a> is a grid of
fixed test images: input | mask | translated | reconstruction.
"""

import tensorflow as tf

from uagit_tf import config
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

  def text(self, step: int, tag: str, message: str) -> None:
    with self.writer.as_default(step=step):
      tf.summary.text(tag, message)

  def flush(self) -> None:
    self.writer.flush()


_DEFAULTS = config.flat(config.Config())
_DEFAULTS_AGAINST_FULL_MASKS = " ".join(
    f"--{name}={_DEFAULTS[name]}"
    for name in ("background_prior", "lambda_mask_background", "lambda_mask_object",
                 "disc_hide_background"))


class MaskHealth:
  """Notices a direction's mask dying or covering everything during stage 1.

  Fed the losses at each summary step of stage 1, it returns a warning when a mask's mean
  has stayed below `dead_mean` (the translation is the identity), its share of pixels
  above 0.5 below `faint_share` (a faint mask: almost nowhere more of the translation
  than of the input; a mean above `dead_mean` can hide it), or the share of pixels above tau above `full_share` (it
  repaints everything, like a plain CycleGAN), for `patience` summaries in a row; once
  per direction, kind and epoch. (An image without an object has a faint mask too, but
  rarely `patience` in a row.)
  """

  def __init__(self, dead_mean: float = 0.02, full_share: float = 0.95, patience: int = 3):
    self.dead_mean, self.full_share, self.patience = dead_mean, full_share, patience
    self.faint_share = 0.001
    self.streaks: dict[tuple[str, str], int] = {}
    self.warned: set[tuple[str, str, int]] = set()

  def update(self, losses: dict[str, float], epoch: int) -> list[str]:
    warnings = []
    for d in DIRECTIONS.values():
      mean = losses.get(f"mask_mean_{d.source}")
      share = losses.get(f"mask_above_tau_{d.source}")
      half = losses.get(f"mask_above_half_{d.source}", 1.0)
      if mean is None or share is None:
        continue
      dead = mean < self.dead_mean
      for kind, bad in (("dead", dead), ("faint", half < self.faint_share and not dead),
                        ("full", share > self.full_share)):
        key = (d.name, kind)
        self.streaks[key] = self.streaks.get(key, 0) + 1 if bad else 0
        if self.streaks[key] >= self.patience and (*key, epoch) not in self.warned:
          self.warned.add((*key, epoch))
          warnings.append(self._advice(d.name, kind, mean, share, half))
    return warnings

  def _advice(self, direction: str, kind: str, mean: float, share: float,
              half: float) -> str:
    if kind == "faint":
      return (f"{direction}: the mask is faint ({100 * half:.2f}% of pixels above 0.5 for "
              f"{self.patience} summaries): its translation is at most a blend with the "
              "input. Try the defaults --lambda_mask_object="
              f"{_DEFAULTS['lambda_mask_object']} (the pull onto the pixels not coloured "
              "like the border) and --attention_lr_mult="
              f"{_DEFAULTS['attention_lr_mult']} (masks fast enough to follow it), "
              "--background_prior=saliency where the border does not show the background, "
              "or --attention_warmup_epochs=1 (the generators learn first).")
    if kind == "dead":
      return (f"{direction}: the mask has died (mean {mean:.3f} for {self.patience} summaries):"
              " its translation is the input unchanged. Try the default --cycle_object_weight="
              f"{_DEFAULTS['cycle_object_weight']} (the way back need not restore what the "
              "translation removes, e.g. stripes), --attention_warmup_epochs=1 (the generators "
              "learn first), a smaller --lambda_mask or --lambda_mask_background, or "
              "check that "
              "A and B differ.")
    return (f"{direction}: the mask covers everything ({100 * share:.0f}% of pixels above "
            f"tau for {self.patience} summaries): the background is repainted, as a plain "
            f"CycleGAN would. Try the defaults {_DEFAULTS_AGAINST_FULL_MASKS}, "
            "--lambda_mask=0.1, or fewer --attention_epochs.")


def preview_batches(sources: dict, image_size: int, n: int = 4) -> dict[str, tf.Tensor]:
  """The first `n` test images of each domain, for the image grids."""
  return {d: next(iter(pipeline.test_batches(sources[d], image_size, n, limit=n)))
          for d in DOMAINS}
