"""KID and FID against independent references written from the papers' definitions."""

import itertools

import numpy as np
import pytest
from scipy import linalg

from uagit_tf.metrics import distances


def reference_mmd2(x, y):
  """Binkowski et al. Eq. (unbiased MMD^2), with explicit loops over pairs."""
  d = x.shape[1]
  k = lambda a, b: (a @ b / d + 1.0) ** 3
  m, n = len(x), len(y)
  xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
  yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
  xy = sum(k(a, b) for a in x for b in y) / (m * n)
  return xx + yy - 2 * xy


def reference_fid(x, y):
  mu1, mu2 = x.mean(0), y.mean(0)
  s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
  covmean = linalg.sqrtm(s1 @ s2).real
  return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_mmd2_matches_the_reference():
  rng = np.random.default_rng(0)
  x, y = rng.normal(size=(12, 5)), rng.normal(0.3, 1.2, size=(9, 5))
  np.testing.assert_allclose(distances.mmd2_unbiased(x, y), reference_mmd2(x, y), rtol=1e-10)


def test_kid_is_unbiased_near_zero_for_one_distribution_and_grows_with_a_shift():
  rng = np.random.default_rng(1)
  x, y = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
  same, same_std = distances.kid(x, y, subsets=50, subset_size=100)
  assert abs(same) < 3 * same_std + 1e-3  # Unbiased: centred on 0, can go negative.
  shifted = [distances.kid(x, y + s, subsets=20, subset_size=100)[0] for s in (0.25, 0.5, 1.0)]
  assert 0 < shifted[0] < shifted[1] < shifted[2]
  # The very same rows: the unbiased estimate drops k(x_i, x_i) within a set but not
  # across sets, so it is slightly negative, -2 (mean diag - mean off-diag) / (m - 1).
  m, _ = distances.kid(x, x, subsets=10, subset_size=400)
  k = distances.polynomial_kernel(x, x)
  off = (k.sum() - np.trace(k)) / (400 * 399)
  np.testing.assert_allclose(m, -2 * (np.trace(k) / 400 - off) / 400, rtol=1e-9)
  assert m < 0 and abs(m) < 0.25 * shifted[0]


def test_kid_uses_subsets_of_min_1000_n():
  rng = np.random.default_rng(2)
  x, y = rng.normal(size=(30, 4)), rng.normal(size=(20, 4))
  mean, std = distances.kid(x, y, subsets=1, subset_size=1000, seed=3)
  r = np.random.default_rng(3)
  xs, ys = x[r.choice(30, 20, replace=False)], y[r.choice(20, 20, replace=False)]
  np.testing.assert_allclose(mean, reference_mmd2(xs, ys), rtol=1e-10)
  assert std == 0.0


def test_fid_matches_scipy_and_its_properties():
  rng = np.random.default_rng(4)
  a = rng.normal(size=(500, 8)) @ rng.normal(size=(8, 8))
  b = rng.normal(1.0, 1.0, size=(300, 8)) @ rng.normal(size=(8, 8))
  np.testing.assert_allclose(distances.fid(a, b), reference_fid(a, b), rtol=1e-6)
  assert distances.fid(a, a) == pytest.approx(0.0, abs=1e-8)
  shifts = [distances.fid(a, a + s) for s in (0.5, 1.0, 2.0)]
  np.testing.assert_allclose(shifts, [8 * s * s for s in (0.5, 1.0, 2.0)], rtol=1e-6)


def test_bad_feature_sets_are_clear_errors():
  with pytest.raises(ValueError, match="same d"):
    distances.kid(np.zeros([5, 3]), np.zeros([5, 4]))
  with pytest.raises(ValueError, match="at least 2"):
    distances.kid(np.zeros([1, 3]), np.zeros([5, 3]))


def test_inception_features_with_random_weights_are_2048_d_and_deterministic():
  import keras
  from uagit_tf.metrics import inception
  keras.utils.set_random_seed(0)
  model = inception.build_extractor("random")
  images = np.random.default_rng(0).uniform(-1, 1, [3, 40, 56, 3]).astype(np.float32)
  f1 = inception.features(model, images, batch_size=2)
  f2 = inception.features(model, images, batch_size=3)
  assert f1.shape == (3, 2048) and np.isfinite(f1).all()
  np.testing.assert_allclose(f1, f2, rtol=1e-5, atol=1e-6)


def test_missing_inception_weights_say_how_to_get_them(tmp_path, monkeypatch):
  from uagit_tf.metrics import inception
  monkeypatch.setenv("KERAS_HOME", str(tmp_path))
  with pytest.raises(FileNotFoundError, match="--inception_weights"):
    inception.build_extractor(None)
  with pytest.raises(FileNotFoundError, match="not found at /no/such.h5"):
    inception.build_extractor("/no/such.h5")
