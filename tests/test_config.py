"""Configs: presets, JSON round trip, validation, resume compatibility."""

import json

import pytest

from uagit_tf import config


def test_defaults_are_the_papers_settings():
  cfg = config.Config()
  assert (cfg.model.ngf, cfg.model.ndf, cfg.model.n_res_blocks) == (32, 64, 9)
  s, loss = cfg.schedule, cfg.loss
  assert (s.epochs, s.decay_epoch) == (100, 50)
  assert (s.lr, s.beta1, s.beta2, loss.lambda_cyc, loss.lambda_id) == (1e-4, 0.5, 0.999, 10.0, 0.0)
  assert (loss.mask_threshold, loss.pool_size, cfg.data.batch_size) == (0.1, 50, 1)
  assert (cfg.data.image_size, cfg.data.load_size) == (256, 286)
  assert s.attention_epochs == 30
  # Whether the border is background is decided on the data (background_prior.py).
  assert cfg.loss.background_prior == "auto" and config.preset("paper").loss.background_prior == "off"
  # Not the paper's: the border prior's fields, each set back by the paper preset.
  paper = config.flat(config.preset("paper"))
  defaults = config.flat(cfg)
  assert {k for k in defaults if defaults[k] != paper[k]} == set(config.PAPER_METHOD) | {
      "background_prior"}
  assert (loss.lambda_mask_background, loss.lambda_mask_object, s.attention_lr_mult) == (5, 5, 10)
  assert loss.disc_hide_background and cfg.model.attention_decoder_kernel == 3
  assert loss.cycle_object_weight == 0.0 and config.preset("demo").loss.cycle_object_weight == 1
  # The border prior's earlier mechanisms are gone; stage 1 is the paper's 30 epochs.
  assert s.attention_epochs == 30
  assert {"attention_polarity", "attention_keep_best", "lambda_mask_hard", "lambda_mask_ring",
          "lambda_mask_margin", "stage1_disc_input"} <= set(config.REMOVED_FIELDS)
  assert not set(config.REMOVED_FIELDS) & set(config.FIELDS)
  # A workdir from before keeps what it trained with.
  assert config.LEGACY_VALUES["attention_lr_mult"] == 1.0
  assert config.LEGACY_VALUES["lambda_mask_object"] == 0
  assert cfg.model.disc_norm_first and "disc_norm_first" not in config.LEGACY_VALUES
  demo = config.preset("demo")
  assert not demo.loss.disc_hide_background and demo.loss.lambda_mask_object == 0
  assert demo.schedule.attention_lr_mult == 1.0


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
    ({"disc_hide_start": 0.9, "disc_hide_end": 0.5}, "disc_hide_start and disc_hide_end"),
    ({"no_such_field": 1}, "no_such_field"),
])
def test_invalid_values_name_the_field(overrides, match):
  with pytest.raises(ValueError, match=match):
    config.preset("tiny", **overrides)


def test_every_field_belongs_to_one_concern_with_a_short_help():
  import dataclasses
  names = [f.name for cls in config.GROUPS.values() for f in dataclasses.fields(cls)]
  assert len(names) == len(set(names)) == len(config.FIELDS)
  for cls in config.GROUPS.values():
    for f in dataclasses.fields(cls):
      assert len(f.metadata["help"]) <= 80, f.name


def test_a_config_json_of_the_flat_model_train_layout_still_loads(tmp_path):
  cfg = config.preset("demo", seed=4, lambda_id=0.5, strategy="mirrored")
  flat = config.flat(cfg)
  model = {k: v for k, v in flat.items() if config.FIELDS[k] == "model"}
  train = {k: v for k, v in flat.items() if config.FIELDS[k] != "model"}
  (tmp_path / "config.json").write_text(json.dumps({"model": model, "train": train}))
  assert config.load(str(tmp_path)) == cfg
  (tmp_path / "config.json").write_text(json.dumps({"model": model, "optim": {}}))
  with pytest.raises(ValueError, match="Unknown config sections: \\['optim'\\]"):
    config.load(str(tmp_path))


