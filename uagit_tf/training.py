"""The two-stage training loop: step functions, schedule, checkpoints, summaries.

    trainer = Trainer(cfg, workdir)   # restores workdir/checkpoints if there are any
    trainer.fit()

Stage 1 (epochs [0, attention_epochs)) trains generators, attention nets and
discriminators on whole images. Stage 2 freezes the attention nets and shows the
discriminators only what the hard-thresholded masks select (SPEC). The stage is a Python
value, so tf.function traces one graph per stage.

Every step runs under a tf.distribute strategy (the default one: a single device). Each
replica trains on its share of the global batch, its losses scaled by 1/replicas so the
optimizers' summed gradients are the global batch's; the image pools see the gathered
global batch, so N replicas train as one device would at the same global batch.
"""

import functools
import math
import os
import sys
import time

from absl import logging
import keras
import tensorflow as tf

from uagit_tf import config as config_lib
from uagit_tf import distribute
from uagit_tf import method
from uagit_tf import precision
from uagit_tf.data import pipeline
from uagit_tf.models import DOMAINS, build_networks
from uagit_tf.pool import ImagePool

OTHER = {"a": "b", "b": "a"}
_BAR_LOSSES = ["gen_total", "cyc_a", "cyc_b", "disc_a", "disc_b", "mask_mean_a", "mask_mean_b"]


class NonFiniteLossError(RuntimeError):
  """A loss became NaN or Inf; the last good checkpoint is kept."""


class CheckpointError(RuntimeError):
  """A checkpoint could not be written; the previous one is kept."""


def learning_rate(cfg: config_lib.TrainConfig, epoch: int) -> float:
  """Constant for epochs < decay_epoch, then linear towards 0 at `epochs` (SPEC)."""
  if epoch < cfg.decay_epoch:
    return cfg.lr
  return cfg.lr * max(0.0, 1.0 - (epoch - cfg.decay_epoch) / max(1, cfg.epochs - cfg.decay_epoch))


def stage_of(cfg: config_lib.Config, epoch: int) -> int:
  """1 while the attention nets train, 2 after; a plain CycleGAN stays in stage 1.

  With --attention_warmup_epochs (not in the paper) the first epochs are "stage 0":
  stage 1 with the attention nets held at their initial masks.
  """
  if not cfg.model.attention:
    return 1
  if epoch < cfg.train.attention_warmup_epochs:
    return 0
  return 2 if epoch >= cfg.train.attention_epochs else 1


