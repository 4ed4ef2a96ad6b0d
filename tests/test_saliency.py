"""--background_prior=saliency: a domain classifier's saliency as the masks' target."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import eagerly, tiny
from uagit_tf import config
from uagit_tf import saliency


def test_balanced_l1_is_the_background_covered_plus_the_object_left_out():
  target = np.zeros([1, 8, 8, 1], np.float32)
  target[0, :2] = 1.0  # An object of 16 pixels on a background of 48.
  t = tf.constant(target)
  assert float(saliency.balanced_l1(t, t)) == 0.0
  # Everything masked: the whole background covered (48 / 49 with the +1 guard).
  assert float(saliency.balanced_l1(tf.ones_like(t), t)) == pytest.approx(48 / 49)
  # Nothing masked: the whole object left out, as much as the background would weigh.
  assert float(saliency.balanced_l1(tf.zeros_like(t), t)) == pytest.approx(16 / 17)
  # Half the object: half a loss, whatever the object's share of the frame.
  half = target.copy()
  half[0, 1] = 0.0
  assert float(saliency.balanced_l1(tf.constant(half), t)) == pytest.approx(8 / 17)


def test_each_score_is_moved_onto_its_patch_centre():
  # An impulse through the classifier with every weight positive: the scores around it
  # are symmetric about their patches' centre, which `centred` puts on the impulse (the
  # classifier's two 4x4 "same" convolutions alone put it a pixel up and left).
  prior = saliency.SaliencyPrior(tiny(background_prior="saliency"))
  for w in prior.classifier.weights:
    w.assign(tf.ones_like(w) if len(w.shape) == 4 else tf.zeros_like(w))
  image = np.zeros([1, 32, 32, 3], np.float32)
  image[0, 12, 20] = 1.0
  scores = prior.logits(tf.constant(image))

  def centre(s):
    s = s.numpy()[0, ..., 0]
    return [float((s.sum(axis=1 - a) * np.arange(32)).sum() / s.sum()) for a in (0, 1)]

  assert centre(scores) == pytest.approx([11.0, 19.0])
  assert centre(saliency.centred(scores)) == pytest.approx([12.0, 20.0])


def _scenes(rng, n, object_colour, background="shared"):
  """n 32 px images: a textured grey background (both domains' kind, or green where
  `background` is "own") with a 10 px square of `object_colour` anywhere, often cut by
  the frame; and the squares' masks."""
  images = rng.uniform(-0.4, 0.2, [n, 32, 32, 3]).astype(np.float32)
  if background == "own":
    images[..., 1] += 0.6
  masks = np.zeros([n, 32, 32, 1], np.float32)
  for i in range(n):
    y, x = rng.integers(-4, 28, 2)
    ys, xs = slice(max(y, 0), y + 10), slice(max(x, 0), x + 10)
    images[i, ys, xs] = object_colour
    masks[i, ys, xs] = 1.0
  return images, masks


def _trained_prior(background_b: str, steps: int = 150) -> tuple:
  rng = np.random.default_rng(0)
  keras.utils.set_random_seed(0)
  prior = saliency.SaliencyPrior(tiny(background_prior="saliency"))
  red, blue = [0.9, -0.8, -0.8], [-0.8, -0.8, 0.9]
  with eagerly():
    for _ in range(steps):
      prior.step({"a": tf.constant(_scenes(rng, 4, red)[0]),
                  "b": tf.constant(_scenes(rng, 4, blue, background_b)[0])})
  (a, mask_a), (b, mask_b) = _scenes(rng, 8, red), _scenes(rng, 8, blue, background_b)
  targets, _ = prior.step({"a": tf.constant(a), "b": tf.constant(b)})  # Before its update.
  return {d: (targets[d].numpy(), mask) for d, mask in (("a", mask_a), ("b", mask_b))}


def test_the_saliency_is_on_what_tells_the_domains_apart_where_backgrounds_are_shared():
  for d, (target, mask) in _trained_prior("shared").items():
    assert target.shape == mask.shape
    on_object, on_background = target[mask > 0].mean(), target[mask == 0].mean()
    assert on_object > 0.6 and on_background < 0.1, (d, on_object, on_background)


def test_where_the_backgrounds_tell_the_domains_apart_the_saliency_covers_them():
  # The assumption broken (documented; auto trains the border prior on such data): each
  # domain's background is salient (under 0.1 where shared), B's as much as its object.
  trained = _trained_prior("own")
  for d, (target, mask) in trained.items():
    assert target[mask == 0].mean() > 0.25, d
  target, mask = trained["b"]
  assert target[mask == 0].mean() > 0.9 * target[mask > 0].mean()


def test_larger_crops_are_pooled_so_the_patch_is_the_same_share_of_the_crop():
  cfg = config.override(tiny(), {"image_size": 128, "load_size": 144})
  prior = saliency.SaliencyPrior(cfg)
  assert prior.pool == 2
  images = tf.random.uniform([2, 128, 128, 3], -1.0, 1.0)
  assert prior.logits(images).shape == [2, 64, 64, 1]
  targets, _ = prior.step({"a": images, "b": images})
  assert targets["a"].shape == [2, 128, 128, 1]
  # Chance is 0: an untrained classifier's evidence either way is near 1/2, so the
  # target is low and in [0, 1].
  assert 0.0 <= float(tf.reduce_min(targets["a"])) and float(tf.reduce_max(targets["b"])) < 0.5


def test_the_speed_benchmarks_time_the_saliency_priors_step():
  from benchmarks.machine import training_step
  cfg, step, a, b = training_step("saliency", 32, ngf=8, ndf=8, n_res_blocks=1,
                                  attention_width=8)
  assert cfg.loss.background_prior == "saliency" and cfg.loss.lambda_saliency == 5.0
  losses = step(a, b)
  assert {"mask_saliency_a", "mask_saliency_b", "saliency_classifier"} <= set(losses)
