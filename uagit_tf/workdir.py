"""A training workdir: its layout, lock, config and flags files, its checkpoints.

    with workdir.lock("runs/demo"):                     # one training process at a time
      workdir.prepare(cfg, "runs/demo")                 # config.json + flags.txt, checks resuming
      store = workdir.CheckpointStore("runs/demo", trackables, keep=3)
    cfg, nets = workdir.restore_networks("runs/demo")   # for translate, evaluate, export

Layout (the one place it is spelled):
    WORKDIR/config.json     the resolved config (also inside every export)
    WORKDIR/flags.txt       the same as flags, for --flagfile
    WORKDIR/schedule.json   the run's steps per epoch, fixed by its first checkpoint
    WORKDIR/checkpoints/    ckpt-<step>.{index,data-*} and TF's `checkpoint` state file
    WORKDIR/logs/           TensorBoard event files
    WORKDIR/.lock           the training process holding the workdir (pid, host)
"""

import contextlib
import json
import os
import re
import socket
import time

from absl import logging
import tensorflow as tf

from uagit_tf import config as config_lib
from uagit_tf import distribute
from uagit_tf.models import Networks, build_networks

CHECKPOINTS = "checkpoints"
LOGS = "logs"
FLAGS_FILE = "flags.txt"
SCHEDULE_FILE = "schedule.json"
LOCK_FILE = ".lock"


class CheckpointError(RuntimeError):
  """A checkpoint could not be written, or none could be read; the others are kept."""


class WorkdirLockedError(RuntimeError):
  """Another live process is training in this workdir."""


_held_locks: dict[str, int] = {}  # Lock path -> how many times this process holds it.


def _pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True  # Alive, another user's.
  return True


@contextlib.contextmanager
def lock(workdir: str):
  """Holds WORKDIR/.lock while the block runs: a second training process is refused.

  Re-entrant within a process. The lock of a process that died (on this host) is taken
  over with a warning. Under multi-worker training only the chief locks (its workers share
  the workdir). The lock file is created with O_EXCL, which shared filesystems honour.

  Raises:
    WorkdirLockedError: a live process (or one on another host) holds the lock.
  """
  if not distribute.is_chief():
    yield
    return
  path = os.path.abspath(os.path.join(workdir, LOCK_FILE))
  if path not in _held_locks:
    check_writable(workdir)
    _acquire(path)
  _held_locks[path] = _held_locks.get(path, 0) + 1
  try:
    yield
  finally:
    _held_locks[path] -= 1
    if not _held_locks[path]:
      del _held_locks[path]
      with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def _acquire(path: str) -> None:
  me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
  for _ in range(3):
    try:
      fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
      holder = _read_lock(path)
      if holder is None:
        time.sleep(0.2)  # Being written by its creator this instant, or unreadable.
        holder = _read_lock(path) or {"pid": -1, "host": me["host"], "since": 0}
      if holder["host"] != me["host"] or _pid_alive(holder["pid"]):
        raise WorkdirLockedError(
            f"{os.path.dirname(path)} is being trained by process {holder['pid']} on "
            f"{holder['host']} (since {time.ctime(holder['since'])}). Wait for it, stop "
            f"it, or train into another --workdir. If that process is gone, delete {path}.")
      logging.warning("Taking over the lock of process %s on %s, which is no longer running",
                      holder["pid"], holder["host"])
      with contextlib.suppress(FileNotFoundError):
        os.remove(path)
      continue
    with os.fdopen(fd, "w") as f:
      json.dump(me, f)
    return
  raise WorkdirLockedError(f"Could not take the lock {path}: other processes keep taking it.")


def _read_lock(path: str) -> dict | None:
  try:
    with open(path) as f:
      holder = json.load(f)
    return {"pid": int(holder["pid"]), "host": str(holder["host"]),
            "since": float(holder.get("since", 0))}
  except (OSError, ValueError, KeyError, TypeError):
    return None


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


