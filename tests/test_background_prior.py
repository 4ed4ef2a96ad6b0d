"""--background_prior: on, saliency, off (the paper's method) and auto, measured on the data."""

import numpy as np
import pytest
import tensorflow as tf

from uagit_tf import background_prior
from uagit_tf import config
from uagit_tf.data import pipeline


def test_off_is_the_paper_preset_and_keeps_what_the_user_set():
  off = config.apply_background_prior(config.Config(), "off")
  assert off == config.preset("paper")
  assert {k: config.flat(off)[k] for k in config.PAPER_METHOD} == config.PAPER_METHOD
  # A field set away from its default is the user's: off leaves it.
  mine = config.apply_background_prior(
      config.Config(loss=config.LossConfig(lambda_mask_object=2.0)), "off")
  assert mine.loss.lambda_mask_object == 2.0 and mine.loss.lambda_mask_background == 0.0
  # on changes no other field.
  on = config.apply_background_prior(config.Config(), "on")
  assert config.flat(on) == {**config.flat(config.Config()), "background_prior": "on"}
  with pytest.raises(ValueError, match="takes one of"):
    config.apply_background_prior(config.Config(), "auto")


def test_saliency_is_the_paper_with_the_saliency_prior_and_given_fields_win():
  sal = config.apply_background_prior(config.Config(), "saliency")
  assert {k: config.flat(sal)[k] for k in config.SALIENCY_METHOD} == config.SALIENCY_METHOD
  assert sal.loss.lambda_saliency > 0 and sal.schedule.attention_lr_mult > 1
  assert config.flat(sal) == {**config.flat(config.preset("paper")),
                              **config.SALIENCY_METHOD, "background_prior": "saliency"}
  # A field the user named keeps its value even where that is the default (--epochs
  # style flags: `given`), as one set away from its default does.
  mine = config.apply_background_prior(config.Config(), "off",
                                       given=frozenset({"disc_hide_background"}))
  assert mine.loss.disc_hide_background and mine.loss.lambda_mask_object == 0.0
  mine = config.apply_background_prior(config.Config(), "saliency",
                                       given=frozenset({"attention_lr_mult"}))
  assert mine.schedule.attention_lr_mult == 10.0 and mine.loss.lambda_saliency == 5.0
  mine = config.apply_background_prior(
      config.override(config.Config(), {"attention_lr_mult": 2.0}), "saliency")
  assert mine.schedule.attention_lr_mult == 2.0


def test_unlike_share_is_the_share_of_colours_the_border_does_not_show():
  # A grey image with a red square away from the border, covering 1/4 of it.
  images = np.full([2, 64, 64, 3], -0.2, np.float32)
  images[0, 16:48, 16:48] = [0.9, -0.8, -0.8]
  shares = background_prior.unlike_share(tf.constant(images))
  assert shares[0] == pytest.approx(0.25, abs=0.03) and shares[1] == 0.0


def _resolved(variant, **overrides):
  cfg = config.preset("tiny", synthetic_variant=variant, synthetic_background_mix=0.0,
                      synthetic_train_size=background_prior.SAMPLE_IMAGES, **overrides)
  return background_prior.resolve(cfg, pipeline.sources(cfg.data, "train", 0))


def test_auto_keeps_the_prior_where_the_border_shows_the_background(caplog):
  with caplog.at_level("INFO"):
    cfg = _resolved("hard")
  assert cfg == config.preset("tiny", synthetic_variant="hard", synthetic_background_mix=0.0,
                              synthetic_train_size=background_prior.SAMPLE_IMAGES,
                              background_prior="on")
  assert "--background_prior=auto chose on" in caplog.text


@pytest.mark.parametrize("variant", ["fill", "clutter"])
def test_auto_trains_the_saliency_prior_where_it_does_not(variant, caplog):
  with caplog.at_level("WARNING"):
    cfg = _resolved(variant)
  assert cfg.loss.background_prior == "saliency"
  assert cfg.model.attention_decoder_kernel == 1 and not cfg.loss.disc_hide_background
  assert cfg.loss.lambda_saliency == config.SALIENCY_METHOD["lambda_saliency"]
  assert "--background_prior=auto chose saliency" in caplog.text
  assert "% of its pixels" in caplog.text and "share their kind of background" in caplog.text
  # Asked for, the prior stays; a plain CycleGAN has nothing to decide.
  assert _resolved(variant, background_prior="on").loss.lambda_mask_background == 5.0
  assert _resolved(variant, attention=False).loss.background_prior == "on"
