"""Stage 1's best attention nets, kept for stage 2 (--attention_keep_best)."""

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import tiny
from uagit_tf import keeper as keeper_lib
from uagit_tf import training
from uagit_tf.models.attention import AttentionNet


def test_health_is_the_object_share_covered_less_the_background_share():
  likeness = np.zeros([2, 16, 16, 1], np.float32)
  likeness[:, :, :8] = 1.0  # Left half coloured like the border, right half an object.
  likeness = tf.constant(likeness)
  health = lambda mask: float(keeper_lib.health(tf.constant(mask, tf.float32), likeness))
  assert health(1.0 - likeness.numpy()) == pytest.approx(1.0, abs=1e-4)  # The object alone.
  assert health(np.zeros([2, 16, 16, 1])) == pytest.approx(0.0, abs=1e-4)  # Dead.
  assert health(np.ones([2, 16, 16, 1])) == pytest.approx(0.0, abs=1e-4)  # Everything.
  assert health(likeness.numpy()) == pytest.approx(-1.0, abs=1e-4)  # Inverted.
  half = 0.5 * (1.0 - likeness.numpy())
  assert health(half) == pytest.approx(0.5, abs=1e-4)


def _net():
  net = AttentionNet(width=4, name="att_a")
  net(tf.zeros([1, 16, 16, 3]))
  return net


def test_a_net_that_faded_goes_back_to_its_best_weights_once():
  nets = {"a": _net(), "b": _net()}
  keeper = keeper_lib.AttentionKeeper(nets, tolerance=0.15)
  update = tf.function(lambda h: keeper.update(nets, h))
  for step in range(300):  # A rises, then fades; B holds.
    a = 0.8 * (step + 1) / 150 if step < 150 else 0.0
    if step == 149:
      best_a = [w.numpy().copy() for w in nets["a"].weights]
    means = update({"a": tf.constant(a), "b": tf.constant(0.6)})
    if step == 149:
      peak = float(means["a"])
    for w in nets["a"].weights + nets["b"].weights:  # Training moves every weight.
      w.assign(w + 0.01)
  assert float(keeper.best["a"]) == pytest.approx(peak) and peak > 0.45
  assert float(keeper.best_at["a"]) == 150.0
  assert float(means["a"]) < 0.85 * peak
  assert float(means["b"]) == pytest.approx(0.6, abs=1e-4)
  b_last = [w.numpy().copy() for w in nets["b"].weights]

  messages = list(keeper.finish(nets).values())
  assert len(messages) == 1 and "the A attention net" in messages[0]
  assert "150 steps before stage 1's end" in messages[0]
  for got, want in zip(nets["a"].weights, best_a):
    np.testing.assert_array_equal(got.numpy(), want)
  for got, want in zip(nets["b"].weights, b_last):  # B held its health: untouched.
    np.testing.assert_array_equal(got.numpy(), want)

  for w in nets["a"].weights:  # Decided once: a later call (a resumed stage 2) does nothing.
    w.assign(w + 1.0)
  assert keeper.finish(nets) == {}
  np.testing.assert_array_equal(nets["a"].weights[0].numpy(), best_a[0] + 1.0)


def _faded(best: float, end: float) -> list[str]:
  """What `finish` says of a net whose health held at `best`, then at `end`."""
  nets = {"a": _net()}
  keeper = keeper_lib.AttentionKeeper(nets, tolerance=0.15)
  for step in range(400):
    keeper.update(nets, {"a": tf.constant(best if step < 200 else end)})
  last = [w.numpy().copy() for w in nets["a"].weights]
  nets["a"].weights[0].assign(nets["a"].weights[0] + 1.0)
  messages = list(keeper.finish(nets).values())
  kept = np.array_equal(nets["a"].weights[0].numpy(), last[0] + 1.0)
  assert kept != bool(messages)  # Restored exactly when it says so.
  return messages


def test_the_tolerance_is_a_share_of_the_best_health():
  # The same fall of 0.05 is a wobble from 0.8 (6%) and a fade from 0.2 (25%).
  assert _faded(0.8, 0.75) == []
  assert len(_faded(0.2, 0.15)) == 1
  assert "fell from 0.20 to 0.16" in _faded(0.2, 0.15)[0]  # The mean: 200 steps on.
  assert _faded(0.3, 0.26) == []  # 13%: within.
  # A net that never covered its objects more than the background has no best to keep.
  assert _faded(-0.1, -0.5) == []


def test_stage_two_starts_from_the_kept_weights_and_logs_it(tmp_path):
  # 2 epochs x 3 steps, stage 2 from step 3. After stage 1, make the keeper's record say
  # that A's masks were far healthier before; stage 2 must start from its copy.
  cfg = tiny()
  trainer = training.Trainer(cfg, str(tmp_path))
  trainer.fit(max_steps=3, progress=False)
  keeper = trainer.task.keeper
  assert float(keeper.steps) == 3.0 and bool(keeper.decided) is False
  for copy, weight in zip(keeper.copies["a"], trainer.nets.att["a"].weights):
    copy.assign(weight + 0.5)
  keeper.best["a"].assign(1.0)
  keeper.best["b"].assign(float(keeper.health_now("b")))  # B: no drop.
  b_before = [w.numpy().copy() for w in trainer.nets.att["b"].weights]
  trainer.save()  # The record travels with the checkpoint: resume and go on.
  del trainer

  resumed = training.Trainer(cfg, str(tmp_path))
  a_copy = [c.numpy().copy() for c in resumed.task.keeper.copies["a"]]
  resumed.fit(progress=False)
  for got, want in zip(resumed.nets.att["a"].weights, a_copy):
    np.testing.assert_array_equal(got.numpy(), want)
  for got, want in zip(resumed.nets.att["b"].weights, b_before):
    np.testing.assert_array_equal(got.numpy(), want)
  assert bool(resumed.task.keeper.decided)
  from tensorboard.backend.event_processing import event_accumulator
  acc = event_accumulator.EventAccumulator(str(tmp_path / "logs"), size_guidance={"tensors": 0})
  acc.Reload()
  kept = [tf.make_ndarray(e.tensor_proto).item().decode() for e in acc.Tensors("masks/kept")]
  assert len(kept) == 1 and "the A attention net's mask health fell" in kept[0]
  assert "masks/mask_health_a" in acc.Tags()["tensors"]

def test_keep_best_off_builds_no_keeper_and_the_paper_preset_has_none():
  from uagit_tf import config
  from uagit_tf.steps import TrainStep
  assert config.Config().schedule.attention_keep_best == 0.15
  assert config.LEGACY_VALUES["attention_keep_best"] == 0.0
  assert (config.preset("paper").schedule.attention_keep_best
          == config.preset("demo").schedule.attention_keep_best == 0.0)
  assert TrainStep(tiny(attention_keep_best=0.0)).keeper is None
  assert "attention_keeper" not in TrainStep(tiny(attention_keep_best=0.0)).checkpointables()
  for bad in (-0.1, 1.0):
    with pytest.raises(ValueError, match=r"attention_keep_best must be in \[0, 1\)"):
      tiny(attention_keep_best=bad)