def continued(cfg: config_lib.Config, workdir: str,
              given: frozenset[str] = frozenset()) -> config_lib.Config:
  """`cfg` as a run continuing `workdir` trains it: --background_prior=auto takes the choice
  the workdir's config.json records, so a resumed run keeps it (as translate and export
  do) and does not measure the data again; `given` (the fields the user set) keep their
  values. A new workdir, or an explicit choice, leaves `cfg` as it is."""
  if cfg.loss.background_prior != "auto" or not os.path.isfile(
      os.path.join(workdir, config_lib.CONFIG_FILE)):
    return cfg
  recorded = config_lib.load(workdir).loss.background_prior
  if recorded == "auto":  # Written before training decided it: decide as a new run.
    return cfg
  logging.info("--background_prior=auto: %s records the choice %r; the resumed run keeps it.",
               workdir, recorded)
  return config_lib.apply_background_prior(cfg, recorded, given)


def check_can_continue(cfg: config_lib.Config, workdir: str,
                       given: frozenset[str] = frozenset()) -> None:
  """Raises ValueError if `cfg` cannot continue what `workdir` holds (or it is unwritable);
  with --background_prior=auto, as `continued` would train it."""
  if os.path.isfile(os.path.join(workdir, config_lib.CONFIG_FILE)):
    config_lib.check_resumable(config_lib.load(workdir), continued(cfg, workdir, given))
  check_writable(workdir)


def write_config(cfg: config_lib.Config, workdir: str) -> None:
  """Writes config.json and flags.txt (the same as flags, for --flagfile)."""
  config_lib.save(cfg, workdir)
  path = os.path.join(workdir, FLAGS_FILE)
  with open(path + ".tmp", "w") as f:
    f.writelines(f"--{k}={v}\n" for k, v in sorted(config_lib.flat(cfg).items()))
  os.replace(path + ".tmp", path)


def prepare(cfg: config_lib.Config, workdir: str) -> None:
  """Checks `cfg` can continue what `workdir` holds, then writes config.json and flags.txt.

  Raises:
    ValueError: the workdir was trained with another architecture, or is not writable.
  """
  check_can_continue(cfg, workdir)
  write_config(cfg, workdir)


def check_schedule(workdir: str, steps_per_epoch: int) -> None:
  """Records the run's steps per epoch, or checks a resumed run keeps them.

  Raises:
    ValueError: the workdir's run has another epoch length (a resumed run would reopen
      finished epochs and shift its stages).
  """
  path = os.path.join(workdir, SCHEDULE_FILE)
  if os.path.isfile(path):
    with open(path) as f:
      saved = int(json.load(f)["steps_per_epoch"])
    if saved != steps_per_epoch:
      raise ValueError(
          f"The run in {workdir} has {saved} steps per epoch, these flags give "
          f"{steps_per_epoch} (--steps_per_epoch, --batch_size or the data set's size "
          f"changed). Resume with --steps_per_epoch={saved}, or use a new --workdir.")
    return
  with open(path + ".tmp", "w") as f:
    json.dump({"steps_per_epoch": steps_per_epoch}, f)
  os.replace(path + ".tmp", path)


def checkpoint_path(workdir: str, checkpoint: str) -> str:
  """A --checkpoint value (a path prefix, or a step number of the workdir) as a prefix."""
  if re.fullmatch(r"\d+", checkpoint):
    return os.path.join(checkpoint_dir(workdir), f"ckpt-{checkpoint}")
  return checkpoint


def readable_checkpoints(directory: str) -> list[str]:
  """The checkpoints of TF's state file in `directory`, newest first."""
  # TF joins the state file's relative entries to the directory it is given: an absolute
  # one, so that the result does not depend on the working directory.
  directory = os.path.abspath(directory)
  state = tf.train.get_checkpoint_state(directory)
  if state is None:
    return []
  paths = list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]
  if state.model_checkpoint_path not in paths:
    paths.append(state.model_checkpoint_path)
  paths = [p if os.path.isabs(p) else os.path.join(directory, p) for p in paths]
  step = lambda p: int(p.rsplit("-", 1)[1]) if re.search(r"-\d+$", p) else -1
  return sorted(paths, key=step, reverse=True)


