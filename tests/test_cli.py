"""The command lines end to end with the tiny preset: train, resume, translate, errors."""

import ast
import json
import os
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

from tests.helpers import ROOT, latest_step, run, write_image


def test_train_resume_and_translate(tmp_path):
  workdir = str(tmp_path / "wd")
  first = run("trainers.train", f"--workdir={workdir}", "--preset=tiny", "--epochs=1",
              "--attention_epochs=1", "--decay_epoch=1")
  assert latest_step(workdir) == 3
  saved = json.load(open(os.path.join(workdir, "config.json")))
  assert saved["model"]["ngf"] == 8 and saved["schedule"]["epochs"] == 1
  # --background_prior=auto is decided on the data, said, and recorded as decided.
  assert saved["loss"]["background_prior"] == "on"
  assert "--background_prior=auto chose on" in first.stderr
  assert "--ngf=8" in open(os.path.join(workdir, "flags.txt")).read().split()
  # A flag given wins over --background_prior's value for it, even where it is the default.
  paper = str(tmp_path / "paper")
  run("trainers.train", f"--workdir={paper}", "--preset=tiny", "--epochs=1",
      "--attention_epochs=1", "--decay_epoch=1", "--steps_per_epoch=1",
      "--background_prior=off", "--cycle_object_weight=0")
  saved_paper = json.load(open(os.path.join(paper, "config.json")))["loss"]
  assert saved_paper["cycle_object_weight"] == 0.0 and saved_paper["lambda_mask_background"] == 0.0

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


def test_a_run_where_auto_chose_the_saliency_prior_resumes_with_the_same_command(tmp_path):
  # Frame-filling animals: auto trains the saliency prior, whose fields (the paper's 1x1
  # attention decoder, no guided filter) differ from the defaults the command line gives.
  # The resumed run keeps the recorded choice, not the defaults (an error before).
  workdir = str(tmp_path / "fill")
  flags = [f"--workdir={workdir}", "--preset=tiny", "--synthetic_variant=fill",
           "--steps_per_epoch=1", "--attention_epochs=1", "--decay_epoch=1"]
  first = run("trainers.train", *flags, "--epochs=1")
  assert "--background_prior=auto chose saliency" in first.stderr
  resumed = run("trainers.train", *flags, "--epochs=2")
  assert latest_step(workdir) == 2
  assert "records the choice 'saliency'; the resumed run keeps it" in resumed.stderr
  assert "auto chose" not in resumed.stderr  # Not measured again.
  saved = json.load(open(os.path.join(workdir, "config.json")))
  assert saved["loss"]["background_prior"] == "saliency"
  assert saved["model"]["attention_decoder_kernel"] == 1
  # An explicit choice that disagrees with the workdir's architecture is still refused.
  bad = run("trainers.train", *flags, "--epochs=3", "--background_prior=on", check=False)
  assert bad.returncode and "attention_decoder_kernel: workdir has 1, flags give 3" in bad.stderr


def test_architecture_flags_that_disagree_with_the_workdir_fail(trained_workdir, tmp_path):
  workdir = shutil.copytree(trained_workdir, tmp_path / "wd")  # Training takes its lock.
  proc = run("trainers.train", f"--workdir={workdir}", "--ngf=16", check=False)
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


def test_translate_reads_16_bit_rgba_grey_and_gif_and_names_what_it_cannot(tmp_path,
                                                                          trained_workdir):
  images = tmp_path / "in"
  write_image(str(images / "deep.png"), size=(20, 24), bits=16)   # 16-bit greyscale.
  write_image(str(images / "alpha.png"), size=(17, 9), mode="RGBA")
  write_image(str(images / "grey.png"), size=(12, 12), mode="L")
  Image.fromarray(np.random.default_rng(3).integers(0, 255, (10, 14, 3), np.uint8)).save(
      images / "anim.gif")
  (images / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
  out = tmp_path / "out"
  proc = run("trainers.translate", f"--workdir={trained_workdir}", f"--input={images}",
             f"--output={out}")
  assert "Wrote 4 translation(s)" in proc.stderr
  assert "1 of 5 file(s) could not be read" in proc.stderr and "broken.jpg" in proc.stderr
  for name, (h, w) in {"deep": (20, 24), "alpha": (17, 9), "grey": (12, 12),
                       "anim": (10, 14)}.items():
    translated = np.asarray(Image.open(out / f"{name}_translated.png"))
    assert translated.shape == (h, w, 3), name
    assert np.asarray(Image.open(out / f"{name}_mask.png")).shape == (h, w), name
  deep = np.asarray(Image.open(images / "deep.png")).astype(np.float64) / 65535
  written = np.asarray(Image.open(out / "deep_input.png")).astype(np.float64) / 255
  np.testing.assert_allclose(written[..., 0], deep, atol=1 / 255)  # Scaled, not clipped.
  (tmp_path / "empty").mkdir()
  proc = run("trainers.translate", f"--workdir={trained_workdir}",
             f"--input={tmp_path / 'empty'}", f"--output={tmp_path / 'o2'}", check=False)
  assert proc.returncode != 0 and "No image files" in proc.stderr
  assert len([l for l in proc.stderr.splitlines() if l.startswith("translate:")]) == 1


def test_the_console_scripts_run(tmp_path, trained_workdir):
  # What `pip install` puts on the PATH, each run once as a user would.
  bin_dir = os.path.dirname(sys.executable)
  scripts = {"uagit-train": "trainers.train", "uagit-translate": "trainers.translate",
             "uagit-evaluate": "trainers.evaluate",
             "uagit-export-saved-model": "export.saved_model",
             "uagit-export-tflite": "export.tflite"}
  for name, module in scripts.items():
    # absl's --help exits 1; what counts is that it shows the command's own text and flags.
    proc = subprocess.run([os.path.join(bin_dir, name), "--help"], capture_output=True,
                          text=True, timeout=300)
    source = open(os.path.join(ROOT, *module.split(".")) + ".py").read()
    doc = ast.get_docstring(ast.parse(source)).splitlines()[0]  # Importing defines flags.
    assert doc in proc.stdout and "--workdir" in proc.stdout, (name, proc.stdout[-2000:])
  image = tmp_path / "x.png"
  write_image(str(image), size=(8, 8))
  proc = subprocess.run([os.path.join(bin_dir, "uagit-translate"),
                         f"--workdir={trained_workdir}", f"--input={image}",
                         f"--output={tmp_path / 'o'}"], capture_output=True, text=True,
                        timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert (tmp_path / "o" / "x_translated.png").exists()


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
