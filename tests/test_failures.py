"""Every failure a user can cause is one clear line, and nothing the user owns is lost.

Each named case runs a command as a user would and checks its one-line error (or that it
refused before doing any work), that the runtime's own log lines stay hidden, and that the
user's files are untouched.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import latest_step, make_folder_dataset, run, start, write_image
from uagit_tf import workdir as workdir_lib

RUNTIME_NOISE = ("oneDNN", "cuda", "absl::InitializeLog", "Traceback", "autograph")


def _user_files(tmp_path):
  """A folder of the user's: an image and a file named like an output of it."""
  mine = tmp_path / "mine"
  write_image(str(mine / "cat.png"), size=(20, 24))
  (mine / "cat_mask.png").write_bytes(b"the user's own file")
  return mine


# name -> (function of (tmp_path, workdir) giving the command's args, expected message).
CASES = {
    "translate into an existing file": (
        lambda t, w: ["trainers.translate", f"--workdir={w}",
                      f"--input={_user_files(t) / 'cat.png'}",
                      f"--output={_user_files(t) / 'cat_mask.png'}"], "is a file; give a folder"),
    "translate into its own input folder": (
        lambda t, w: ["trainers.translate", f"--workdir={w}", f"--input={_user_files(t)}",
                      f"--output={_user_files(t)}"], "is the input folder or inside it"),
    "translate into a folder inside its input": (
        lambda t, w: ["trainers.translate", f"--workdir={w}", f"--input={_user_files(t)}",
                      f"--output={_user_files(t) / 'out'}"], "is the input folder or inside it"),
    "translate over a file of the user's": (
        lambda t, w: ["trainers.translate", f"--workdir={w}",
                      f"--input={_user_files(t) / 'cat.png'}", f"--output={_user_files(t)}"],
        "would replace files in"),
    "export into a file": (
        lambda t, w: ["export.saved_model", f"--workdir={w}",
                      f"--export_dir={_user_files(t) / 'cat.png'}"], "is a file; give a folder"),
    "export a negative version": (
        lambda t, w: ["export.saved_model", f"--workdir={w}", f"--export_dir={t / 'models'}",
                      "--version=-3"], "--version must be a positive integer"),
    "tflite into a folder": (
        lambda t, w: ["export.tflite", f"--workdir={w}", f"--output={_user_files(t)}",
                      "--image_size=32"], "is a folder; give a file name"),
    "tflite into an unwritable place": (
        lambda t, w: ["export.tflite", f"--workdir={w}", "--output=/proc/x.tflite",
                      "--image_size=32"], "Cannot write '/proc/x.tflite'"),
    "evaluate no images": (
        lambda t, w: ["trainers.evaluate", f"--workdir={w}", "--num_images=0"],
        "--num_images"),
    "evaluate a folder without masks": (
        lambda t, w: ["trainers.evaluate", f"--workdir={w}",
                      f"--dataset={make_folder_dataset(t / 'nomasks', n=2)}",
                      f"--output={t / 'e'}"], "needs ground-truth masks"),
    "resume with another epoch length": (
        lambda t, w: ["trainers.train", f"--workdir={w}", "--steps_per_epoch=5"],
        "has 3 steps per epoch, these flags give 5"),
    "translate with a checkpoint that does not exist": (
        lambda t, w: ["trainers.translate", f"--workdir={w}", f"--input={_user_files(t)}",
                      f"--output={t / 'o'}", "--checkpoint=999"], "not found"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_bad_command_fails_with_one_clear_line(name, tmp_path, trained_workdir):
  workdir = str(tmp_path / "wd")
  shutil.copytree(trained_workdir, workdir)  # Each case may not touch the shared one.
  args, message = CASES[name]
  mine = tmp_path / "mine"
  proc = run(*args(tmp_path, workdir), check=False)
  assert proc.returncode != 0, proc.stderr[-2000:]
  assert message in proc.stderr, proc.stderr[-2000:]
  assert not any(noise in proc.stderr for noise in RUNTIME_NOISE), proc.stderr[-2000:]
  if mine.exists():  # The user's files are as they were, and nothing was added.
    assert sorted(os.listdir(mine)) == ["cat.png", "cat_mask.png"]
    assert (mine / "cat_mask.png").read_bytes() == b"the user's own file"
  assert not list(tmp_path.glob("**/*.tmp*")), "a temporary file was left behind"


def test_translate_keeps_inputs_apart_whose_names_differ_in_the_extension(tmp_path,
                                                                          trained_workdir):
  images = tmp_path / "in"
  write_image(str(images / "x.png"), size=(20, 24), seed=1)
  write_image(str(images / "x.jpg"), size=(16, 16), seed=2)
  out = tmp_path / "out"
  proc = run("trainers.translate", f"--workdir={trained_workdir}", f"--input={images}",
             f"--output={out}")
  assert "Wrote 2 translation(s)" in proc.stderr
  names = sorted(os.listdir(out))
  assert {"x_jpg_translated.png", "x_png_translated.png", "x_jpg_mask.png"} <= set(names)
  assert tf.io.decode_png(open(out / "x_jpg_input.png", "rb").read()).shape[:2] == (16, 16)
  page = (out / "index.html").read_text()
  assert page.count("<tr>") == 3 and "x.jpg" in page and "x.png" in page  # Header + 2.
  # Translating again into the same folder replaces only what it wrote before.
  (out / "notes.txt").write_text("mine")
  before = {n: (out / n).stat().st_mtime_ns for n in names}
  proc = run("trainers.translate", f"--workdir={trained_workdir}", f"--input={images}",
             f"--output={out}")
  assert "Wrote 2 translation(s)" in proc.stderr
  assert (out / "notes.txt").read_text() == "mine"
  assert sorted(os.listdir(out)) == sorted(names + ["notes.txt"])
  assert all((out / n).stat().st_mtime_ns >= before[n] for n in names)


def test_the_int8_export_calibrates_on_a_folder_when_the_training_data_moved(tmp_path,
                                                                            trained_workdir):
  from uagit_tf import config
  workdir = str(tmp_path / "wd")  # The tiny workdir, as if trained on an image folder...
  shutil.copytree(trained_workdir, workdir)
  data = make_folder_dataset(tmp_path / "data", n=3)
  config.save(config.override(config.load(workdir), {"dataset": data}), workdir)
  shutil.move(data, str(tmp_path / "moved"))  # ... which then moved.
  out = tmp_path / "a2b.tflite"
  proc = run("export.tflite", f"--workdir={workdir}", f"--output={out}", "--image_size=32",
             "--quantize=int8", check=False)
  assert proc.returncode != 0 and "--calibration_data=FOLDER" in proc.stderr
  assert not out.exists()
  run("export.tflite", f"--workdir={workdir}", f"--output={out}", "--image_size=32",
      "--quantize=int8", f"--calibration_data={tmp_path / 'moved' / 'trainA'}")
  assert out.stat().st_size > 1000


def test_a_failed_start_leaves_the_workdir_as_it_was(tmp_path):
  workdir = tmp_path / "wd"
  proc = run("trainers.train", f"--workdir={workdir}", "--preset=tiny",
             f"--dataset={tmp_path / 'nowhere'}", check=False)
  assert proc.returncode != 0 and "neither 'synthetic', an existing folder" in proc.stderr
  assert not (workdir / "config.json").exists() and not (workdir / ".lock").exists()
  # So the next command, with another architecture, is not refused for it.
  from uagit_tf import config
  workdir_lib.check_can_continue(config.preset("tiny", ngf=4), str(workdir))


def test_a_finished_workdir_says_so(tmp_path, trained_workdir):
  workdir = str(tmp_path / "wd")
  shutil.copytree(trained_workdir, workdir)
  proc = run("trainers.train", f"--workdir={workdir}")
  assert "Already complete: step 6 of 6 (2 epochs)" in proc.stderr


def test_a_second_trainer_in_a_workdir_is_refused_and_a_stale_lock_taken_over(tmp_path,
                                                                            caplog):
  workdir = str(tmp_path / "wd")
  with workdir_lib.lock(workdir):  # This process trains there.
    proc = run("trainers.train", f"--workdir={workdir}", "--preset=tiny", check=False)
  assert proc.returncode != 0
  assert f"is being trained by process {os.getpid()}" in proc.stderr
  assert not os.path.exists(os.path.join(workdir, "checkpoints"))
  # A lock left by a process that died is taken over, with a warning.
  dead = subprocess.Popen(["true"])
  dead.wait()
  with open(os.path.join(workdir, ".lock"), "w") as f:
    json.dump({"pid": dead.pid, "host": os.uname().nodename, "since": time.time()}, f)
  with workdir_lib.lock(workdir):
    assert json.load(open(os.path.join(workdir, ".lock")))["pid"] == os.getpid()
  assert "no longer running" in caplog.text
  assert not os.path.exists(os.path.join(workdir, ".lock"))
  # A live process's lock (here pid 1) is not.
  with open(os.path.join(workdir, ".lock"), "w") as f:
    json.dump({"pid": 1, "host": os.uname().nodename, "since": time.time()}, f)
  with pytest.raises(workdir_lib.WorkdirLockedError, match="process 1 on"):
    with workdir_lib.lock(workdir):
      pass


def test_sigint_saves_a_checkpoint_at_the_next_step_and_exits_with_one_line(tmp_path):
  signum = signal.SIGINT
  workdir = str(tmp_path / "wd")
  proc = start("trainers.train", f"--workdir={workdir}", "--preset=tiny", "--epochs=2",
               "--attention_epochs=1", "--decay_epoch=1", "--steps_per_epoch=500",
               "--checkpoint_every=1000", stderr=open(tmp_path / "err", "w"))
  deadline = time.time() + 300
  # Into the steps: after the log line of a step trained (ckpt-0 is written before it).
  while (not re.search(r"step [1-9]\d*/1000", (tmp_path / "err").read_text())
         and proc.poll() is None and time.time() < deadline):
    time.sleep(0.05)
  assert proc.poll() is None, (tmp_path / "err").read_text()[-2000:]
  proc.send_signal(signum)
  assert proc.wait(timeout=120) == 128 + signum
  err = (tmp_path / "err").read_text()
  lines = [l for l in err.splitlines() if l.startswith("train:")]
  step = latest_step(workdir)
  assert step > 0
  assert lines == [f"train: interrupted by {signal.Signals(signum).name} at step {step}; saved "
                   f"{workdir}/checkpoints/ckpt-{step}. Run the same command to resume."]
  assert "Traceback" not in err and not os.path.exists(os.path.join(workdir, ".lock"))


@pytest.mark.usefixtures("eager")  # The loop's logic; see tests/conftest.py.
def test_sigterm_stops_fit_at_a_step_boundary_with_a_checkpoint_of_that_step(tmp_path):
  from tests.conftest import tiny
  from uagit_tf import training
  from uagit_tf.data import pipeline
  # background_prior=auto would read the first samples before fit() (and get the signal
  # there); this test is about the loop.
  cfg = tiny(checkpoint_every=100, background_prior="on")

  class SignalsAtSample:
    """Training data that sends this process SIGTERM while loading its third sample."""

    def __init__(self, source):
      self.source, self.size, self.loaded = source, source.size, 0

    def load(self, index, size):
      def maybe_signal(i):
        self.loaded += 1
        if self.loaded == 3:
          signal.raise_signal(signal.SIGTERM)
        return i
      index = tf.numpy_function(maybe_signal, [index], tf.int64, stateful=True)
      return self.source.load(tf.reshape(index, []), size)

  sources = pipeline.sources(cfg.data, "train", cfg.run.seed)
  trainer = training.Trainer(cfg, str(tmp_path), {"a": SignalsAtSample(sources["a"]),
                                                  "b": sources["b"]})
  handler = signal.getsignal(signal.SIGTERM)
  with pytest.raises(training.TrainingInterrupted, match="SIGTERM at step") as stop:
    trainer.fit(progress=False)
  assert stop.value.step == trainer.current_step < 6  # Stopped early, at a boundary...
  assert latest_step(str(tmp_path)) == stop.value.step  # ... with its checkpoint.
  assert signal.getsignal(signal.SIGTERM) is handler  # The handler before is back.


def test_a_truncated_checkpoint_is_skipped_for_the_one_before(tmp_path, trained_workdir):
  workdir = str(tmp_path / "wd")
  shutil.copytree(trained_workdir, workdir)
  newest = workdir_lib.latest_checkpoint(workdir)
  data = newest + ".data-00000-of-00001"
  with open(data, "r+b") as f:  # A disk that filled, a copy cut short.
    f.truncate(os.path.getsize(data) // 3)
  images = tmp_path / "in"
  write_image(str(images / "a.png"))
  proc = run("trainers.translate", f"--workdir={workdir}", f"--input={images}",
             f"--output={tmp_path / 'out'}")
  assert f"Skipping checkpoint {newest}" in proc.stderr
  assert (tmp_path / "out" / "a_translated.png").exists()
  # Training resumes from the one before, and trains past the bad one.
  from uagit_tf import config, training
  before = workdir_lib.readable_checkpoints(os.path.join(workdir, "checkpoints"))[1]
  trainer = training.Trainer(config.load(workdir), workdir)
  assert trainer.current_step == int(before.rsplit("-", 1)[1]) < 6
  # Asked for by step number, the bad one is a clear error.
  proc = run("trainers.translate", f"--workdir={workdir}", f"--input={images}",
             f"--output={tmp_path / 'out2'}", "--checkpoint=6", check=False)
  assert proc.returncode != 0 and "does not read" in proc.stderr


def test_a_workdir_given_as_a_relative_path_restores(tmp_path, trained_workdir, monkeypatch):
  # TF's state file holds paths relative to its directory; joined twice, a relative
  # --workdir named checkpoints that do not exist, and nothing restored or resumed.
  monkeypatch.chdir(os.path.dirname(trained_workdir))
  relative = os.path.basename(trained_workdir)
  paths = workdir_lib.readable_checkpoints(os.path.join(relative, "checkpoints"))
  assert paths and all(os.path.exists(p + ".index") for p in paths)
  cfg, nets = workdir_lib.restore_networks(relative)
  _, want = workdir_lib.restore_networks(trained_workdir)
  for got, expected in zip(nets.att["a"].weights, want.att["a"].weights):
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_data_that_trains_badly_is_warned_about(tmp_path):
  from tests.conftest import tiny
  from uagit_tf.data import pipeline
  root = tmp_path / "data"
  for d in "AB":
    write_image(str(root / f"train{d}" / "big.png"), size=(40, 40))
    write_image(str(root / f"train{d}" / "dot.png"), size=(1, 1))
  cfg = tiny(dataset=str(root), batch_size=4).data
  warnings = pipeline.sanity_warnings(pipeline.sources(cfg, "train", 0), cfg)
  assert any("--batch_size=4 is larger than domain A's 2" in w for w in warnings)
  assert any("1 image(s) of domain B are less than a quarter" in w and "dot.png" in w
             for w in warnings)


def test_export_versions_are_readable_by_every_user(export_base):
  path = os.path.join(export_base, "1")  # Written by the command (conftest).
  for root, dirs, files in os.walk(path):
    assert os.stat(root).st_mode & 0o777 == 0o755, root
    for name in files:
      assert os.stat(os.path.join(root, name)).st_mode & 0o777 == 0o644, name
  assert np.isfinite(tf.saved_model.load(path).signatures["a2b"](
      images=tf.zeros([1, 8, 8, 3], tf.uint8))["mask"].numpy()).all()


def test_a_checkpoint_of_the_removed_border_polarity_is_a_clear_error(tmp_path, caplog):
  # Its attention nets held a polarity vote before their other weights: a workdir of
  # uagit_tf before the thirty-third session, with attention_polarity="border".
  from uagit_tf import config
  from uagit_tf.models import build_networks
  cfg = config.preset("tiny")
  saved = cfg.to_dict()
  saved["model"]["attention_polarity"] = "border"
  os.makedirs(tmp_path / "old")
  (tmp_path / "old" / "config.json").write_text(json.dumps(saved))
  nets = build_networks(cfg.model, cfg.data.image_size, discriminators=False)
  state = nets.checkpointables()
  for d, net in nets.att.items():
    state[f"att_{d}"] = tf.Module()
    state[f"att_{d}"].weights = [tf.Variable(0.0), *net.weights]
  tf.train.CheckpointManager(tf.train.Checkpoint(**state), str(tmp_path / "old" / "checkpoints"),
                             1).save(3)
  with caplog.at_level("WARNING"), pytest.raises(
      ValueError, match="does not hold what this config describes .*older uagit_tf: .*shape"):
    workdir_lib.restore_networks(str(tmp_path / "old"))
  assert "checkpoints do not load here" in caplog.text and "f0c4d43" in caplog.text
