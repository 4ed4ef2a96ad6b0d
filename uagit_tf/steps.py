"""The paper's training step: both stages, each direction written once.

    step = TrainStep(cfg)                           # networks, optimizers, image pools
    losses = step.run(batch_a, batch_b, Stage.ATTENTION)

The step owns the maths and the state it updates (networks, their optimizers, the pools,
float16 loss scales); `training.Trainer` owns the step counter, the schedule, the loop and
the checkpoints. The stage is a Python value, so `tf.function` traces one graph per stage,
and everything stage 2 changes sits in one branch of `replica_step`.

Every step runs under a tf.distribute strategy (the default one: a single device). Each
replica trains on its share of the global batch with its losses scaled by 1/replicas, so
the optimizers' summed gradients are the global batch's; the image pools see the gathered
global batch, so N replicas train as one device would at the same global batch.
"""

import dataclasses
import enum
import functools
from collections.abc import Callable

import tensorflow as tf

from uagit_tf import background_prior
from uagit_tf import config as config_lib
from uagit_tf import distribute
from uagit_tf import method
from uagit_tf import precision
from uagit_tf import saliency as saliency_lib
from uagit_tf.domains import DIRECTIONS, DOMAINS, Direction
from uagit_tf.models import build_networks
from uagit_tf.models import adjoint
from uagit_tf.pool import ImagePool


class Stage(enum.IntEnum):
  """What a step trains and what the discriminators see (docs/method.md)."""
  WARMUP = 0     # Stage 1 with the attention nets held (--attention_warmup_epochs).
  ATTENTION = 1  # Stage 1: generators, attention nets, discriminators (whole images).
  MASKED = 2     # Stage 2: attention frozen; discriminators see images masked at tau.


@dataclasses.dataclass(frozen=True)
class StagePlan:
  """What one stage trains and shows its discriminators (see `TrainStep.plan`)."""
  trained: list[str]  # Networks the generator objective updates.
  fake: str           # What D judges of a fake: "translated" (s') or "generated" (F(s)).
  masked: bool        # D sees only what the hard masks (> tau) select, else whole images.
  disc_norm: bool     # D applies its instance norm.

  @property
  def trains_attention(self) -> bool:
    return any(name.startswith("att_") for name in self.trained)

  @classmethod
  def of(cls, cfg: config_lib.Config, stage: Stage, attention_domains: list[str]) -> "StagePlan":
    """Everything that differs between the stages, decided here and nowhere else."""
    generators = [f"gen_{d}" for d in DIRECTIONS]
    if stage is Stage.MASKED:
      # Stage 2 (Eq. 6): the attention nets are frozen, so their masks act as constants.
      # The discriminators see only what the hard masks (> tau) select: reals by their own
      # domain's mask, fakes by their source's. A fake is the composite s' (authors' code)
      # or the raw F(s) (the paper's equation); the authors' code also drops the
      # discriminators' instance norm there.
      fake = "translated" if cfg.loss.stage2_fake == "composite" else "generated"
      return cls(trained=generators, fake=fake, masked=True,
                 disc_norm=cfg.model.disc_norm_stage2)
    # Stage 1: D judges whole images (the paper's threshold 0); the attention nets train,
    # but not in the warm-up.
    attention_nets = [f"att_{d}" for d in attention_domains] if stage is Stage.ATTENTION else []
    return cls(trained=generators + attention_nets, fake="translated", masked=False,
               disc_norm=True)

  def judge(self, images: tf.Tensor, masks: tf.Tensor, threshold: float) -> tf.Tensor:
    """What a discriminator sees of images: all of them, or where the mask exceeds tau."""
    return images * method.hard_mask(masks, threshold) if self.masked else images


def learning_rate(name: str, sched: config_lib.ScheduleConfig, lr: float) -> float:
  """The learning rate of network `name` where the schedule's is `lr`: the attention
  nets' times attention_lr_mult."""
  return lr * sched.attention_lr_mult if name.startswith("att_") else lr


