"""Mask and background metrics on hand-made arrays with known answers."""

import numpy as np

from uagit_tf.metrics import masks


def square_mask(n=1, size=4, top=0, left=0, side=2):
  m = np.zeros([n, size, size, 1])
  m[:, top:top + side, left:left + side] = 1
  return m


def test_iou_of_overlapping_squares():
  true = square_mask(side=2)                  # 4 pixels
  pred = square_mask(top=0, left=1, side=2) * 0.9  # 4 pixels, 2 shared
  np.testing.assert_allclose(masks.mask_iou(pred, true), [2 / 6])
  np.testing.assert_allclose(masks.mask_iou(true, true), [1.0])
  np.testing.assert_allclose(masks.mask_iou(true * 0.4, true), [0.0])  # Below 0.5.
  np.testing.assert_allclose(masks.mask_iou(np.zeros_like(true), np.zeros_like(true)), [1.0])


def test_background_mae_ignores_the_object_and_uses_0_255_units():
  true = square_mask(side=2)  # 12 background pixels of 16
  inputs = np.zeros([1, 4, 4, 3])
  outputs = inputs.copy()
  outputs[:, :2, :2] = 1.0  # The object changes: not counted.
  np.testing.assert_allclose(masks.background_mae(inputs, outputs, true), [0.0])
  outputs[:, 3, 3, 0] = 2.0 / 255  # One background pixel, one channel, by 1 grey level.
  np.testing.assert_allclose(masks.background_mae(inputs, outputs, true), [1.0 / 36])


def test_background_psnr():
  true = np.zeros([1, 2, 2, 1])
  inputs = np.zeros([1, 2, 2, 3])
  outputs = inputs + 10 / 127.5  # Every pixel off by 10 grey levels: MSE 100.
  np.testing.assert_allclose(masks.background_psnr(inputs, outputs, true),
                             [10 * np.log10(255**2 / 100)])
  np.testing.assert_allclose(masks.background_psnr(inputs, inputs, true), [100.0])


def test_collapse_flags():
  pred = np.stack([np.zeros([10, 10, 1]), np.ones([10, 10, 1]), square_mask(1, 10, side=5)[0]])
  zeros, ones = masks.collapse(pred)
  assert list(zeros) == [True, False, False] and list(ones) == [False, True, False]


def test_classifier_learns_clearly_separable_objects_and_ignores_the_background():
  from uagit_tf.metrics import classifier
  rng = np.random.default_rng(0)

  def make(n, striped):
    images = rng.uniform(-1, 1, [n, 32, 32, 3]).astype(np.float32)  # Random background.
    obj = np.zeros([n, 32, 32, 1], np.float32)
    obj[:, 8:24, 8:24] = 1
    coat = np.where((np.arange(32) // 2 % 2)[None, None, :, None] == 0, 0.9, -0.9) if striped \
        else np.full([1, 1, 32, 1], 0.2)
    images = np.where(obj > 0, np.broadcast_to(coat, images.shape), images)
    return images, obj

  (a, ma), (b, mb) = make(64, False), make(64, True)
  blank = lambda x, m: classifier.blank_background(x, m).numpy()
  model = classifier.train_classifier(blank(a, ma), blank(b, mb), steps=60, seed=1)
  (ta, tma), (tb, tmb) = make(32, False), make(32, True)
  assert classifier.accuracy(model, blank(ta, tma), blank(tb, tmb)) >= 0.95
