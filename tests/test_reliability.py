"""A run that dies loses nothing: SIGKILL in checkpoint writes and at random moments, resume,
same weights."""

import os
import random
import signal
import time

import numpy as np
import tensorflow as tf

from tests.helpers import latest_step, run, start

FLAGS = ["--preset=tiny", "--deterministic", "--epochs=2", "--attention_epochs=1",
         "--decay_epoch=1", "--steps_per_epoch=5", "--checkpoint_every=1"]


def checkpoint_values(workdir):
  path = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
  return path, {name: tf.train.load_variable(path, name)
                for name, _ in tf.train.list_variables(path) if "OBJECT_GRAPH" not in name}


def _writing(workdir) -> bool:
  """Whether a checkpoint write is under way (or was cut off): a `ckpt-N_temp` folder, or a
  checkpoint newer than the one the state file names."""
  folder = os.path.join(workdir, "checkpoints")
  names = os.listdir(folder) if os.path.isdir(folder) else []
  steps = [int(n[len("ckpt-"):-len(".index")]) for n in names
           if n.startswith("ckpt-") and n.endswith(".index")]
  return (any(n.endswith("_temp") for n in names)
          or bool(steps) and max(steps) > latest_step(workdir))


def test_sigkill_in_checkpoint_writes_and_at_random_moments_then_resume_matches(tmp_path):
  straight = str(tmp_path / "straight")
  run("trainers.train", f"--workdir={straight}", *FLAGS)
  want_path, want = checkpoint_values(straight)
  assert want_path.endswith("ckpt-10")

  rng = random.Random(7)
  killed = str(tmp_path / "killed")
  kills, in_writes = 0, 0
  # A kill the moment a checkpoint write is seen to start (a write takes 20-30 ms here),
  # again if that one missed it, then one at a random moment in a step or the next write.
  for during_write in (True, True, False):
    if during_write and in_writes:
      continue
    target = latest_step(killed) + rng.randint(1, 3)
    proc = start("trainers.train", f"--workdir={killed}", *FLAGS)
    deadline = time.time() + 300
    while proc.poll() is None and latest_step(killed) < target and time.time() < deadline:
      time.sleep(0.05)
    while during_write and proc.poll() is None and not _writing(killed):
      time.sleep(0.001)  # A write lasts 20-30 ms; a busy loop would take a core from it.
    if not during_write:
      time.sleep(rng.random() * 0.3)
    if proc.poll() is None:
      proc.send_signal(signal.SIGKILL)
      proc.wait()
      kills += 1
      in_writes += _writing(killed)  # The write was cut off: its pieces are still there.
    proc.wait()
  assert kills >= 2 and in_writes >= 1, (kills, in_writes)
  print(f"kills {kills}, of them in a checkpoint write {in_writes}")
  run("trainers.train", f"--workdir={killed}", *FLAGS)  # Resume to the end.
  got_path, got = checkpoint_values(killed)
  assert got_path.endswith("ckpt-10")
  assert got.keys() == want.keys()
  for name in want:
    np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_two_identical_deterministic_runs_give_bit_identical_checkpoints(tmp_path):
  from tests.conftest import tiny
  from uagit_tf import training
  values = []
  for name in ("one", "two"):
    trainer = training.Trainer(tiny(), str(tmp_path / name))
    trainer.fit(max_steps=2, progress=False)
    values.append(checkpoint_values(str(tmp_path / name))[1])
  assert values[0].keys() == values[1].keys()
  for name in values[0]:
    np.testing.assert_array_equal(values[0][name], values[1][name], err_msg=name)
