"""The training loop: schedule, step counter, checkpoints, logging.

    python -m trainers.train --workdir=runs/demo --preset=demo     # the command around this

    trainer = Trainer(cfg, workdir)   # restores workdir/checkpoints if there are any
    trainer.fit()

The maths of one step lives in `steps.TrainStep`; this module decides which stage and
learning rate each epoch has, feeds the batches, counts steps, writes summaries and
checkpoints, and stops (or steps over a bad batch) when a loss is not finite.
"""

import contextlib
import itertools
import math
import signal
import sys
import threading
import time
from collections.abc import Iterator

from absl import logging
import keras
import tensorflow as tf

from uagit_tf import background_prior
from uagit_tf import config as config_lib
from uagit_tf import distribute
from uagit_tf import summaries
from uagit_tf import workdir as workdir_lib
from uagit_tf.data import pipeline
from uagit_tf.steps import Stage, TrainStep

_BAR_LOSSES = ["gen_total", "cyc_a", "cyc_b", "disc_a", "disc_b", "mask_mean_a", "mask_mean_b"]


class NonFiniteLossError(RuntimeError):
  """A loss became NaN or Inf; the last good checkpoint is kept."""


class TrainingInterrupted(Exception):
  """SIGINT or SIGTERM stopped training at a step boundary, after a checkpoint."""

  def __init__(self, signum: int, step: int, checkpoint: str):
    self.signum, self.step, self.checkpoint = signum, step, checkpoint
    super().__init__(f"interrupted by {signal.Signals(signum).name} at step {step}; saved "
                     f"{checkpoint}. Run the same command to resume.")


def learning_rate(schedule: config_lib.ScheduleConfig, epoch: int) -> float:
  """Constant for epochs < decay_epoch, then linear towards 0 at `epochs` (paper)."""
  if epoch < schedule.decay_epoch:
    return schedule.lr
  span = max(1, schedule.epochs - schedule.decay_epoch)
  return schedule.lr * max(0.0, 1.0 - (epoch - schedule.decay_epoch) / span)


def stage_of(cfg: config_lib.Config, epoch: int) -> Stage:
  """Stage 1 (ATTENTION) before attention_epochs, stage 2 (MASKED) after; the first
  attention_warmup_epochs are WARMUP; a plain CycleGAN stays in stage 1."""
  if not cfg.model.attention:
    return Stage.ATTENTION
  if epoch < cfg.schedule.attention_warmup_epochs:
    return Stage.WARMUP
  return Stage.MASKED if epoch >= cfg.schedule.attention_epochs else Stage.ATTENTION


