"""Does the mask find the object, and is the background left alone? Per-image metrics.

All functions take numpy arrays: images in [-1, 1] [N, H, W, 3], masks [N, H, W, 1]
(predicted masks in [0, 1], true masks in {0, 1}); they return one value per image.
"""

import numpy as np


def mask_iou(pred: np.ndarray, true: np.ndarray, threshold: float = 0.5) -> np.ndarray:
  """IoU of (pred > threshold) with the true object mask; 1 where both are empty."""
  p = pred[..., 0] > threshold
  t = true[..., 0] > 0.5
  inter = np.logical_and(p, t).sum(axis=(1, 2))
  union = np.logical_or(p, t).sum(axis=(1, 2))
  return np.where(union == 0, 1.0, inter / np.maximum(union, 1))


def _background_error(inputs, outputs, true):
  """Per image: squared and absolute error in 0-255 units over background pixels."""
  bg = (true[..., 0] <= 0.5)[..., None]
  diff = (outputs.astype(np.float64) - inputs) * 127.5
  count = np.maximum(bg.sum(axis=(1, 2, 3)) * inputs.shape[-1], 1)
  abs_err = (np.abs(diff) * bg).sum(axis=(1, 2, 3)) / count
  sq_err = (np.square(diff) * bg).sum(axis=(1, 2, 3)) / count
  return abs_err, sq_err


def background_mae(inputs: np.ndarray, outputs: np.ndarray, true: np.ndarray) -> np.ndarray:
  """Mean |output - input| over the true background, in 0-255 units."""
  return _background_error(inputs, outputs, true)[0]


def background_psnr(inputs: np.ndarray, outputs: np.ndarray, true: np.ndarray,
                    cap: float = 100.0) -> np.ndarray:
  """PSNR (dB, peak 255) of the output against the input over the true background.

  An unchanged background has infinite PSNR; it is reported as `cap`.
  """
  mse = _background_error(inputs, outputs, true)[1]
  with np.errstate(divide="ignore"):
    psnr = 10.0 * np.log10(255.0**2 / mse)
  return np.minimum(psnr, cap)


def collapse(pred: np.ndarray, low: float = 0.01, high: float = 0.99
             ) -> tuple[np.ndarray, np.ndarray]:
  """Per image: is the mask nearly all 0 (<= 1% of pixels above 0.5) or all 1 (>= 99%)?"""
  frac = (pred[..., 0] > 0.5).mean(axis=(1, 2))
  return frac <= low, frac >= high
