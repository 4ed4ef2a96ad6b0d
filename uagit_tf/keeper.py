"""Stage 1's best attention nets, kept for stage 2 (`--attention_keep_best`).

    keeper = AttentionKeeper(nets.att, tolerance=0.15)  # under the strategy's scope
    keeper.update(nets.att, {"a": health_a, "b": health_b})  # each stage-1 step (replica context)
    for d, message in keeper.finish(nets.att).items(): ...  # once, before stage 2

Stage 2 freezes the attention nets as stage 1 leaves them. A net can fade in stage 1's
last steps, its masks sinking from the objects towards 0 (docs/experiments.md, fifteenth
session), and stage 2 then translates nothing. The keeper follows each net's mask health
(`health`, a moving mean over the steps) and copies the net's weights whenever that mean
reaches a new best; a net whose mean ended more than `tolerance` (a share) below its best
goes back to its best copy. The share, not a fixed amount: the health's scale is the
data's (about 0.3 where the objects share colours with the border, 0.8 where they share
none), and the wobble of a net that holds its masks grows with it. Everything here is
checkpointed, so a resumed run decides as an unbroken one would.
"""

import tensorflow as tf

from uagit_tf import distribute
from uagit_tf import method

MOMENTUM = 0.99  # The health's moving mean: about 100 steps.


def health(masks: tf.Tensor, likeness: tf.Tensor) -> tf.Tensor:
  """How well masks [B, H, W, 1] pick out what is not coloured like their images' borders
  (`likeness`, `method.background_likeness`), in [-1, 1]: the share of those pixels they
  cover less the share of the border-coloured ones. 1: every object pixel and nothing
  else; 0: a dead mask, or one that covers everything."""
  masks = tf.stop_gradient(tf.cast(masks, tf.float32))
  likeness = tf.cast(likeness, tf.float32)
  return (method.covered_share(masks, 1.0 - likeness, min_weight=0.01)
          - method.covered_share(masks, likeness))


class AttentionKeeper(tf.Module):
  """Each attention net's stage-1 mask health, its best, and its weights at that best."""

  def __init__(self, nets: dict, tolerance: float):
    """`nets`: domain -> AttentionNet, whose weights are copied (the nets are not held:
    a checkpoint reaches them through the networks)."""
    super().__init__(name="attention_keeper")
    self.tolerance = tolerance
    state = distribute.replicated_state
    self.steps = state(0.0, tf.float32, name="steps")  # Stage-1 steps seen.
    self.decided = state(False, tf.bool, name="decided")
    self.mean = {d: state(0.0, tf.float32, name=f"mean_{d}") for d in nets}
    self.best = {d: state(-2.0, tf.float32, name=f"best_{d}") for d in nets}
    self.best_at = {d: state(0.0, tf.float32, name=f"best_at_{d}") for d in nets}
    self.copies = {d: [state(tf.zeros(w.shape, w.dtype), name=f"copy_{d}_{i}")
                       for i, w in enumerate(net.weights)] for d, net in nets.items()}

  def health_now(self, domain: str) -> tf.Tensor:
    """The moving mean of `domain`'s net, corrected for its start at 0."""
    return self.mean[domain] / tf.maximum(1.0 - MOMENTUM ** self.steps, 1e-6)

  def update(self, nets: dict, healths: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Takes in one stage-1 step's `health` of each net's masks (this replica's share of
    the batch; the replicas' mean counts); copies a net's weights, as they were for those
    masks, when its moving mean is a new best. Returns the moving means."""
    self.steps.assign_add(1.0)
    domains = list(healths)
    values = tf.distribute.get_replica_context().all_reduce(
        tf.distribute.ReduceOp.MEAN, tf.stack([tf.cast(healths[d], tf.float32) for d in domains]))
    means = {}
    for d, value in zip(domains, tf.unstack(values)):
      self.mean[d].assign(MOMENTUM * self.mean[d] + (1.0 - MOMENTUM) * value)
      means[d] = now = self.health_now(d)
      # Assigned either way: a cond around the replicas' writes cannot run under a
      # MirroredStrategy (merge_call inside control flow). The copies are small.
      better = now > self.best[d]
      self.best_at[d].assign(tf.where(better, self.steps, self.best_at[d]))
      self.best[d].assign(tf.where(better, now, self.best[d]))
      for copy, weight in zip(self.copies[d], nets[d].weights):
        copy.assign(tf.where(better, tf.convert_to_tensor(weight), copy))
    return means

  def finish(self, nets: dict) -> dict[str, str]:
    """Once (later calls do nothing): each net whose health ended more than `tolerance`
    of its best below it (a best above 0: a net that never found its objects has nothing
    to go back to) returns to its best weights. Returns what it did: domain -> a line,
    for each net restored (whose `levels` the caller then measures again:
    `AttentionNet.calibrate`)."""
    if bool(self.decided.numpy()) or not float(self.steps.numpy()):
      nets = {}  # Decided before, or no stage-1 step seen: nothing to restore.
    messages = {}
    for d, net in nets.items():
      best, now = float(self.best[d].numpy()), float(self.health_now(d).numpy())
      if best > 0 and best - now > self.tolerance * best:
        for copy, weight in zip(self.copies[d], net.weights):
          weight.assign(copy)
        back = int(self.steps.numpy() - self.best_at[d].numpy())
        messages[d] = (
            f"the {d.upper()} attention net's mask health fell from {best:.2f} to {now:.2f} "
            f"in stage 1 (by more than --attention_keep_best={self.tolerance:g} of its best); "
            f"stage 2 uses its weights of {back} steps before stage 1's end, at that best")
    self.decided.assign(True)
    return messages
