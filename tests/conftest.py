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
