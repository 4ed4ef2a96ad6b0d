"""Shared fixtures: small configs, and trained tiny workdirs and an export built once per
test run and shared by every xdist worker (a file lock; the first worker to ask builds)."""

import contextlib
import fcntl
import os
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from uagit_tf import config  # noqa: E402
from uagit_tf import distribute  # noqa: E402

# Every worker's thread pools as the trainer sets them, before any TensorFlow op fixes them:
# a fixture built by one worker (`trained_workdir`) is compared bit for bit with runs of
# another, and a different number of threads per op reduces in another order.
distribute.configure_threads(0, 0)


def tiny(**overrides) -> config.Config:
  """The tiny preset (32 px, thin nets) with overrides; deterministic for exact checks."""
  return config.preset("tiny", **{"deterministic": True, **overrides})


# tiny nets with the default method, trained until both directions' masks hold objects:
# 20 epochs x 30 steps (about 45 s). The 6-step `trained_workdir`'s masks are noise. At
# the default lr (1e-4) A's masks were still forming at 600 steps (0-8% of pixels above
# 0.5 from run to run); at 3e-4 both directions hold 10-19% on seeds 0 and 1, with one
# thread per op, and with oneDNN held to AVX2.
ALIVE = {"synthetic_train_size": 64, "synthetic_background_mix": 0.0, "epochs": 20,
         "attention_epochs": 10, "decay_epoch": 10, "steps_per_epoch": 30, "lr": 3e-4,
         "deterministic": True, "checkpoint_every": 10**6, "checkpoint_each_epoch": False,
         "summary_every": 100, "image_summary_every": 10**6}


@contextlib.contextmanager
def _functions_run_eagerly(value: bool):
  import tensorflow as tf
  before = tf.config.functions_run_eagerly()
  tf.config.run_functions_eagerly(value)
  try:
    yield
  finally:
    tf.config.run_functions_eagerly(before)


def eagerly():
  """tf.functions run as plain Python inside: the same maths without the 10-20 s that
  tracing a step costs. For tests of the step's arithmetic and of the loop's logic; the
  traced step keeps its own tests (resume, distribution, XLA, export)."""
  return _functions_run_eagerly(True)


def traced():
  """tf.functions traced as usual inside, whatever the caller set."""
  return _functions_run_eagerly(False)


@pytest.fixture
def eager():
  with eagerly():
    yield


@contextlib.contextmanager
def _locked(path: str):
  with open(path + ".lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(lock, fcntl.LOCK_UN)


def shared(tmp_path_factory, name: str, build) -> str:
  """The folder `name`, made by build(folder) once per test run for every worker.

  Workers of one run share the parent of their base temp folders. A build that fails
  leaves nothing behind, so the next worker tries again (and fails the same way).
  """
  root = tmp_path_factory.getbasetemp()
  if os.environ.get("PYTEST_XDIST_WORKER"):
    root = root.parent
  folder = os.path.join(str(root), f"shared-{name}")
  with _locked(folder):
    if not os.path.isdir(folder):
      partial = folder + ".partial"
      shutil.rmtree(partial, ignore_errors=True)
      with traced():  # Whichever test asks first, eager or not, builds the same thing.
        build(partial)
      os.rename(partial, folder)
  return folder


def _train(cfg: config.Config, workdir: str) -> None:
  from uagit_tf import training
  from uagit_tf import workdir as workdir_lib
  workdir_lib.prepare(cfg, workdir)
  training.Trainer(cfg, workdir).fit(progress=False)


@pytest.fixture(scope="session")
def trained_workdir(tmp_path_factory):
  """A workdir trained through both stages with the tiny preset (6 steps). Shared: tests
  that change a workdir copy it first."""
  return shared(tmp_path_factory, "trained", lambda w: _train(tiny(), w))


@pytest.fixture(scope="session")
def alive_workdir(tmp_path_factory):
  """A workdir of the tiny preset trained 600 steps: masks that hold the objects."""
  return shared(tmp_path_factory, "alive",
                lambda w: _train(config.preset("tiny", **ALIVE), w))


@pytest.fixture(scope="session")
def export_base(trained_workdir, tmp_path_factory):
  """`trained_workdir` exported once through the command (version 1), for every test that
  only reads an export; a test that adds versions copies it."""
  from tests.helpers import run

  def build(folder):
    base = os.path.join(folder, "uagit")
    path = run("export.saved_model", f"--workdir={trained_workdir}",
               f"--export_dir={base}").stdout.strip().splitlines()[-1]
    assert path == os.path.join(base, "1")
  return os.path.join(shared(tmp_path_factory, "export", build), "uagit")
