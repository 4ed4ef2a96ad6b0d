"""A training workdir: its layout, its config and flags files, its checkpoints.

    workdir.prepare(cfg, "runs/demo")             # config.json + flags.txt, checks resuming
    store = workdir.CheckpointStore("runs/demo", trackables, keep=3)
    cfg, nets = workdir.restore_networks("runs/demo")   # for translate, evaluate, export

Layout (the one place it is spelled):
    WORKDIR/config.json     the resolved config (also inside every export)
    WORKDIR/flags.txt       the same as flags, for --flagfile
    WORKDIR/checkpoints/    ckpt-<step>.{index,data-*} and TF's `checkpoint` state file
    WORKDIR/logs/           TensorBoard event files
"""

import os

from absl import logging
import tensorflow as tf

from uagit_tf import config as config_lib
from uagit_tf import distribute
from uagit_tf.models import Networks, build_networks

CHECKPOINTS = "checkpoints"
LOGS = "logs"
FLAGS_FILE = "flags.txt"


class CheckpointError(RuntimeError):
  """A checkpoint could not be written; the previous one is kept."""


def checkpoint_dir(workdir: str) -> str:
  return os.path.join(workdir, CHECKPOINTS)


def log_dir(workdir: str) -> str:
  return os.path.join(workdir, LOGS)


def latest_checkpoint(workdir: str) -> str | None:
  """The newest checkpoint's path prefix, or None."""
  return tf.train.latest_checkpoint(checkpoint_dir(workdir))


def check_writable(workdir: str) -> None:
  """Fails at start, not at the first save, if the workdir cannot be written.

  Raises:
    ValueError: it cannot be created or written.
  """
  try:
    os.makedirs(workdir, exist_ok=True)
    probe = os.path.join(workdir, f".write_test_{os.getpid()}")  # Workers share workdirs.
    with open(probe, "w") as f:
      f.write("ok")
    os.remove(probe)
  except OSError as e:
    raise ValueError(f"Cannot write to --workdir={workdir!r}: {e.strerror}") from None


def prepare(cfg: config_lib.Config, workdir: str) -> None:
  """Checks `cfg` can continue what `workdir` holds, then writes config.json and flags.txt.

  Raises:
    ValueError: the workdir was trained with another architecture, or is not writable.
  """
  if os.path.isfile(os.path.join(workdir, config_lib.CONFIG_FILE)):
    config_lib.check_resumable(config_lib.load(workdir), cfg)
  check_writable(workdir)
  config_lib.save(cfg, workdir)
  with open(os.path.join(workdir, FLAGS_FILE), "w") as f:
    f.writelines(f"--{k}={v}\n" for k, v in sorted(config_lib.flat(cfg).items()))


class CheckpointStore:
  """Saves and restores a set of trackables as WORKDIR/checkpoints/ckpt-<step>.

  Under multi-worker training every worker must save (saving is collective); only the
  chief's copy is kept, the others write into a scratch folder that is removed at once.
  """

  def __init__(self, workdir: str, trackables: dict, keep: int):
    self.directory = checkpoint_dir(workdir)
    self.checkpoint = tf.train.Checkpoint(**trackables)
    self.is_chief = distribute.is_chief()
    target = (self.directory if self.is_chief
              else os.path.join(workdir, f".scratch_{distribute.task_id()}"))
    self.manager = tf.train.CheckpointManager(self.checkpoint, target, keep)

  @property
  def latest(self) -> str | None:
    """The run's newest checkpoint (the chief's), which every worker resumes from."""
    return tf.train.latest_checkpoint(self.directory)

  def restore_latest(self) -> str | None:
    """Restores the newest checkpoint, if any, checking that every object matched."""
    latest = self.latest
    if latest:
      self.checkpoint.restore(latest).assert_existing_objects_matched()
    return latest

  def save(self, step: tf.Variable) -> str:
    """Writes the checkpoint of `step` (atomic: the state file is updated last).

    Raises:
      CheckpointError: the write failed (disk full, read-only); the previous checkpoint
        stays the latest.
    """
    try:
      path = self.manager.save(checkpoint_number=step)
    except (OSError, tf.errors.OpError) as e:
      raise CheckpointError(
          f"Could not write the checkpoint of step {int(step.numpy())} in "
          f"{self.manager.directory} ({getattr(e, 'message', None) or e}). The latest "
          f"checkpoint is still {self.latest}; free space and run again to resume.") from e
    if not self.is_chief:
      tf.io.gfile.rmtree(self.manager.directory)
    else:
      logging.info("Saved %s", path)
    return path


def restore_networks(workdir: str, checkpoint: str | None = None
                     ) -> tuple[config_lib.Config, Networks]:
  """Rebuilds generators and attention nets from workdir/config.json and restores weights.

  Args:
    workdir: a training workdir.
    checkpoint: a checkpoint path prefix; default the latest in workdir/checkpoints.
  Raises:
    FileNotFoundError: no config.json, or no checkpoint.
    ValueError: the checkpoint does not match the config.
  """
  cfg = config_lib.load(workdir)
  if checkpoint is None:
    checkpoint = latest_checkpoint(workdir)
    if checkpoint is None:
      raise FileNotFoundError(f"No checkpoint in {checkpoint_dir(workdir)}: train first, "
                              "or pass --checkpoint.")
  elif not tf.io.gfile.exists(checkpoint + ".index"):
    raise FileNotFoundError(f"Checkpoint {checkpoint!r} not found (no {checkpoint}.index).")
  nets = build_networks(cfg.model, cfg.data.image_size, discriminators=False)
  # expect_partial: the discriminators and optimizers in the checkpoint are not needed.
  # Every generator / attention weight must be matched, which the assert checks.
  status = tf.train.Checkpoint(**nets.checkpointables()).restore(checkpoint)
  try:
    status.expect_partial().assert_existing_objects_matched()
  except AssertionError:
    raise ValueError(f"Checkpoint {checkpoint} does not hold the weights that "
                     f"{workdir}/config.json describes (another architecture, or a "
                     "checkpoint from an older uagit_tf).") from None
  return cfg, nets
