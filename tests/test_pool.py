"""The (fake, mask) history pool."""

import numpy as np
import tensorflow as tf

from uagit_tf.pool import ImagePool


def batch(value, n=1, size=4):
  return tf.fill([n, size, size, 3], float(value)), tf.fill([n, size, size, 1], value / 100.0)


def test_pool_returns_inputs_until_full_then_mixes_old_and_new():
  pool = ImagePool(3, 4, seed=1)
  step = tf.function(pool.__call__)
  for v in range(3):  # Filling: every fake passes through.
    images, masks = step(*batch(v))
    assert float(images[0, 0, 0, 0]) == v and np.isclose(float(masks[0, 0, 0, 0]), v / 100)
  assert int(pool.count) == 3
  returned = []
  for v in range(3, 203):
    images, masks = step(*batch(v))
    value = float(images[0, 0, 0, 0])
    assert np.isclose(float(masks[0, 0, 0, 0]), value / 100)  # Each fake keeps its mask.
    returned.append(value == v)
  share_new = np.mean(returned)
  assert 0.35 < share_new < 0.65, share_new  # Half the time an old entry.


def test_pool_of_size_zero_passes_through():
  pool = ImagePool(0, 4, seed=0)
  images, masks = pool(*batch(7, n=2))
  assert images.shape == (2, 4, 4, 3) and float(images[1, 0, 0, 0]) == 7


def test_pool_state_restores_from_a_checkpoint_with_the_same_draws(tmp_path):
  pool = ImagePool(2, 4, seed=5)
  for v in range(6):
    pool(*batch(v, n=2))
  path = tf.train.Checkpoint(pool=pool).save(str(tmp_path / "ckpt"))
  expected = [float(pool(*batch(100 + v, n=2))[0][1, 0, 0, 0]) for v in range(10)]
  restored = ImagePool(2, 4, seed=999)
  tf.train.Checkpoint(pool=restored).restore(path)
  got = [float(restored(*batch(100 + v, n=2))[0][1, 0, 0, 0]) for v in range(10)]
  assert got == expected