class Trainer:
  """Owns the networks, optimizers, pools and checkpoints of one workdir."""

  def __init__(self, cfg: config_lib.Config, workdir: str, train_sources: dict | None = None,
               strategy: tf.distribute.Strategy | None = None):
    """Builds (or restores) everything under `strategy`, by default cfg.train.strategy's.

    Raises:
      ValueError: the global batch does not split evenly over the replicas.
    """
    self.cfg = cfg
    self.workdir = workdir
    tcfg = cfg.train
    # Before any other TensorFlow work: thread pools and multi_worker configure the runtime.
    distribute.configure_threads(tcfg.intra_op_threads, tcfg.inter_op_threads)
    self.strategy = strategy or distribute.make_strategy(tcfg.strategy)
    replicas = self.strategy.num_replicas_in_sync
    if tcfg.batch_size % replicas:
      raise ValueError(f"batch_size={tcfg.batch_size} is the global batch and must be a "
                       f"multiple of the {replicas} replicas of --strategy={tcfg.strategy}")
    self.is_chief = distribute.is_chief()
    _check_workdir(workdir)
    if tcfg.deterministic:
      tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(tcfg.seed)

    self.sources = train_sources or pipeline.sources(tcfg, "train")
    self.steps_per_epoch = pipeline.steps_per_epoch(tcfg, self.sources)
    logging.info("Data %s: %d images in A, %d in B; %d steps per epoch", tcfg.dataset,
                 self.sources["a"].size, self.sources["b"].size, self.steps_per_epoch)
    for warning in pipeline.sanity_warnings(self.sources):
      logging.warning(warning)
    with self.strategy.scope():
      with precision.policy_scope(tcfg.mixed_precision):
        self.nets = build_networks(cfg.model, tcfg.image_size)
      # One Adam per network, kept across stages. Built now: a traced step (and
      # MirroredStrategy) must not create optimizer variables.
      self.optimizers = {}
      for name, net in self.nets.by_name().items():
        opt = keras.optimizers.Adam(tcfg.lr, beta_1=tcfg.beta1, beta_2=tcfg.beta2)
        opt.build(net.trainable_variables)
        self.optimizers[name] = opt
      # pools[d] holds fakes *in* domain d, judged by disc[d].
      self.pools = {d: ImagePool(tcfg.pool_size, tcfg.image_size, tcfg.seed + i,
                                 name=f"pool_{d}") for i, d in enumerate(DOMAINS)}
      # float16 only, but always checkpointed so --mixed_precision may change on resume.
      self.loss_scales = {g: precision.LossScale(name=f"loss_scale_{g}")
                          for g in ("gen", "disc")}
      self.step = distribute.replicated_state(0, tf.int64, name="step")
    self.checkpoint = tf.train.Checkpoint(
        step=self.step, **self.nets.checkpointables(),
        **{f"opt_{k}": v for k, v in self.optimizers.items()},
        **{f"pool_{d}": p for d, p in self.pools.items()},
        **{f"loss_scale_{g}": s for g, s in self.loss_scales.items()})
    # Only the chief writes into the workdir; other workers save into a scratch folder
    # that save() removes (see uagit_tf/distribute.py).
    self.checkpoint_dir = os.path.join(workdir, "checkpoints")
    self.manager = tf.train.CheckpointManager(
        self.checkpoint, self.checkpoint_dir if self.is_chief else
        os.path.join(workdir, f".scratch_{distribute.task_id()}"),
        tcfg.keep_checkpoints)
    latest = self.latest_checkpoint
    self._has_checkpoint = latest is not None  # The same on every worker: all save or none.
    if latest:
      self.checkpoint.restore(latest).assert_existing_objects_matched()
      logging.info("Restored %s (step %d)", latest, self.current_step)
    self._steps = {s: tf.function(functools.partial(self.train_step, stage=s),
                                  jit_compile=tcfg.jit_compile) for s in (0, 1, 2)}
    self.skipped_steps: set[int] = set()  # Steps left out after non-finite losses.

  # ----------------------------------------------------------------------------------
  # The method.

  def direction(self, real: tf.Tensor, src: str, stage: int, use_norm: bool) -> dict:
    """One direction src -> tgt: forward, back again, and the generator's loss terms."""
    tgt = OTHER[src]
    nets, tau = self.nets, self.cfg.train.mask_threshold
    fwd = method.translate(real, nets.gen[src], nets.att.get(src))
    back = method.translate(fwd["translated"], nets.gen[tgt], nets.att.get(tgt))
    mask = fwd["mask"]
    if stage < 2:
      # Whole images (threshold 0). Eq. 1-2.
      disc_fake = fwd["translated"]
    else:
      # Frozen masks act as constants; D_tgt sees F(s) where A_src(s) > tau (Eq. 6).
      mask = tf.stop_gradient(mask)
      disc_fake = fwd["generated"] * method.hard_mask(mask, tau)
    out = {
        "mask": mask, "disc_fake": disc_fake, "translated": fwd["translated"],
        "reconstructed": back["translated"],
        "adv": method.lsgan_generator_loss(nets.disc[tgt](disc_fake, use_norm=use_norm)),
        "cyc": method.l1(real, back["translated"]),  # Eq. 4
    }
    return out

  def disc_input(self, images: tf.Tensor, masks: tf.Tensor, stage: int) -> tf.Tensor:
    if stage < 2:
      return images
    return images * method.hard_mask(masks, self.cfg.train.mask_threshold)

  def train_step(self, batch_a: tf.Tensor, batch_b: tf.Tensor, stage: int) -> dict:
    """One step of `stage` on a global batch, on every replica; returns the losses and
    mask statistics averaged over the global batch."""
    per_replica = self.strategy.run(self.replica_step, args=(batch_a, batch_b),
                                    kwargs={"stage": stage})
    losses = {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
              for k, v in per_replica.items()}
    self.step.assign_add(1)
    return losses

  def replica_step(self, batch_a: tf.Tensor, batch_b: tf.Tensor, stage: int) -> dict:
    """One step of `stage` on this replica's share of the global batch.

    1. Both directions forward and back: s' = A(s)F(s) + (1-A(s))s, s'' likewise (Eq. 1-2).
    2. Generator objective: LSGAN of D_tgt on the fake + lambda_cyc * cycle L1 (Eq. 5).
    3. Update generators, and the attention nets in stage 1 only.
    4. Pool each fake with its mask; D_tgt learns real vs pooled (LSGAN). In stage 2
       both real and pooled images are masked at tau: reals by their own domain's mask.
    5. Update the discriminators.
    """
    cfg, nets = self.cfg, self.nets
    tcfg = cfg.train
    real = {"a": distribute.replica_slice(batch_a), "b": distribute.replica_slice(batch_b)}
    use_norm = stage < 2 or cfg.model.disc_norm_stage2
    losses = {}

    with tf.GradientTape() as tape:
      outs = {d: self.direction(real[d], d, stage, use_norm) for d in DOMAINS}
      gen_loss = 0.0
      for d in DOMAINS:
        gen_loss += outs[d]["adv"] + tcfg.lambda_cyc * outs[d]["cyc"]
        losses[f"adv_{d}2{OTHER[d]}"] = outs[d]["adv"]
        losses[f"cyc_{d}"] = outs[d]["cyc"]
        if tcfg.lambda_mask > 0 and stage == 1 and d in nets.att:
          # Optional sparsity prior (not in the paper): cover no more than needed.
          losses[f"mask_l1_{d}"] = tf.reduce_mean(outs[d]["mask"])
          gen_loss += tcfg.lambda_mask * losses[f"mask_l1_{d}"]
        if tcfg.lambda_id > 0:  # Optional identity term (not in the paper).
          identity = method.l1(real[OTHER[d]], nets.gen[d](real[OTHER[d]]))
          losses[f"id_{OTHER[d]}"] = identity
          gen_loss += tcfg.lambda_id * identity
      losses["gen_total"] = gen_loss
    gen_names = [f"gen_{d}2{OTHER[d]}" for d in DOMAINS]
    if stage == 1:
      gen_names += [f"att_{d}" for d in nets.att]
    self._apply(tape, gen_loss, gen_names, "gen")

    with tf.GradientTape() as tape:
      disc_loss = 0.0
      for d in DOMAINS:
        tgt = OTHER[d]
        fake, fake_mask = self._pooled(tgt, tf.stop_gradient(outs[d]["disc_fake"]),
                                       tf.stop_gradient(outs[d]["mask"]))
        real_tgt = real[tgt]
        real_mask = (nets.att[tgt](real_tgt) if stage == 2 else method.full_mask(real_tgt))
        loss = method.lsgan_discriminator_loss(
            nets.disc[tgt](self.disc_input(real_tgt, real_mask, stage), use_norm=use_norm),
            nets.disc[tgt](self.disc_input(fake, fake_mask, stage), use_norm=use_norm))
        losses[f"disc_{tgt}"] = loss
        disc_loss += loss
    self._apply(tape, disc_loss, [f"disc_{d}" for d in DOMAINS], "disc")

    tau = tcfg.mask_threshold
    for d in DOMAINS:
      losses[f"mask_mean_{d}"] = tf.reduce_mean(outs[d]["mask"])
      losses[f"mask_above_tau_{d}"] = tf.reduce_mean(method.hard_mask(outs[d]["mask"], tau))
    return losses

  def _pooled(self, domain: str, fakes: tf.Tensor, masks: tf.Tensor) -> tuple:
    """The pool of `domain` over the global batch; returns this replica's share."""
    images, masks = self.pools[domain](distribute.gather(fakes), distribute.gather(masks))
    return distribute.replica_slice(images), distribute.replica_slice(masks)

  def _apply(self, tape: tf.GradientTape, loss: tf.Tensor, names: list[str],
             group: str) -> None:
    """Applies d(loss)/d(vars) of each named network with that network's optimizer.

    The optimizers sum the replicas' gradients, so each replica's loss (a mean over its
    share) is divided by the replica count. With float16 the loss is scaled by the group's
    dynamic loss scale, and a step whose gradients overflow is skipped on every replica.
    """
    nets = self.nets.by_name()
    variables = [nets[n].trainable_variables for n in names]
    # d(weight * loss) without recording the product on the (closed) tape.
    weight = 1.0 / tf.distribute.get_replica_context().num_replicas_in_sync
    if self.cfg.train.mixed_precision != "float16":
      self._update(names, variables, tape.gradient(loss, variables, output_gradients=weight))
      return
    scale = self.loss_scales[group]
    grads = tape.gradient(loss, variables, output_gradients=weight * scale.scale)
    grads = [[None if g is None else g / scale.scale for g in gs] for gs in grads]
    finite = precision.all_finite(grads)
    update = lambda grads: self._update(names, variables, grads)
    if not tf.distribute.has_strategy():
      tf.cond(finite, lambda: update(grads), lambda: None)
    else:
      # A cond whose branch calls merge_call (the optimizers do) must run in the
      # cross-replica context (as Keras' LossScaleOptimizer does).
      def cross_replica(strategy, finite, grads):
        first = strategy.experimental_local_results(finite)[0]
        tf.cond(first, lambda: strategy.extended.call_for_each_replica(update, args=(grads,)),
                lambda: None)
      tf.distribute.get_replica_context().merge_call(cross_replica, args=(finite, grads))
    scale.update(finite)

  def _update(self, names: list[str], variables: list, grads: list) -> None:
    for name, vs, gs in zip(names, variables, grads):
      pairs = [(g, v) for g, v in zip(gs, vs) if g is not None]  # Unused norms in stage 2.
      self.optimizers[name].apply_gradients(pairs)

  # ----------------------------------------------------------------------------------
  # The loop.

  @property
  def total_steps(self) -> int:
    return self.cfg.train.epochs * self.steps_per_epoch

  def fit(self, max_steps: int | None = None, progress: bool = True) -> dict:
    """Trains until `epochs` are done (or `max_steps` more steps); returns the last losses.

    Raises:
      NonFiniteLossError: a loss became NaN/Inf; nothing is saved after the last good step.
    """
    tcfg = self.cfg.train
    if self.is_chief:
      writer = tf.summary.create_file_writer(os.path.join(self.workdir, "logs"))
      preview = self._preview_batches()
    else:
      writer, progress = tf.summary.create_noop_writer(), False
    end = self.total_steps if max_steps is None else min(self.total_steps,
                                                          self.current_step + max_steps)
    losses = {}
    if not self._has_checkpoint:
      self.save()  # Step 0: a state to go back to if the very first steps go wrong.
    while self.current_step < end:
      step = self.current_step
      epoch, offset = divmod(step, self.steps_per_epoch)
      stage = stage_of(self.cfg, epoch)
      lr = learning_rate(tcfg, epoch)
      for opt in self.optimizers.values():
        opt.learning_rate.assign(lr)
      stop = min(self.steps_per_epoch, offset + end - step)
      logging.info("Epoch %d/%d, stage %d, lr %.3g, steps %d..%d", epoch + 1, tcfg.epochs,
                   stage, lr, offset, stop)
      # A live bar on a terminal; in a log file, one line per summary step instead.
      live = progress and sys.stdout.isatty()
      bar = keras.utils.Progbar(self.steps_per_epoch, verbose=1 if live else 0,
                                stateful_metrics=_BAR_LOSSES, unit_name="step")
      bar.update(offset)
      started = time.time()
      restarted = False
      for batch_a, batch_b in pipeline.train_epoch(self.sources, tcfg, epoch,
                                                   self.steps_per_epoch, offset, stop):
        if self.current_step + 1 in self.skipped_steps:
          self.step.assign_add(1)  # This batch gave a non-finite loss before: leave it out.
          continue
        losses = {k: float(v) for k, v in self._steps[stage](batch_a, batch_b).items()}
        step = self.current_step
        bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
        if bad:
          if len(self.skipped_steps) >= tcfg.skip_nonfinite_steps:
            raise NonFiniteLossError(
                f"Non-finite loss at step {step}: {bad}. Training stopped; the last good "
                "checkpoint is kept. Lower --lr, check the input data, or pass "
                "--skip_nonfinite_steps.")
          self.skipped_steps.add(step)
          logging.warning("Non-finite loss at step %d (%s): going back to %s and leaving "
                          "that batch out (%d of --skip_nonfinite_steps=%d)", step,
                          bad, self.latest_checkpoint,
                          len(self.skipped_steps), tcfg.skip_nonfinite_steps)
          self.checkpoint.restore(self.latest_checkpoint)
          restarted = True
          break
        bar.update(step - epoch * self.steps_per_epoch,
                   [(k, losses[k]) for k in _BAR_LOSSES if k in losses], finalize=False)
        if step % tcfg.summary_every == 0:
          if progress and not live:
            logging.info("step %d: %s", step, " ".join(f"{k}={v:.4f}" for k, v in losses.items()))
          with writer.as_default(step=step):
            for k, v in losses.items():
              tf.summary.scalar(f"{'masks' if k.startswith('mask_') else 'loss'}/{k}", v)
            tf.summary.scalar("train/lr", lr)
            tf.summary.scalar("train/stage", stage)
            tf.summary.scalar("train/epoch", step / self.steps_per_epoch)
            tf.summary.scalar("train/steps_per_sec", (step - epoch * self.steps_per_epoch -
                                                      offset) / (time.time() - started))
        if step % tcfg.image_summary_every == 0 and self.is_chief:
          self._write_images(writer, preview, step)
        if step % tcfg.checkpoint_every == 0 and step % self.steps_per_epoch:
          self.save()
      if restarted:
        continue
      if live:
        bar.update(self.current_step - epoch * self.steps_per_epoch, finalize=True)
      self.save()
    writer.flush()
    return losses

  @property
  def current_step(self) -> int:
    return int(self.step.numpy())  # int() rejects a MirroredVariable; numpy() does not.

  @property
  def latest_checkpoint(self) -> str | None:
    """The run's newest checkpoint (the chief's), which every worker resumes from."""
    return tf.train.latest_checkpoint(self.checkpoint_dir)

  def save(self) -> str:
    """Writes a checkpoint for the current step (atomic: the index is updated last).

    Every worker must call this; only the chief's copy is kept.

    Raises:
      CheckpointError: the write failed (disk full, read-only); the previous
        checkpoint stays the latest.
    """
    try:
      path = self.manager.save(checkpoint_number=self.step)
    except (OSError, tf.errors.OpError) as e:
      raise CheckpointError(
          f"Could not write the checkpoint of step {self.current_step} in {self.manager.directory}"
          f" ({getattr(e, 'message', None) or e}). The latest checkpoint is still "
          f"{self.latest_checkpoint}; free space and run again to resume.") from e
    self._has_checkpoint = True
    if not self.is_chief:
      tf.io.gfile.rmtree(self.manager.directory)
      return path
    logging.info("Saved %s", path)
    return path

  def _preview_batches(self, n: int = 4) -> dict:
    test = pipeline.sources(self.cfg.train, "test")
    return {d: next(iter(pipeline.test_batches(test[d], self.cfg.train.image_size, n,
                                               limit=n))) for d in DOMAINS}

  def _write_images(self, writer, preview: dict, step: int) -> None:
    """Per direction, one grid: rows of input | mask | translated | reconstruction."""
    with writer.as_default(step=step):
      for d in DOMAINS:
        tgt = OTHER[d]
        fwd = method.translate(preview[d], self.nets.gen[d], self.nets.att.get(d))
        back = method.translate(fwd["translated"], self.nets.gen[tgt], self.nets.att.get(tgt))
        tf.summary.image(f"translation/{d}2{tgt}", image_grid(
            preview[d], fwd["mask"], fwd["translated"], back["translated"]), step=step)


