"""Mixed precision: Keras dtype policies for the networks, loss scaling for float16, and
the optimizers' steps under them.

    with precision.policy_scope("bfloat16"):
      nets = build_networks(cfg.model)     # layers compute in bfloat16, weights float32

The networks' last layers (tanh image, sigmoid mask, patch scores) are pinned to float32
in the models, so compositing, masks and losses stay float32 whatever the policy.
Weights are float32 in every policy, so checkpoints and exports do not depend on it.
"""

import contextlib

import keras
import tensorflow as tf

from uagit_tf.distribute import replicated_state

# --mixed_precision value -> Keras dtype policy.
POLICIES = {"none": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


@contextlib.contextmanager
def policy_scope(mixed_precision: str):
  """Layers created inside compute in `mixed_precision`; the global policy is restored after.

  Raises:
    ValueError: an unknown name.
  """
  if mixed_precision not in POLICIES:
    raise ValueError(f"mixed_precision must be one of {sorted(POLICIES)}, got "
                     f"{mixed_precision!r}")
  before = keras.config.dtype_policy()
  keras.config.set_dtype_policy(POLICIES[mixed_precision])
  try:
    yield
  finally:
    keras.config.set_dtype_policy(before)


class LossScale(tf.Module):
  """Dynamic loss scale for float16 (Micikevicius et al.), shared by a group of optimizers.

  Keras' LossScaleOptimizer scales per optimizer; here one loss feeds several networks
  (one Adam each), so the group shares one scale: start at 2^15, halve and skip the
  update when a gradient is not finite, double after `growth_steps` finite steps.
  """

  def __init__(self, initial: float = 2.0**15, growth_steps: int = 2000, name=None):
    super().__init__(name=name)
    self.growth_steps = growth_steps
    self.scale = replicated_state(initial, tf.float32)
    self.good_steps = replicated_state(0, tf.int64)

  def update(self, finite: tf.Tensor) -> None:
    """After a step: grow the scale after enough finite steps, halve it on overflow."""
    grow = tf.logical_and(finite, self.good_steps + 1 >= self.growth_steps)
    self.scale.assign(tf.where(grow, self.scale * 2.0,
                               tf.where(finite, self.scale, self.scale * 0.5)))
    self.good_steps.assign(tf.where(finite & ~grow, self.good_steps + 1,
                                    tf.zeros_like(self.good_steps)))


def all_finite(grads: list) -> tf.Tensor:
  """True when every gradient tensor is finite, agreed across replicas."""
  bad = tf.add_n([tf.reduce_sum(tf.cast(~tf.math.is_finite(g), tf.float32))
                  for g in tf.nest.flatten(grads) if g is not None])
  ctx = tf.distribute.get_replica_context()
  if ctx is not None and ctx.num_replicas_in_sync > 1:
    bad = ctx.all_reduce(tf.distribute.ReduceOp.SUM, bad)
  return tf.equal(bad, 0.0)


def adam(sched, lr: float, variables: list) -> keras.optimizers.Adam:
  """An Adam at `lr` with the betas of `sched` (a `config.ScheduleConfig`), built for
  `variables`: a traced step (and MirroredStrategy) must not create optimizer variables."""
  opt = keras.optimizers.Adam(lr, beta_1=sched.beta1, beta_2=sched.beta2)
  opt.build(variables)
  return opt


def apply_gradients(tape: tf.GradientTape, loss: tf.Tensor, optimizers: list, variables: list,
                    scale: "LossScale | None" = None) -> None:
  """Each of `optimizers` steps its list of `variables` by d(loss)/d(them), for one
  replica's `loss`, a mean over its share of the global batch: the optimizers sum the
  replicas' gradients, so the loss counts 1/replicas. A variable without a gradient (a
  norm that a stage does not use) is left out.

  With a float16 `scale` the loss is scaled by it, the gradients unscaled, and a step whose
  gradients overflow is skipped on every replica (the scale then halves).
  """
  def update(grads):
    for opt, gs, vs in zip(optimizers, grads, variables):
      opt.apply_gradients([(g, v) for g, v in zip(gs, vs) if g is not None])

  # d(weight * loss) without recording the product on the (closed) tape.
  weight = 1.0 / tf.distribute.get_replica_context().num_replicas_in_sync
  if scale is None:
    update(tape.gradient(loss, variables, output_gradients=weight))
    return
  grads = tape.gradient(loss, variables, output_gradients=weight * scale.scale)
  grads = [[None if g is None else g / scale.scale for g in gs] for gs in grads]
  finite = all_finite(grads)
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
