"""Shared fixtures: small configs and one trained tiny workdir reused by several tests."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from uagit_tf import config  # noqa: E402


def tiny(**overrides) -> config.Config:
  """The tiny preset (32 px, thin nets) with overrides; deterministic for exact checks."""
  return config.preset("tiny", **{"deterministic": True, **overrides})


@pytest.fixture(scope="session")
def trained_workdir(tmp_path_factory):
  """A workdir trained through both stages with the tiny preset (6 steps)."""
  from uagit_tf import training
  from uagit_tf import workdir as workdir_lib
  workdir = str(tmp_path_factory.mktemp("trained"))
  cfg = tiny()
  workdir_lib.prepare(cfg, workdir)
  training.Trainer(cfg, workdir).fit(progress=False)
  return workdir


# tiny nets with the default method, trained until both directions' masks hold objects:
# 20 epochs x 30 steps (about 40 s). The 6-step `trained_workdir`'s masks are noise.
ALIVE = {"synthetic_train_size": 64, "synthetic_background_mix": 0.0, "epochs": 20,
         "attention_epochs": 10, "decay_epoch": 10, "steps_per_epoch": 30,
         "checkpoint_every": 10**6, "checkpoint_each_epoch": False, "summary_every": 100,
         "image_summary_every": 10**6}


@pytest.fixture(scope="session")
def alive_workdir(tmp_path_factory):
  """A workdir of the tiny preset trained 600 steps: masks that hold the objects."""
  from uagit_tf import training
  from uagit_tf import workdir as workdir_lib
  workdir = str(tmp_path_factory.mktemp("alive"))
  cfg = config.preset("tiny", **ALIVE)
  workdir_lib.prepare(cfg, workdir)
  training.Trainer(cfg, workdir).fit(progress=False)
  return workdir