def restore_newest(trackables: dict, directory: str, partial: bool = False,
                   checkpoint: tf.train.Checkpoint | None = None) -> str | None:
  """Restores the newest checkpoint in `directory` that reads, skipping (with a warning)
  any that do not: truncated or missing files. Returns its path, or None if there are
  none. `checkpoint`: the saving tf.train.Checkpoint of `trackables`, whose save counter
  is then restored too.

  Raises:
    CheckpointError: there are checkpoints, but none of them reads.
    ValueError: a checkpoint reads but holds other objects (another architecture).
  """
  skipped = []
  for path in readable_checkpoints(directory):
    try:
      _restore(trackables, path, partial, checkpoint)
    except (tf.errors.OpError, IndexError, OSError) as e:
      reason = (getattr(e, "message", None) or str(e)).splitlines()[0][:200]
      logging.warning("Skipping checkpoint %s, which does not read (%s)", path, reason)
      skipped.append(path)
      continue
    if skipped:
      logging.warning("Restored %s instead of the newer %s", path, ", ".join(skipped))
    return path
  if skipped:
    raise CheckpointError(f"None of the checkpoints in {directory} reads: "
                          f"{', '.join(skipped)} (see the warnings above).")
  return None


def _restore(trackables: dict, path: str, partial: bool,
             checkpoint: tf.train.Checkpoint | None = None) -> None:
  """Restores `trackables` (name -> trackable) from `path`, through `checkpoint` (theirs)
  if given."""
  checkpoint = checkpoint or tf.train.Checkpoint(**trackables)
  try:
    status = checkpoint.restore(path)
    (status.expect_partial() if partial else status).assert_existing_objects_matched()
  except (AssertionError, ValueError) as e:  # Missing objects; a weight of another shape.
    detail = str(e).splitlines()[0][:200] if isinstance(e, ValueError) else ""
    raise ValueError(f"Checkpoint {path} does not hold what this config describes "
                     "(another architecture, or a checkpoint from an older uagit_tf"
                     f"{': ' + detail if detail else ''}).") from None


class CheckpointStore:
  """Saves and restores a set of trackables as WORKDIR/checkpoints/ckpt-<step>.

  Under multi-worker training every worker must save (saving is collective); only the
  chief's copy is kept, the others write into a scratch folder that is removed at once.
  """

  def __init__(self, workdir: str, trackables: dict, keep: int):
    self.directory = checkpoint_dir(workdir)
    self.trackables = trackables
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
    """Restores the newest checkpoint that reads, if any (see `restore_newest`)."""
    return restore_newest(self.trackables, self.directory, checkpoint=self.checkpoint)

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
    checkpoint: a checkpoint path prefix or a step number of the workdir; default the
      newest in workdir/checkpoints that reads.
  Raises:
    FileNotFoundError: no config.json, or no checkpoint.
    ValueError: the checkpoint does not match the config.
    CheckpointError: no checkpoint reads, or the one asked for does not.
  """
  cfg = config_lib.load(workdir)
  nets = build_networks(cfg.model, cfg.data.image_size, discriminators=False)
  # Partial: the discriminators and optimizers in the checkpoint are not needed. Every
  # generator / attention weight must be matched, which the restore checks.
  restorable = nets.checkpointables()
  if checkpoint is None:
    path = restore_newest(restorable, checkpoint_dir(workdir), partial=True)
    if path is None:
      raise FileNotFoundError(f"No checkpoint in {checkpoint_dir(workdir)}: train first, "
                              "or pass --checkpoint.")
  else:
    checkpoint = checkpoint_path(workdir, checkpoint)
    if not tf.io.gfile.exists(checkpoint + ".index"):
      raise FileNotFoundError(f"Checkpoint {checkpoint!r} not found (no {checkpoint}.index).")
    try:
      _restore(restorable, checkpoint, partial=True)
    except (tf.errors.OpError, IndexError, OSError) as e:
      raise CheckpointError(f"Checkpoint {checkpoint} does not read: "
                            f"{(getattr(e, 'message', None) or str(e)).splitlines()[0]}") from None
  return cfg, nets
