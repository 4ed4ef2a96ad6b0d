"""The command lines end to end with the tiny preset: train, resume, translate, errors."""

import json
import os

import numpy as np
from PIL import Image

from tests.helpers import latest_step, run, write_image


def test_train_resume_and_translate(tmp_path):
  workdir = str(tmp_path / "wd")
  run("trainers.train", f"--workdir={workdir}", "--preset=tiny", "--epochs=1",
      "--attention_epochs=1", "--decay_epoch=1")
  assert latest_step(workdir) == 3
  saved = json.load(open(os.path.join(workdir, "config.json")))
  assert saved["model"]["ngf"] == 8 and saved["schedule"]["epochs"] == 1
  assert "--ngf=8" in open(os.path.join(workdir, "flags.txt")).read().split()

  # Resume with no flags but more epochs: the saved config is used, the run continues;
  # the strategy and the precision may change on resume (same weights, same checkpoint).
  # So may the CPU thread pools, which the log reports.
  resumed = run("trainers.train", f"--workdir={workdir}", "--epochs=2", "--strategy=mirrored",
                "--mixed_precision=bfloat16", "--intra_op_threads=1", "--inter_op_threads=2")
  assert latest_step(workdir) == 6
  assert "TensorFlow thread pools: intra-op 1, inter-op 2" in resumed.stderr
  saved = json.load(open(os.path.join(workdir, "config.json")))
  assert (saved["schedule"]["epochs"], saved["run"]["strategy"],
          saved["run"]["mixed_precision"]) == (2, "mirrored", "bfloat16")
  bad = run("trainers.train", f"--workdir={workdir}", "--mixed_precision=fp8", check=False)
  assert bad.returncode and "--mixed_precision=fp8: value should be one of" in bad.stderr
  # The flags file reproduces the run's config.
  run("trainers.train", f"--flagfile={workdir}/flags.txt", f"--workdir={workdir}")
  assert latest_step(workdir) == 6

  images = tmp_path / "in"
  write_image(str(images / "wide.png"), size=(21, 50))
  write_image(str(images / "sub" / "gray.jpg"), size=(64, 64), mode="L")
  out = tmp_path / "out"
  run("trainers.translate", f"--workdir={workdir}", f"--input={images}", f"--output={out}",
      "--direction=b2a")
  translated = Image.open(out / "wide_translated.png")
  mask = Image.open(out / "wide_mask.png")
  assert translated.size == mask.size == (50, 21)  # The input's own resolution.
  assert translated.mode == "RGB" and mask.mode == "L"
  assert (out / "sub" / "gray_translated.png").exists()
  page = (out / "index.html").read_text()
  assert page.count("<tr>") == 3 and "sub/gray_mask.png" in page
  m = np.asarray(mask)
  assert 0 < m.mean() < 255


def test_architecture_flags_that_disagree_with_the_workdir_fail(trained_workdir):
  proc = run("trainers.train", f"--workdir={trained_workdir}", "--ngf=16", check=False)
  assert proc.returncode != 0
  assert "ngf: workdir has 8, flags give 16" in proc.stderr


def test_missing_dataset_folders_fail_before_training(tmp_path):
  root = tmp_path / "data"
  (root / "trainA").mkdir(parents=True)
  write_image(str(root / "trainA" / "x.png"))
  proc = run("trainers.train", f"--workdir={tmp_path / 'wd'}", "--preset=tiny",
             f"--dataset={root}", check=False)
  assert proc.returncode != 0
  assert f"Image folder not found: {root / 'trainB'}" in proc.stderr
  assert not os.path.exists(tmp_path / "wd" / "checkpoints")


def test_empty_domain_folder_fails(tmp_path):
  root = tmp_path / "data"
  for d in ("trainA", "trainB"):
    (root / d).mkdir(parents=True)
  write_image(str(root / "trainA" / "x.png"))
  proc = run("trainers.train", f"--workdir={tmp_path / 'wd'}", "--preset=tiny",
             f"--dataset={root}", check=False)
  assert proc.returncode != 0 and "No readable image in" in proc.stderr


def test_translate_errors(tmp_path, trained_workdir):
  bad = tmp_path / "bad.png"
  bad.write_bytes(b"not an image")
  proc = run("trainers.translate", f"--workdir={trained_workdir}", f"--input={bad}",
             f"--output={tmp_path / 'o'}", check=False)
  assert proc.returncode != 0 and f"Cannot decode image {bad}" in proc.stderr
  proc = run("trainers.translate", f"--workdir={tmp_path}", f"--input={bad}",
             f"--output={tmp_path / 'o'}", check=False)
  assert proc.returncode != 0 and "not a uagit_tf workdir" in proc.stderr


def test_make_dataset_writes_the_requested_background_mix(tmp_path):
  def mean_corner_colour(mix):
    out = tmp_path / f"mix{mix}"
    run("trainers.make_dataset", f"--output={out}", "--size=32", "--train_size=0",
        "--test_size=3", f"--background_mix={mix}")
    names = sorted(os.listdir(out / "testA"))
    assert len(names) == 3 and len(os.listdir(out / "masks" / "testA")) == 3
    return np.mean([np.asarray(Image.open(out / "testA" / n))[:4, :4].reshape(-1, 3).mean(0)
                    for n in names], axis=0)
  grass, savanna = np.array([0.27, 0.52, 0.18]) * 255, np.array([0.80, 0.68, 0.42]) * 255
  own, swapped = mean_corner_colour(0), mean_corner_colour(1)
  # A's own backgrounds are grass; with mix 1 every A image gets B's savanna.
  assert np.abs(own - grass).sum() < np.abs(own - savanna).sum()
  assert np.abs(swapped - savanna).sum() < np.abs(swapped - grass).sum()
