"""Configs: presets, JSON round trip, validation, resume compatibility."""

import json

import pytest

from uagit_tf import config


def test_defaults_are_the_papers_settings():
  cfg = config.Config()
  assert (cfg.model.ngf, cfg.model.ndf, cfg.model.n_res_blocks) == (32, 64, 9)
  t = cfg.train
  assert (t.epochs, t.attention_epochs, t.decay_epoch) == (100, 30, 50)
  assert (t.lr, t.beta1, t.beta2, t.lambda_cyc, t.lambda_id) == (1e-4, 0.5, 0.999, 10.0, 0.0)
  assert (t.mask_threshold, t.pool_size, t.batch_size) == (0.1, 50, 1)
  assert (t.image_size, t.load_size) == (256, 286)


def test_json_round_trip(tmp_path):
  cfg = config.preset("tiny", lr=3e-4, attention=False)
  config.save(cfg, str(tmp_path))
  assert config.load(str(tmp_path)) == cfg
  assert json.load(open(tmp_path / "config.json"))["model"]["attention"] is False


@pytest.mark.parametrize("overrides,match", [
    ({"image_size": 30}, "multiple of 4"),
    ({"load_size": 16}, "load_size"),
    ({"attention_epochs": 5}, "attention_epochs"),
    ({"mask_threshold": 1.5}, "mask_threshold"),
    ({"ngf": 0}, "ngf"),
    ({"intra_op_threads": -1}, "intra_op_threads must be >= 0"),
    ({"no_such_field": 1}, "no_such_field"),
])
def test_invalid_values_name_the_field(overrides, match):
  with pytest.raises(ValueError, match=match):
    config.preset("tiny", **overrides)


def test_unknown_preset():
  with pytest.raises(ValueError, match="Unknown preset"):
    config.preset("huge")


def test_missing_config_is_a_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError, match="not a uagit_tf workdir"):
    config.load(str(tmp_path))


def test_resume_rejects_another_architecture_but_allows_more_epochs():
  saved = config.preset("tiny")
  config.check_resumable(saved, config.override(saved, {"epochs": 10, "lr": 1e-3}))
  with pytest.raises(ValueError, match="ngf: workdir has 8, flags give 16"):
    config.check_resumable(saved, config.override(saved, {"ngf": 16}))
  with pytest.raises(ValueError, match="image_size"):
    config.check_resumable(saved, config.override(saved, {"image_size": 64, "load_size": 72}))