class Trainer:
  """Owns one workdir's step counter, checkpoints and loop around a `TrainStep`."""

  def __init__(self, cfg: config_lib.Config, workdir: str, train_sources: dict | None = None,
               strategy: tf.distribute.Strategy | None = None,
               given: frozenset[str] = frozenset()):
    """Builds (or restores) everything under `strategy`, by default cfg.run.strategy's.
    `given`: the fields the user set, which --background_prior leaves as they are.

    Raises:
      ValueError: a bad workdir, data set, or a batch that does not split over replicas.
    """
    self.cfg = cfg
    self.workdir = workdir
    run = cfg.run
    # Before any other TensorFlow work: thread pools and multi_worker configure the runtime.
    distribute.configure_threads(run.intra_op_threads, run.inter_op_threads)
    if warning := distribute.onednn_warning():
      logging.warning(warning)
    self.strategy = strategy or distribute.make_strategy(run.strategy)
    self.is_chief = distribute.is_chief()
    workdir_lib.check_writable(workdir)
    if run.deterministic:
      tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(run.seed)

    self.sources = train_sources or pipeline.sources(cfg.data, "train", run.seed)
    # auto measured on the data, the choice applied: what config.json must record.
    self.cfg = cfg = background_prior.resolve(cfg, self.sources, given)
    self.steps_per_epoch = pipeline.steps_per_epoch(cfg, self.sources)
    logging.info("Data %s: %d images in A, %d in B; %d steps per epoch", cfg.data.dataset,
                 self.sources["a"].size, self.sources["b"].size, self.steps_per_epoch)
    for warning in pipeline.sanity_warnings(self.sources, cfg.data):
      logging.warning(warning)
    self.task = TrainStep(cfg, self.strategy)
    with self.strategy.scope():
      self.step = distribute.replicated_state(0, tf.int64, name="step")
    self.store = workdir_lib.CheckpointStore(
        workdir, {"step": self.step, **self.task.checkpointables()}, run.keep_checkpoints)
    restored = self.store.restore_latest()
    self._has_checkpoint = restored is not None  # The same on every worker.
    if restored:
      logging.info("Restored %s (step %d)", restored, self.current_step)
      workdir_lib.check_schedule(workdir, self.steps_per_epoch)
    self.skipped_steps: set[int] = set()  # Steps left out after non-finite losses.
    self.mask_health = summaries.MaskHealth()
    self._stop_signal = None  # Set by SIGINT / SIGTERM during fit().

  # The step's state, for callers that inspect it.
  nets = property(lambda self: self.task.nets)
  optimizers = property(lambda self: self.task.optimizers)
  pools = property(lambda self: self.task.pools)
  loss_scales = property(lambda self: self.task.loss_scales)

  @property
  def current_step(self) -> int:
    return int(self.step.numpy())  # int() rejects a MirroredVariable; numpy() does not.

  @property
  def total_steps(self) -> int:
    return self.cfg.schedule.epochs * self.steps_per_epoch

  def train_step(self, batch_a: tf.Tensor, batch_b: tf.Tensor, stage: Stage) -> dict:
    """One step of `stage`, counted; returns the losses as floats."""
    losses = self.task.run(batch_a, batch_b, stage)
    self.step.assign_add(1)
    return {k: float(v) for k, v in losses.items()}

  def save(self) -> str:
    """Checkpoints the current step (every worker must call it; see CheckpointStore).

    Raises:
      workdir.CheckpointError: the write failed; the previous checkpoint stays the latest.
    """
    path = self.store.save(self.step)
    if self.is_chief:
      workdir_lib.check_schedule(self.workdir, self.steps_per_epoch)  # Recorded once.
    self._has_checkpoint = True
    return path

  # ----------------------------------------------------------------------------------
  # The loop.

  def fit(self, max_steps: int | None = None, progress: bool = True) -> dict:
    """Trains until `epochs` are done (or `max_steps` more steps); returns the last losses.

    Raises:
      NonFiniteLossError: a loss became NaN/Inf; nothing is saved after the last good step.
      TrainingInterrupted: SIGINT or SIGTERM; a checkpoint of the last step was saved.
      workdir.CheckpointError: a checkpoint could not be written.
      workdir.WorkdirLockedError: another process is training in the workdir.
    """
    end = self.total_steps if max_steps is None else min(self.total_steps,
                                                          self.current_step + max_steps)
    if self.current_step >= self.total_steps:
      logging.info("Already complete: step %d of %d (%d epochs); raise --epochs to train on.",
                   self.current_step, self.total_steps, self.cfg.schedule.epochs)
      return {}
    with workdir_lib.lock(self.workdir), self._stop_on_signals():
      log = self._summaries() if self.is_chief else summaries.Summaries(None)
      progress = progress and self.is_chief
      if not self._has_checkpoint:
        self.save()  # Step 0: a state to go back to if the very first steps go wrong.
      losses, batches = {}, None
      while self.current_step < end:
        # One pipeline from here to `end`; built again after a rewind to a checkpoint.
        if batches is None:
          batches = iter(pipeline.train_batches(self.sources, self.cfg.data, self.cfg.run.seed,
                                                self.steps_per_epoch, self.current_step, end))
        epoch = self.current_step // self.steps_per_epoch
        epoch_losses = self._run_epoch(epoch, end, batches, log, progress)
        if epoch_losses is None:
          batches = None
        losses = epoch_losses or losses
      log.flush()
    return losses

  @contextlib.contextmanager
  def _stop_on_signals(self):
    """SIGINT / SIGTERM ask for a stop at the next step boundary (a second one stops at
    once); the handlers before are restored after."""
    if threading.current_thread() is not threading.main_thread():
      yield  # Signal handlers can only be set from the main thread.
      return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def request_stop(signum, frame):
      if self._stop_signal is not None:
        raise KeyboardInterrupt  # Asked twice: stop now, from the last checkpoint.
      self._stop_signal = signum
      logging.warning("%s: saving a checkpoint after this step, then stopping (again to "
                      "stop at once)", signal.Signals(signum).name)

    self._stop_signal = None
    for s in previous:
      signal.signal(s, request_stop)
    try:
      yield
    finally:
      for s, handler in previous.items():
        signal.signal(s, handler)

  def _summaries(self) -> summaries.Summaries:
    test = pipeline.sources(self.cfg.data, "test", self.cfg.run.seed)
    return summaries.Summaries(workdir_lib.log_dir(self.workdir),
                               summaries.preview_batches(test, self.cfg.data.image_size))

  def _run_epoch(self, epoch: int, end: int, batches: Iterator, log: summaries.Summaries,
                 progress: bool) -> dict | None:
    """Steps of `epoch` from the current one up to `end`, taking their batches from
    `batches` (`pipeline.train_batches` from the current step), then the epoch's checkpoint
    (without checkpoint_each_epoch: only at `end` or on checkpoint_every's steps).

    Returns the last losses; after a non-finite loss that may be skipped, it returns None
    at once, with the last checkpoint restored, and the caller starts over from there.
    """
    offset = self.current_step - epoch * self.steps_per_epoch
    stop = min(self.steps_per_epoch, offset + end - self.current_step)
    stage, lr = stage_of(self.cfg, epoch), learning_rate(self.cfg.schedule, epoch)
    self.task.set_learning_rate(lr)
    logging.info("Epoch %d/%d, stage %d (%s), lr %.3g, steps %d..%d", epoch + 1,
                 self.cfg.schedule.epochs, stage, stage.name.lower(), lr, offset, stop)
    # A live bar on a terminal; in a log file, one line per summary step instead.
    live = progress and sys.stdout.isatty()
    bar = keras.utils.Progbar(self.steps_per_epoch, verbose=1 if live else 0,
                              stateful_metrics=_BAR_LOSSES, unit_name="step")
    bar.update(offset)
    started, losses = time.time(), {}
    for batch_a, batch_b in itertools.islice(batches, stop - offset):
      if self.current_step + 1 in self.skipped_steps:
        self.step.assign_add(1)  # This batch gave a non-finite loss before: leave it out.
        continue
      losses = self.train_step(batch_a, batch_b, stage)
      step = self.current_step
      if not all(math.isfinite(v) for v in losses.values()):
        self._rewind_after_nonfinite(step, losses)
        return None
      in_epoch = step - epoch * self.steps_per_epoch
      bar.update(in_epoch, [(k, losses[k]) for k in _BAR_LOSSES if k in losses], finalize=False)
      self._log(log, step, stage, losses, progress and not live, lr=lr,
                epoch=step / self.steps_per_epoch,
                steps_per_sec=(in_epoch - offset) / (time.time() - started))
      if self._stop_signal is not None:
        raise TrainingInterrupted(self._stop_signal, step, self.save())
      if step % self.cfg.run.checkpoint_every == 0 and in_epoch != stop:
        self.save()
    last = epoch * self.steps_per_epoch + stop
    if self.current_step != last:  # Else fit() would spin.
      raise RuntimeError(f"The training batches ran out at step {self.current_step}, before "
                         f"step {last}; the last checkpoint is {self.store.latest}.")
    if live:
      bar.update(self.current_step - epoch * self.steps_per_epoch, finalize=True)
    if (self.cfg.run.checkpoint_each_epoch or self.current_step == end
        or self.current_step % self.cfg.run.checkpoint_every == 0):
      self.save()
    return losses

  def _rewind_after_nonfinite(self, step: int, losses: dict) -> None:
    """Raises NonFiniteLossError, or (with --skip_nonfinite_steps) marks the step to be
    left out and restores the last checkpoint."""
    bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
    if len(self.skipped_steps) >= self.cfg.run.skip_nonfinite_steps:
      raise NonFiniteLossError(
          f"Non-finite loss at step {step}: {bad}. Training stopped; the last good "
          "checkpoint is kept. Lower --lr, check the input data, or pass "
          "--skip_nonfinite_steps.")
    self.skipped_steps.add(step)
    logging.warning("Non-finite loss at step %d (%s): going back to %s and leaving that "
                    "batch out (%d of --skip_nonfinite_steps=%d)", step, bad, self.store.latest,
                    len(self.skipped_steps), self.cfg.run.skip_nonfinite_steps)
    self.store.checkpoint.restore(self.store.latest)

  def _log(self, log: summaries.Summaries, step: int, stage: Stage, losses: dict,
           to_log_file: bool, **train: float) -> None:
    """Scalars (and a log line without a live bar) and mask health every summary_every
    steps; image grids every image_summary_every steps."""
    if step % self.cfg.run.summary_every == 0:
      if to_log_file:
        rate = train["steps_per_sec"]
        eta = (self.total_steps - step) / rate if rate > 0 else float("nan")
        logging.info("step %d/%d (epoch %d/%d, %s) %.2f steps/s, ETA %s: %s", step,
                     self.total_steps, (step - 1) // self.steps_per_epoch + 1,
                     self.cfg.schedule.epochs, stage.name.lower(), rate, _duration(eta),
                     " ".join(f"{k}={v:.4f}" for k, v in losses.items()))
      log.scalars(step, losses, stage=int(stage), **train)
      if stage is Stage.ATTENTION:
        for warning in self.mask_health.update(losses, step // self.steps_per_epoch):
          logging.warning("Mask health: %s", warning)
          log.text(step, "masks/health", warning)
    if step % self.cfg.run.image_summary_every == 0:
      log.images(step, self.nets)


def _duration(seconds: float) -> str:
  """1h02m, 3m05s or 12s."""
  if not math.isfinite(seconds):
    return "?"
  seconds = int(seconds)
  if seconds >= 3600:
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
  return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
