"""Evaluation on data with ground-truth masks: does only the object change?

    python -m trainers.evaluate --workdir=runs/demo

Per direction: mask IoU, background change (MAE in 0-255 and PSNR over the true
background), translation success (an object-only domain classifier, with its held-out
accuracy), and mask-collapse rates. Writes metrics.json, report.html and the images with
the worst IoU; plain CycleGAN runs are evaluated the same way with mask = all ones.
"""

import json
import os

from absl import logging
import numpy as np
import tensorflow as tf

from uagit_tf import config as config_lib
from uagit_tf.data import pipeline
from uagit_tf.metrics import classifier as classifier_lib
from uagit_tf.metrics import distances
from uagit_tf.metrics import inception
from uagit_tf.metrics import masks as mask_metrics
from uagit_tf.pixels import to_uint8
from uagit_tf.domains import DIRECTIONS
from uagit_tf.summaries import image_grid

_ROWS = [("mask_iou", "mask IoU", ">=0.6"), ("background_mae", "bg MAE (0-255)", "low"),
         ("background_psnr", "bg PSNR (dB)", "high"), ("success", "translation success", ">=0.8"),
         ("collapse_zero", "masks ~all 0", "0"), ("collapse_one", "masks ~all 1", "0")]


def _load(source, size: int, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
  if not source.has_masks:
    raise ValueError(f"Evaluation needs ground-truth masks, and {source.name} has none (put "
                     "them in masks/testA/ and masks/testB/ beside testA/ and testB/, same "
                     "file names).")
  batches = list(pipeline.test_batches(source, size, 32, with_masks=True, limit=limit))
  return (np.concatenate([b[0].numpy() for b in batches]),
          np.concatenate([b[1].numpy() for b in batches]))


def _classifier_data(cfg: config_lib.Config, test_data: dict, size: int, limit: int):
  """Blanked real objects to train the classifier on: the training split if it has masks
  (the loaded test images are then held out), else the first half of the test images (the
  second half is held out)."""
  def blank(images, masks):  # Images without an object teach the classifier nothing.
    keep = masks.reshape(len(masks), -1).max(axis=1) > 0.5
    return classifier_lib.blank_background(images[keep], masks[keep]).numpy()

  held = {d: blank(*test_data[d]) for d in test_data}
  try:
    train = pipeline.sources(cfg.data, "train", cfg.run.seed)
    return {d: blank(*_load(train[d], size, limit)) for d in train}, held
  except ValueError:
    return ({d: x[:len(x) // 2] for d, x in held.items()},
            {d: x[len(x) // 2:] for d, x in held.items()})


def evaluate(translators: dict, cfg: config_lib.Config, output_dir: str,
             num_images: int | None = None, classifier_steps: int = 300,
             worst: int = 4, feature_model=None, kid: bool = False, fid: bool = False,
             kid_subsets: int = 100, kid_subset_size: int = 1000) -> dict:
  """Evaluates `translators` (direction -> callable on [-1, 1] images returning a dict with
  'mask' and 'translated') on the test split of `cfg.data.dataset`.

  With `kid` / `fid` (and an InceptionV3 `feature_model`, see metrics/inception.py), the
  translated test images are also compared with the real test images of the target domain:
  KID x100 (mean and std over subsets, as the paper reports it) and FID.

  Returns:
    {direction: {metric: value}} plus 'classifier_accuracy'; also written to
    output_dir/metrics.json, with output_dir/report.html and worst-IoU grids.
  Raises:
    ValueError: the data set has no ground-truth masks, or num_images < 1.
  """
  if num_images is not None and num_images < 1:
    raise ValueError(f"num_images must be >= 1 (or None for all), got {num_images}")
  os.makedirs(output_dir, exist_ok=True)
  size, seed = cfg.data.image_size, cfg.run.seed
  test = pipeline.sources(cfg.data, "test", seed)
  test_data = {d: _load(test[d], size, num_images) for d in test}  # Decoded once.
  data, held = _classifier_data(cfg, test_data, size, 500)
  model = classifier_lib.train_classifier(data["a"], data["b"], classifier_steps, seed=seed)
  results = {"classifier_accuracy": classifier_lib.accuracy(model, held["a"], held["b"])}
  logging.info("Object classifier held-out accuracy: %.3f", results["classifier_accuracy"])
  for direction, (src, tgt) in DIRECTIONS.items():
    images, true = test_data[src]
    outs = [translators[direction](tf.constant(images[i:i + 16]))
            for i in range(0, len(images), 16)]
    pred = np.concatenate([o["mask"].numpy() for o in outs])
    translated = np.concatenate([o["translated"].numpy() for o in outs])
    iou = mask_metrics.mask_iou(pred, true)
    # IoU, success and collapse are about objects: images without one (the hard built-in
    # set has some) count in the background change alone.
    has = true.reshape(len(true), -1).max(axis=1) > 0.5
    if not has.any():
      has = np.ones_like(has)
    p_b = classifier_lib.predict_b(
        model, classifier_lib.blank_background(translated[has], true[has]).numpy())
    zeros, ones = mask_metrics.collapse(pred[has])
    results[direction] = {
        "images": len(images),
        "images_without_object": int((~has).sum()),
        "mask_iou": float(iou[has].mean()),
        "background_mae": float(mask_metrics.background_mae(images, translated, true).mean()),
        "background_psnr": float(mask_metrics.background_psnr(images, translated, true).mean()),
        "success": float(np.mean(p_b >= 0.5 if tgt == "b" else p_b < 0.5)),
        "collapse_zero": float(zeros.mean()),
        "collapse_one": float(ones.mean()),
        "mask_mean": float(pred.mean()),
    }
    if kid or fid:
      real = test_data[tgt][0]
      fake_f = inception.features(feature_model, translated)
      real_f = inception.features(feature_model, real)
      if kid:
        mean, std = distances.kid(fake_f, real_f, kid_subsets, kid_subset_size, seed)
        results[direction].update(kid_x100=100 * mean, kid_x100_std=100 * std)
      if fid:
        results[direction]["fid"] = distances.fid(fake_f, real_f)
    order = np.argsort(iou)[:worst]
    grids = {"worst_iou": image_grid(images[order], true[order], pred[order], translated[order]),
             "samples": image_grid(images[:8], pred[:8], translated[:8])}
    for name, grid in grids.items():
      tf.io.write_file(os.path.join(output_dir, f"{name}_{direction}.png"),
                       tf.io.encode_png(to_uint8(grid[0], 0.0)))
  with open(os.path.join(output_dir, "metrics.json"), "w") as f:
    json.dump(results, f, indent=2, sort_keys=True)
  _write_report(results, output_dir)
  return results


def table(results: dict) -> str:
  """The metrics as a one-screen text table, one column per direction."""
  lines = [f"{'metric':24s}{'a2b':>10s}{'b2a':>10s}  target"]
  for key, label, target in _ROWS:
    lines.append(f"{label:24s}" + "".join(f"{results[d][key]:10.3f}" for d in DIRECTIONS)
                 + f"  {target}")
  lines.append(f"{'classifier accuracy':24s}{results['classifier_accuracy']:10.3f}")
  if "kid_x100" in results["a2b"]:
    lines.append(f"{'KID x100 (mean +- std)':24s}" + "".join(
        f"{results[d]['kid_x100']:7.2f}+-{results[d]['kid_x100_std']:.2f}" for d in DIRECTIONS))
  if "fid" in results["a2b"]:
    lines.append(f"{'FID':24s}" + "".join(f"{results[d]['fid']:10.2f}" for d in DIRECTIONS))
  return "\n".join(lines)


def _write_report(results: dict, output_dir: str) -> None:
  rows = "".join(f"<tr><td>{label}</td>" + "".join(
      f"<td>{results[d][key]:.3f}</td>" for d in DIRECTIONS) + "</tr>" for key, label, _ in _ROWS)
  figures = "".join(
      f"<h2>{d}: input | mask | translated</h2><img src='samples_{d}.png'>"
      f"<h3>{d}: worst IoU (input | true mask | mask | translated)</h3>"
      f"<img src='worst_iou_{d}.png'>" for d in DIRECTIONS)
  page = ("<!doctype html><meta charset='utf-8'><title>uagit_tf evaluation</title>"
          "<style>img{image-rendering:pixelated;width:512px}td{padding:2px 8px}</style>"
          "<h1>Evaluation</h1><table><tr><th>metric</th><th>a2b</th><th>b2a</th></tr>"
          f"{rows}<tr><td>classifier accuracy</td><td>{results['classifier_accuracy']:.3f}"
          f"</td></tr></table>{figures}\n")
  with open(os.path.join(output_dir, "report.html"), "w") as f:
    f.write(page)
