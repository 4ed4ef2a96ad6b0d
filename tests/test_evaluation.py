"""Evaluate end to end on tiny runs: attention model and plain CycleGAN."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import tiny
from tests.helpers import run
from uagit_tf import config, evaluation, training
from uagit_tf.metrics import masks as mask_metrics
from uagit_tf.data import pipeline
from uagit_tf.domains import DIRECTIONS
from uagit_tf.translator import Translator


def test_evaluate_command_writes_metrics_report_and_worst_images(trained_workdir, tmp_path):
  out = tmp_path / "eval"
  proc = run("trainers.evaluate", f"--workdir={trained_workdir}", f"--output={out}",
             "--classifier_steps=20")
  assert "mask IoU" in proc.stdout and "translation success" in proc.stdout
  metrics = json.load(open(out / "metrics.json"))
  cfg = config.load(trained_workdir)
  test = pipeline.sources(cfg.data, "test", cfg.run.seed)
  for d, (src, _) in DIRECTIONS.items():
    m = metrics[d]
    assert m["images"] == 4  # synthetic_test_size of the tiny preset.
    # The command's numbers are the metrics of the workdir's own translations.
    images, true = next(iter(pipeline.test_batches(test[src], 32, 4, with_masks=True)))
    out_d = Translator.from_workdir(trained_workdir, d)(images)
    pred = out_d["mask"].numpy()
    assert m["mask_iou"] == pytest.approx(mask_metrics.mask_iou(pred, true.numpy()).mean())
    assert m["background_mae"] == pytest.approx(mask_metrics.background_mae(
        images.numpy(), out_d["translated"].numpy(), true.numpy()).mean(), rel=1e-4)
    assert m["background_mae"] > 0
    # A share of the 4 outputs (what it says of a translator: the identity test below).
    assert m["success"] in (0.0, 0.25, 0.5, 0.75, 1.0)
    assert os.path.exists(out / f"worst_iou_{d}.png")
  assert metrics["classifier_accuracy"] >= 7 / 8  # 4 + 4 held-out images.
  page = (out / "report.html").read_text()
  assert "samples_a2b.png" in page and "mask IoU" in page


def test_an_identity_translator_translates_nothing_and_keeps_every_background(tmp_path):
  # It returns its input with an empty mask: the classifier, which tells the domains
  # apart, sees the source domain in every output.
  identity = lambda images: {"mask": tf.zeros_like(images[..., :1]), "translated": images}
  cfg = tiny()
  results = evaluation.evaluate({d: identity for d in DIRECTIONS}, cfg, str(tmp_path / "eval"),
                                classifier_steps=20)
  assert results["classifier_accuracy"] >= 7 / 8
  for direction in DIRECTIONS:
    m = results[direction]
    assert (m["success"], m["background_mae"], m["mask_iou"], m["collapse_zero"]) == (
        0.0, 0.0, 0.0, 1.0), direction


@pytest.mark.usefixtures("eager")  # The loop's logic; see tests/conftest.py.
def test_plain_cyclegan_is_evaluated_with_an_all_ones_mask(tmp_path):
  cfg = tiny(attention=False, epochs=1, attention_epochs=1, decay_epoch=1)
  trainer = training.Trainer(cfg, str(tmp_path / "wd"))
  trainer.fit(max_steps=1, progress=False)
  translators = {d: Translator.from_networks(trainer.nets, d) for d in DIRECTIONS}
  results = evaluation.evaluate(translators, cfg, str(tmp_path / "eval"),
                                classifier_steps=5)
  test = pipeline.sources(cfg.data, "test", cfg.run.seed)
  for direction, (src, _) in DIRECTIONS.items():
    masks = np.concatenate([m.numpy() for _, m in pipeline.test_batches(
        test[src], 32, 8, with_masks=True)])
    # Predicted mask = everything, so IoU = the object's share of each image.
    np.testing.assert_allclose(results[direction]["mask_iou"], masks.mean(axis=(1, 2, 3)).mean(),
                               rtol=1e-6)
    assert results[direction]["collapse_one"] == 1.0


def test_evaluate_without_masks_is_a_clear_error(tmp_path, trained_workdir):
  from tests.helpers import make_folder_dataset
  root = make_folder_dataset(tmp_path / "data", n=2)
  proc = run("trainers.evaluate", f"--workdir={trained_workdir}", f"--dataset={root}",
             f"--output={tmp_path / 'e'}", check=False)
  assert proc.returncode != 0 and "needs ground-truth masks" in proc.stderr


def test_kid_and_fid_per_direction_with_a_random_inception(trained_workdir, tmp_path):
  import keras
  from uagit_tf.metrics import inception
  from uagit_tf.workdir import restore_networks
  keras.utils.set_random_seed(0)
  cfg, nets = restore_networks(trained_workdir)
  translators = {d: Translator.from_networks(nets, d) for d in DIRECTIONS}
  results = evaluation.evaluate(translators, cfg, str(tmp_path), classifier_steps=5,
                                feature_model=inception.build_extractor("random"), kid=True,
                                fid=True, kid_subsets=10)
  for d in DIRECTIONS:
    assert np.isfinite(results[d]["kid_x100"]) and results[d]["kid_x100_std"] >= 0
    assert results[d]["fid"] >= 0
  assert "KID x100" in evaluation.table(results)
  assert json.load(open(tmp_path / "metrics.json"))["a2b"]["fid"] == results["a2b"]["fid"]


def test_kid_without_weights_fails_fast(trained_workdir, tmp_path):
  proc = run("trainers.evaluate", f"--workdir={trained_workdir}", "--kid",
             f"--inception_weights={tmp_path / 'missing.h5'}", check=False)
  assert proc.returncode != 0 and "InceptionV3 weights not found" in proc.stderr