def test_a_config_json_from_before_a_field_existed_keeps_its_old_behaviour(tmp_path):
  d = config.Config().to_dict()
  for field in config.LEGACY_VALUES:
    del d[config.FIELDS[field]][field]
  (tmp_path / "config.json").write_text(json.dumps(d))
  old = config.flat(config.load(str(tmp_path)))
  assert {k: old[k] for k in config.LEGACY_VALUES} == config.LEGACY_VALUES
  assert old["residual_relu"] is False and old["stage2_fake"] == "generated"


def test_the_paper_preset_is_the_authors_code():
  cfg = config.preset("paper")
  assert cfg.model.attention_decoder_kernel == 1 and cfg.model.residual_relu
  assert cfg.loss.stage2_fake == "composite" and not cfg.model.disc_norm_stage2
  assert cfg.model.attention_refine_radius == 0 and cfg.loss.lambda_mask_background == 0
  assert cfg.loss.cycle_object_weight == 1.0  # The whole image's cycle, as the paper's.
  assert not cfg.loss.disc_hide_background  # D sees every pixel.
  assert (cfg.schedule.lr, cfg.schedule.epochs, cfg.schedule.attention_epochs) == (1e-4, 100, 30)
  assert cfg.schedule.attention_warmup_epochs == 0 and cfg.loss.lambda_mask == 0
  assert cfg.loss.lambda_mask_background == cfg.loss.lambda_mask_object == 0  # No mask prior.
  assert cfg.schedule.attention_lr_mult == 1.0
  assert cfg.model.disc_norm_first  # Instance norm after every conv of D but the last.


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


def test_a_config_naming_removed_options_loads_with_one_line(tmp_path, caplog):
  cfg = config.preset("tiny")
  saved = cfg.to_dict()
  saved["loss"].update(lambda_mask_tv=0.5, lambda_mask_cycle=0.0, disc_background_swap=0.0,
                       stage1_disc_input="masked_and_whole", lambda_mask_ring=1.0)
  saved["model"].update(attention_polarity_ballot="colour", attention_polarity_vote=False)
  (tmp_path / "config.json").write_text(json.dumps(saved))
  with caplog.at_level("WARNING"):
    loaded = config.load(str(tmp_path))
  assert loaded == cfg
  lines = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
  assert len(lines) == 1, lines
  # It names what was used (not the removed options left at "off").
  assert "lambda_mask_tv=0.5" in lines[0] and "stage1_disc_input='masked_and_whole'" in lines[0]
  assert "lambda_mask_ring=1.0" in lines[0] and "lambda_mask_cycle" not in lines[0]
  assert "attention_polarity_vote=False" in lines[0] and "checkpoints" not in lines[0]
  # The border polarity's nets held one more weight: the line says their checkpoints do
  # not load here, and what still serves them.
  saved["model"]["attention_polarity"] = "border"
  (tmp_path / "config.json").write_text(json.dumps(saved))
  caplog.clear()
  with caplog.at_level("WARNING"):
    assert config.load(str(tmp_path)) == cfg
  line, = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
  assert "attention_polarity='border'" in line and "checkpoints do not load here" in line
  # A config whose removed options were all off loads silently.
  saved["loss"].update(lambda_mask_tv=0.0, stage1_disc_input="whole", lambda_mask_ring=0.0)
  saved["model"].update(attention_polarity_vote=True, attention_polarity="free")
  (tmp_path / "config.json").write_text(json.dumps(saved))
  caplog.clear()
  with caplog.at_level("WARNING"):
    assert config.load(str(tmp_path)) == cfg
  assert not [r for r in caplog.records if r.levelname == "WARNING"]
  # The flags are gone.
  with pytest.raises(ValueError, match="Unknown config fields"):
    config.preset("tiny", lambda_mask_tv=0.5)
  with pytest.raises(ValueError, match="Unknown config fields"):
    config.preset("tiny", attention_polarity_vote=False)
  with pytest.raises(ValueError, match="Unknown config fields"):
    config.preset("tiny", attention_keep_best=0.15)