class TrainStep:
  """The networks, their optimizers and image pools, and one training step over them."""

  def __init__(self, cfg: config_lib.Config, strategy: tf.distribute.Strategy | None = None):
    """Builds every variable under `strategy` (default: the current one).

    Raises:
      ValueError: the global batch does not split evenly over the replicas.
    """
    self.cfg = cfg
    self.strategy = strategy or tf.distribute.get_strategy()
    replicas = self.strategy.num_replicas_in_sync
    if cfg.data.batch_size % replicas:
      raise ValueError(f"batch_size={cfg.data.batch_size} is the global batch and must be a "
                       f"multiple of the {replicas} replicas of --strategy={cfg.run.strategy}")
    sched = cfg.schedule
    with self.strategy.scope():
      with precision.policy_scope(cfg.run.mixed_precision):
        self.nets = build_networks(cfg.model, cfg.data.image_size)
      # One Adam per network, kept across stages.
      self.optimizers = {name: precision.adam(sched, learning_rate(name, sched, sched.lr),
                                              net.trainable_variables)
                         for name, net in self.nets.by_name().items()}
      # pools[d] holds fakes *in* domain d, judged by disc[d].
      self.pools = {d: ImagePool(cfg.loss.pool_size, cfg.data.image_size, cfg.run.seed + i,
                                 name=f"pool_{d}") for i, d in enumerate(DOMAINS)}
      # float16 only, but always checkpointed so --mixed_precision may change on resume.
      self.loss_scales = {g: precision.LossScale(name=f"loss_scale_{g}")
                          for g in ("gen", "disc")}
      # The masks' targets in stage 1 (--lambda_saliency; training only).
      self.saliency = (saliency_lib.SaliencyPrior(cfg)
                       if self.nets.att and cfg.loss.lambda_saliency > 0 else None)
    self._traced = {}
    # Where oneDNN lacks AVX-512, the traced step computes stride-1 convolutions by their
    # adjoints' faster kernels (uagit_tf/models/adjoint.py).
    self.adjoint_convolutions = adjoint.use_in_training()

  def checkpointables(self) -> dict[str, tf.Module]:
    """Name -> trackable: the layout of checkpoints (networks, optimizers, pools)."""
    return {**self.nets.checkpointables(),
            **{f"opt_{k}": v for k, v in self.optimizers.items()},
            **{f"pool_{d}": p for d, p in self.pools.items()},
            **{f"loss_scale_{g}": s for g, s in self.loss_scales.items()},
            **(self.saliency.checkpointables() if self.saliency else {})}

  def set_learning_rate(self, lr: float) -> None:
    for name, opt in self.optimizers.items():
      opt.learning_rate.assign(learning_rate(name, self.cfg.schedule, lr))

  def run(self, batch_a: tf.Tensor, batch_b: tf.Tensor, stage: Stage) -> dict[str, tf.Tensor]:
    """One traced step of `stage` on a global batch [B, S, S, 3] per domain: its losses
    and mask statistics, averaged over the global batch."""
    return self.function(stage)(batch_a, batch_b)

  def function(self, stage: Stage) -> tf.types.experimental.GenericFunction:
    """The tf.function of `stage`'s step (traced on first call), e.g. for profiling."""
    stage = Stage(stage)
    if stage not in self._traced:
      self._traced[stage] = tf.function(functools.partial(self._global_step, stage=stage),
                                        jit_compile=self.cfg.run.jit_compile)
    return self._traced[stage]

  def _global_step(self, batch_a, batch_b, stage: Stage) -> dict:
    # Read as the step is traced: the same sums by the adjoints' kernels where they pay.
    with adjoint.forward(self.adjoint_convolutions):
      per_replica = self.strategy.run(self.replica_step, args=(batch_a, batch_b),
                                      kwargs={"stage": stage})
    return {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
            for k, v in per_replica.items()}

  # ----------------------------------------------------------------------------------
  # The method.

  def plan(self, stage: Stage) -> StagePlan:
    return StagePlan.of(self.cfg, Stage(stage), list(self.nets.att))

  def judge_input(self, images: tf.Tensor, masks: tf.Tensor, plan: StagePlan) -> tf.Tensor:
    return plan.judge(images, masks, self.cfg.loss.mask_threshold)

  def direction(self, real: tf.Tensor, direction: Direction, plan: StagePlan,
                likeness: Callable[[], tf.Tensor] | None = None) -> dict:
    """One direction forward and back, what D_target judges of it, and its loss terms.

    `likeness`: a callable giving `method.background_likeness(real)`, computed once
    where several parts of the step use it (default: computed here when needed)."""
    likeness = likeness or functools.cache(functools.partial(method.background_likeness, real))
    forward, backward = method.cycle(real, self.nets, direction)
    mask = forward["mask"] if plan.trains_attention else tf.stop_gradient(forward["mask"])
    # The plain CycleGAN's mask is all ones: its cycle keeps the whole image.
    object_weight = (self.cfg.loss.cycle_object_weight if direction.source in self.nets.att
                     else 1.0)
    shown = (background_prior.shown(self.cfg.loss, likeness, forward["mask"],
                                    plan.masked) if self.nets.att else 1.0)
    fake = forward[plan.fake] * shown
    judged = self.judge_input(fake, mask, plan)
    scores = self.nets.disc[direction.target](judged, use_norm=plan.disc_norm)
    return {
        "source": real, "likeness": likeness, "shown": shown, "mask": mask, "fake": fake,
        "judged": judged,
        "translated": forward["translated"],
        "reconstructed": backward["translated"],
        "adv": method.lsgan_generator_loss(scores),  # Eq. 3
        "cyc": method.l1(real, backward["translated"],  # Eq. 4
                         method.cycle_weights(forward["mask"], object_weight)),
    }

  def replica_step(self, batch_a: tf.Tensor, batch_b: tf.Tensor, stage: Stage) -> dict:
    """One step of `stage` on this replica's share of the global batch.

    0. Stage 1: the saliency prior gives each image's mask its target, and its
       classifier learns.
    1. Both directions forward and back: s' = A(s)F(s) + (1-A(s))s, s'' likewise (Eq. 1-2).
    2. Generator objective: LSGAN of D_tgt on what it judges + lambda_cyc * cycle L1 (Eq. 5).
    3. Update the networks the stage trains (attention nets in stage 1 only).
    4. Pool each judged fake with its mask; D_tgt learns its reals against pooled fakes,
       both as the stage shows them (masked at tau in stage 2).
    5. Update the discriminators.
    """
    plan, loss_cfg = self.plan(stage), self.cfg.loss
    real = {"a": distribute.replica_slice(batch_a), "b": distribute.replica_slice(batch_b)}
    # Each domain's background likeness, computed once in the step if at all.
    likeness = {d: functools.cache(functools.partial(method.background_likeness, real[d]))
                for d in DOMAINS}
    losses = {}
    salient = {}  # Each image's saliency, its mask's target; the classifier learns on.
    if plan.trains_attention and self.saliency:
      salient, classifier_loss = self.saliency.step(real)
      losses.update(classifier_loss)

    with tf.GradientTape() as tape:
      outs = {d: self.direction(real[d.source], d, plan, likeness[d.source])
              for d in DIRECTIONS.values()}
      gen_loss = 0.0
      for d, out in outs.items():
        gen_loss += out["adv"] + loss_cfg.lambda_cyc * out["cyc"]
        losses[f"adv_{d.name}"] = out["adv"]
        losses[f"cyc_{d.source}"] = out["cyc"]
        if plan.trains_attention:
          for name, weight, prior in background_prior.mask_priors(self.cfg.loss, out):
            losses[f"{name}_{d.source}"] = prior
            gen_loss += weight * prior
        if salient:  # The mask on the object the domain classifier sees.
          prior = saliency_lib.balanced_l1(out["mask"], salient[d.source])
          losses[f"mask_saliency_{d.source}"] = prior
          gen_loss += loss_cfg.lambda_saliency * prior
        if loss_cfg.lambda_id > 0:  # Optional identity term (not in the paper).
          identity = method.l1(real[d.target], self.nets.gen[d.source](real[d.target]))
          losses[f"id_{d.target}"] = identity
          gen_loss += loss_cfg.lambda_id * identity
      losses["gen_total"] = gen_loss
    self._apply(tape, gen_loss, plan.trained, "gen")

    with tf.GradientTape() as tape:
      disc_loss = 0.0
      for d, out in outs.items():
        tgt = d.target
        fake, fake_mask = self._pooled(tgt, tf.stop_gradient(out["fake"]),
                                       tf.stop_gradient(out["mask"]))
        disc = functools.partial(self.nets.disc[tgt], use_norm=plan.disc_norm)
        # The target's reals are the other direction's sources: their mask and `shown`
        # are at hand (the attention nets do not change between the two updates: stage 2
        # freezes them, and stage 1's D does not look at masks).
        own = next(o for e, o in outs.items() if e.source == tgt)
        real_scores = disc(self.judge_input(real[tgt] * own["shown"],
                                            tf.stop_gradient(own["mask"]), plan))
        fake_scores = disc(self.judge_input(fake, fake_mask, plan))
        loss = method.lsgan_discriminator_loss(real_scores, fake_scores)
        losses[f"disc_{tgt}"] = loss
        disc_loss += loss
    self._apply(tape, disc_loss, [f"disc_{d}" for d in DOMAINS], "disc")

    for d, out in outs.items():
      losses.update({f"{name}_{d.source}": value for name, value in
                     method.mask_statistics(out["mask"], loss_cfg.mask_threshold).items()})
    return losses

  # ----------------------------------------------------------------------------------
  # Pools and gradients under a strategy.

  def _pooled(self, domain: str, fakes: tf.Tensor, masks: tf.Tensor) -> tuple:
    """The pool of `domain` over the global batch; returns this replica's share."""
    images, masks = self.pools[domain](distribute.gather(fakes), distribute.gather(masks))
    return distribute.replica_slice(images), distribute.replica_slice(masks)

  def _apply(self, tape: tf.GradientTape, loss: tf.Tensor, names: list[str],
             group: str) -> None:
    """Applies d(loss)/d(vars) of each named network with that network's optimizer
    (`precision.apply_gradients`: replicas and float16 loss scaling)."""
    nets = self.nets.by_name()
    scale = self.loss_scales[group] if self.cfg.run.mixed_precision == "float16" else None
    precision.apply_gradients(tape, loss, [self.optimizers[n] for n in names],
                              [nets[n].trainable_variables for n in names], scale)
