"""The paper's equations on hand-made tensors with known answers."""

import numpy as np
import tensorflow as tf

from uagit_tf import method


def test_composite_takes_generated_where_mask_is_one_and_source_where_zero():
  source = tf.fill([1, 2, 2, 3], -1.0)
  generated = tf.fill([1, 2, 2, 3], 1.0)
  mask = tf.constant([[[[1.0], [0.0]], [[0.25], [0.5]]]])
  out = method.composite(mask, generated, source).numpy()
  np.testing.assert_allclose(out[0, :, :, 0], [[1.0, -1.0], [-0.5, 0.0]])


def test_hard_mask_is_strictly_above_threshold():
  mask = tf.constant([0.05, 0.1, 0.1001, 0.9])
  np.testing.assert_array_equal(method.hard_mask(mask, 0.1).numpy(), [0, 0, 1, 1])


def test_lsgan_losses():
  real = tf.constant([1.0, 0.0])  # (0^2 + 1^2) / 2 = 0.5
  fake = tf.constant([0.0, 2.0])  # (0 + 4) / 2 = 2
  assert float(method.lsgan_discriminator_loss(real, fake)) == 0.5 * (0.5 + 2.0)
  assert float(method.lsgan_generator_loss(fake)) == (1.0 + 1.0) / 2


def test_l1_is_mean_absolute_error():
  assert np.isclose(float(method.l1(tf.constant([0.0, 1.0]), tf.constant([1.0, -1.0]))), 1.5)


def test_cycle_weights_count_the_object_less_and_are_constant_for_the_mask():
  x, y = tf.zeros([1, 1, 3, 3]), tf.ones([1, 1, 3, 3])  # Every pixel 1 off.
  mask = tf.constant([[[[0.0], [1.0], [0.5]]]])
  assert method.cycle_weights(mask, 1.0) == 1.0  # The paper's loss, unweighted.
  with tf.GradientTape() as tape:
    tape.watch(mask)
    weights = method.cycle_weights(mask, 0.2)
    loss = method.l1(x, y, weights)
  np.testing.assert_allclose(weights.numpy().ravel(), [1.0, 0.2, 0.6], rtol=1e-6)
  assert np.isclose(float(loss), (1.0 + 0.2 + 0.6) / 3)
  assert tape.gradient(loss, mask) is None


def test_translate_without_attention_is_the_generator_output():
  gen = lambda x: -x
  images = tf.random.uniform([1, 4, 4, 3], -1, 1)
  out = method.translate(images, gen, None)
  np.testing.assert_array_equal(out["mask"].numpy(), 1.0)
  np.testing.assert_allclose(out["translated"].numpy(), -images.numpy())


def test_translate_with_attention_composites_with_the_soft_mask():
  gen = lambda x: tf.zeros_like(x)
  att = lambda x, training=False: tf.fill(tf.concat([tf.shape(x)[:3], [1]], 0), 0.25)
  images = tf.ones([1, 4, 4, 3])
  out = method.translate(images, gen, att)
  np.testing.assert_allclose(out["translated"].numpy(), 0.75)
