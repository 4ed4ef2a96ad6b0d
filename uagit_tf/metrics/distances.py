"""KID and FID between two sets of features (numpy, float64).

KID (Binkowski et al. 2018): unbiased MMD^2 with the kernel k(x, y) = (x.y / d + 1)^3,
averaged over random subsets; the paper reports it x100 with its standard deviation.
FID (Heusel et al. 2017): the Frechet distance between Gaussian fits.
"""

import numpy as np


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
  """Unbiased MMD^2 estimate: diagonal terms of k(x, x) and k(y, y) left out."""
  m, n = len(x), len(y)
  kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
  return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
               + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2.0 * kxy.mean())


def kid(x: np.ndarray, y: np.ndarray, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
  """KID of two feature sets: (mean, std) over `subsets` random subsets (not x100).

  Each subset draws min(subset_size, len(x), len(y)) rows of each set without replacement.
  Raises:
    ValueError: fewer than 2 samples in a set, or feature sizes differ.
  """
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
    raise ValueError(f"KID needs two [n, d] feature sets of the same d, got {x.shape}, {y.shape}")
  size = min(subset_size, len(x), len(y))
  if size < 2:
    raise ValueError(f"KID needs at least 2 samples per set, got {len(x)} and {len(y)}")
  rng = np.random.default_rng(seed)
  values = [mmd2_unbiased(x[rng.choice(len(x), size, replace=False)],
                          y[rng.choice(len(y), size, replace=False)]) for _ in range(subsets)]
  return float(np.mean(values)), float(np.std(values))


def _sqrtm_trace(a: np.ndarray, b: np.ndarray) -> float:
  """Tr(sqrtm(a @ b)) for symmetric PSD a, b, via the symmetric sqrt(a) b sqrt(a)."""
  w, v = np.linalg.eigh(a)
  root_a = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
  inner = root_a @ b @ root_a
  eig = np.linalg.eigvalsh((inner + inner.T) / 2.0)
  return float(np.sqrt(np.clip(eig, 0.0, None)).sum())


def fid(x: np.ndarray, y: np.ndarray) -> float:
  """Frechet distance between Gaussians fitted to two [n, d] feature sets."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or min(len(x), len(y)) < 2:
    raise ValueError(f"FID needs two [n >= 2, d] feature sets of the same d, got "
                     f"{x.shape}, {y.shape}")
  mu_x, mu_y = x.mean(axis=0), y.mean(axis=0)
  cov_x, cov_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
  value = (np.sum((mu_x - mu_y) ** 2) + np.trace(cov_x) + np.trace(cov_y)
           - 2.0 * _sqrtm_trace(cov_x, cov_y))
  return float(max(value, 0.0))