def image_grid(*columns: tf.Tensor) -> tf.Tensor:
  """Columns of [N, H, W, C] ([-1, 1] images or [0, 1] masks) -> one [1, NH, kW, 3] image."""
  cells = []
  for col in columns:
    col = tf.repeat(col, 3, axis=-1) if col.shape[-1] == 1 else (col + 1.0) / 2.0
    cells.append(tf.clip_by_value(col, 0.0, 1.0))
  rows = tf.concat(cells, axis=2)  # [N, H, kW, 3]
  return tf.reshape(rows, [1, -1, rows.shape[2], 3])


def _check_workdir(workdir: str) -> None:
  """Fails at start, not at the first save, if the workdir cannot be written."""
  try:
    os.makedirs(workdir, exist_ok=True)
    probe = os.path.join(workdir, f".write_test_{os.getpid()}")  # Workers share workdirs.
    with open(probe, "w") as f:
      f.write("ok")
    os.remove(probe)
  except OSError as e:
    raise ValueError(f"Cannot write to --workdir={workdir!r}: {e.strerror}") from None


def prepare_workdir(cfg: config_lib.Config, workdir: str) -> None:
  """Checks `cfg` can continue what `workdir` holds, then writes workdir/config.json.

  Raises:
    ValueError: the workdir was trained with another architecture.
  """
  if os.path.isfile(os.path.join(workdir, config_lib.CONFIG_FILE)):
    config_lib.check_resumable(config_lib.load(workdir), cfg)
  _check_workdir(workdir)
  config_lib.save(cfg, workdir)
