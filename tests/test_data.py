"""Data: the built-in synthetic set, image folders, and the training order."""

import os

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from tests.conftest import tiny
from tests.helpers import make_folder_dataset, write_image
from uagit_tf.data import folders, pipeline, synthetic


def test_synthetic_is_deterministic_and_seed_dependent():
  a1, m1 = synthetic.example(0, "train", "a", 5, 32)
  a2, m2 = synthetic.example(0, "train", "a", 5, 32)
  a3, _ = synthetic.example(1, "train", "a", 5, 32)
  np.testing.assert_array_equal(a1.numpy(), a2.numpy())
  np.testing.assert_array_equal(m1.numpy(), m2.numpy())
  assert not np.allclose(a1.numpy(), a3.numpy())


def test_synthetic_domains_differ_in_object_and_background():
  images, masks = {}, {}
  for d in "ab":
    images[d], masks[d] = (t.numpy() for t in synthetic.batch(0, "test", d, range(16), 64))
  for d in "ab":
    frac = masks[d].mean(axis=(1, 2, 3))
    assert np.all(frac > 0.03) and np.all(frac < 0.5), frac  # An object, not the image.
    assert images[d].min() >= -1 and images[d].max() <= 1
  bg = {d: images[d][masks[d][..., 0] == 0].mean(axis=0) for d in "ab"}
  fg_std = {d: images[d][masks[d][..., 0] == 1].std() for d in "ab"}
  assert bg["a"][1] > bg["a"][0] and bg["b"][0] > bg["b"][2] + 0.3  # Green vs tan.
  assert np.abs(bg["a"] - bg["b"]).max() > 0.5
  assert fg_std["b"] > 2 * fg_std["a"]  # Stripes vs a plain coat.


def test_folder_dataset_decodes_odd_images_and_skips_unreadable(tmp_path):
  d = tmp_path / "trainA"
  write_image(str(d / "rgb.png"))
  write_image(str(d / "gray.jpg"), mode="L")
  write_image(str(d / "rgba.png"), mode="RGBA")
  write_image(str(d / "deep.png"), bits=16)
  write_image(str(d / "nested" / "UPPER.PNG"))
  Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(str(d / "first.gif"))
  write_image(str(d / "photo.webp"))
  write_image(str(d / "old.bmp"))
  (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
  (d / "notes.txt").write_text("ignored")
  paths, _, _ = folders.readable_images(str(d))
  names = sorted(os.path.relpath(p, d) for p in paths)
  assert names == ["deep.png", "first.gif", "gray.jpg", "nested/UPPER.PNG", "old.bmp",
                   "photo.webp", "rgb.png", "rgba.png"]
  for p in paths:
    image = folders.read_image(p).numpy()
    assert image.shape[-1] == 3 and 0 <= image.min() and image.max() <= 1
  deep = folders.read_image(str(d / "deep.png")).numpy()
  assert deep.max() > 0.9  # 16-bit scaled to [0, 1], not clipped to 1/255 steps.
  assert len(np.unique(deep)) > 256


def test_missing_and_empty_folders_are_clear_errors(tmp_path):
  with pytest.raises(ValueError, match="Image folder not found: .*trainA"):
    folders.FolderDomain(str(tmp_path), "train", "a")
  (tmp_path / "trainA").mkdir()
  (tmp_path / "trainA" / "bad.jpg").write_bytes(b"garbage")
  with pytest.raises(ValueError, match="No readable image in .*trainA.*1 could not be decoded"):
    folders.FolderDomain(str(tmp_path), "train", "a")


def test_train_b_missing_names_the_path(tmp_path):
  make_folder_dataset(tmp_path, n=2, splits=("train",))
  import shutil
  shutil.rmtree(tmp_path / "trainB")
  cfg = tiny(dataset=str(tmp_path))
  with pytest.raises(ValueError, match="trainB"):
    pipeline.sources(cfg.data, "train", 0)


def test_unknown_dataset_is_a_clear_error():
  with pytest.raises(ValueError, match="neither 'synthetic', an existing folder .* nor a TFDS name"):
    pipeline.sources(tiny(dataset="/no/such/place").data, "train", 0)


def test_folder_training_batches_have_the_crop_size_and_range(tmp_path):
  cfg = tiny(dataset=make_folder_dataset(tmp_path, n=3)).data
  src = pipeline.sources(cfg, "train", 0)
  a, b = next(iter(pipeline.train_epoch(src, cfg, 0, epoch=0, steps_per_epoch=2)))
  assert a.shape == b.shape == (1, 32, 32, 3)
  assert -1 <= float(tf.reduce_min(a)) and float(tf.reduce_max(a)) <= 1


def _epoch(cfg, src, epoch, start, stop=None):
  return [(a.numpy(), b.numpy())
          for a, b in pipeline.train_epoch(src, cfg, 0, epoch, 6, start, stop)]


def test_training_order_is_deterministic_resumable_and_reshuffled_each_epoch():
  cfg = tiny(synthetic_train_size=5).data
  src = pipeline.sources(cfg, "train", 0)
  full = _epoch(cfg, src, 0, 0)
  again = _epoch(cfg, src, 0, 0)
  resumed = _epoch(cfg, src, 0, 4)
  stopped = _epoch(cfg, src, 0, 1, 3)  # A run that stops mid-epoch sees the same batches.
  assert len(full) == 6 and len(resumed) == 2 and len(stopped) == 2
  for (a1, _), (a2, _) in zip(full[1:3], stopped):
    np.testing.assert_array_equal(a1, a2)
  for (a1, b1), (a2, b2) in zip(full, again):
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)
  for (a1, b1), (a2, b2) in zip(full[4:], resumed):
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)
  next_epoch = _epoch(cfg, src, 1, 0)
  assert not np.allclose(full[0][0], next_epoch[0][0])


def test_a_runs_pipeline_crosses_epochs_as_its_epochs_would():
  # One pipeline for a run resumed at step 4 of epoch 0 and stopped at step 2 of epoch 2
  # (6 steps an epoch, 5 images a domain: each epoch repeats one, reshuffled).
  cfg = tiny(synthetic_train_size=5).data
  src = pipeline.sources(cfg, "train", 0)
  run = [(a.numpy(), b.numpy()) for a, b in pipeline.train_batches(src, cfg, 0, 6, 4, 14)]
  epochs = _epoch(cfg, src, 0, 4) + _epoch(cfg, src, 1, 0) + _epoch(cfg, src, 2, 0, 2)
  assert len(run) == len(epochs) == 10
  for (a1, b1), (a2, b2) in zip(run, epochs):
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)
  assert list(pipeline.train_batches(src, cfg, 0, 6, 7, 7)) == []


def test_unaligned_sampling_draws_a_and_b_independently():
  a = pipeline._epoch_indices(0, 0, 0, 50, 50)
  b = pipeline._epoch_indices(0, 0, 1, 50, 50)
  assert sorted(a) == list(range(50)) and sorted(b) == list(range(50))
  assert not np.array_equal(a, b)


def test_steps_per_epoch_defaults_to_the_larger_domain(tmp_path):
  root = make_folder_dataset(tmp_path, n=2, splits=("train",))
  write_image(os.path.join(root, "trainB", "extra.png"))
  cfg = tiny(dataset=root, steps_per_epoch=0)
  assert pipeline.steps_per_epoch(cfg, pipeline.sources(cfg.data, "train", 0)) == 3


def test_test_batches_resize_only():
  cfg = tiny().data
  src = pipeline.sources(cfg, "test", 0)["a"]
  images, masks = next(iter(pipeline.test_batches(src, 32, 4, with_masks=True)))
  expected = synthetic.example(0, "test", "a", 0, 32)[0]
  np.testing.assert_allclose(images[0].numpy(), expected.numpy(), atol=1e-6)
  assert masks.shape == (4, 32, 32, 1)


def test_synthetic_folders_read_back_as_a_folder_dataset_with_masks(tmp_path):
  from uagit_tf.data import synthetic as syn
  counts = syn.write_folders(str(tmp_path), seed=3, size=32, train_size=2, test_size=3)
  assert counts == {"trainA": 2, "trainB": 2, "testA": 3, "testB": 3}
  cfg = tiny(dataset=str(tmp_path)).data
  test = pipeline.sources(cfg, "test", 3)
  images, masks = next(iter(pipeline.test_batches(test["b"], 32, 3, with_masks=True)))
  want_images, want_masks = syn.batch(3, "test", "b", range(3), 32)
  np.testing.assert_allclose(images.numpy(), want_images.numpy(), atol=1.5 / 127.5)
  np.testing.assert_array_equal(masks.numpy(), want_masks.numpy())


def test_background_mix_gives_some_images_the_other_domains_background():
  def green_share(mix):
    images, masks = (t.numpy() for t in synthetic.batch(0, "train", "a", range(40), 32, mix))
    bg = [im[m[..., 0] == 0].mean(axis=0) for im, m in zip(images, masks)]
    return np.mean([g[1] > g[0] for g in bg])  # Grass: green above red.
  assert green_share(0.0) == 1.0
  assert 0.3 < green_share(0.5) < 0.7


def test_identical_domain_folders_are_warned_about(tmp_path):
  import shutil
  root = make_folder_dataset(tmp_path, n=2, splits=("train",))
  cfg = tiny(dataset=root).data
  assert pipeline.sanity_warnings(pipeline.sources(cfg, "train", 0), cfg) == []
  shutil.rmtree(tmp_path / "trainB")
  shutil.copytree(tmp_path / "trainA", tmp_path / "trainB")
  (warning,) = pipeline.sanity_warnings(pipeline.sources(cfg, "train", 0), cfg)
  assert "trainA" in warning and "trainB" in warning and "same files" in warning


def test_folder_cache_gives_the_same_pixels_as_decoding_from_disk(tmp_path):
  root = make_folder_dataset(tmp_path, n=3, splits=("train",), size=(40, 48))
  cached = folders.FolderDomain(root, "train", "a", cache_size=36)
  from_disk = folders.FolderDomain(root, "train", "a")
  small_budget = folders.FolderDomain(root, "train", "a", cache_size=36, cache_budget=100)
  assert cached._cache is not None and from_disk._cache is None and small_budget._cache is None
  for i in range(3):
    a = cached.load(tf.constant(i), 36).numpy()
    b = from_disk.load(tf.constant(i), 36).numpy()
    np.testing.assert_allclose(a, b, atol=1.01 * 2 / 255)  # uint8 rounding, in [-1, 1].


def test_the_hard_variant_has_domain_backgrounds_and_zero_to_two_objects_per_image():
  from scipy import ndimage
  images, masks = (t.numpy() for t in synthetic.batch(0, "train", "a", range(40), 48, 0.0,
                                                      "hard"))
  _, masks_b = (t.numpy() for t in synthetic.batch(0, "train", "b", range(40), 48, 0.0,
                                                   "hard"))
  counts = [ndimage.label(m[..., 0] > 0.5)[1] for m in masks]
  assert 0 in counts and 1 in counts and max(counts) >= 2  # Touching pairs count as one.
  areas = masks.mean(axis=(1, 2, 3))
  assert areas[areas > 0].min() < 0.5 * areas.max()  # Sizes vary.
  # Backgrounds: A's are green meadows with vertical blades, B's tan, banded savannas.
  def background(images, masks):
    return np.stack([im[m[..., 0] == 0].mean(axis=0) for im, m in zip(images, masks)])
  bg_b = background(synthetic.batch(0, "train", "b", range(40), 48, 0.0, "hard")[0].numpy(),
                    masks_b)
  assert np.all(background(images, masks)[:, 1] > background(images, masks)[:, 0])
  assert np.all(bg_b[:, 0] > bg_b[:, 1])
  # With mix 1 every image of A gets B's background; the images are new ones, not the
  # standard set's.
  swapped = synthetic.batch(0, "train", "a", range(40), 48, 1.0, "hard")[0].numpy()
  assert np.all(background(swapped, masks)[:, 0] > background(swapped, masks)[:, 1])
  standard = synthetic.batch(0, "train", "a", range(4), 48)[0].numpy()
  assert not np.allclose(standard, images[:4])
  with pytest.raises(ValueError, match="synthetic variant must be one of"):
    synthetic.variant("harder")


def _border(masks: np.ndarray) -> np.ndarray:
  """[N]: each mask's share of the image's outermost pixels."""
  m = masks[..., 0] > 0.5
  return np.concatenate([m[:, 0], m[:, -1], m[:, 1:-1, 0], m[:, 1:-1, -1]], 1).mean(1)


def _colours(image: np.ndarray, where: np.ndarray) -> set:
  """The colours of `image` [H, W, 3] in [-1, 1] at `where`, quantised to 4 levels a channel."""
  q = np.clip(((image + 1) / 2 * 4).astype(int), 0, 3)[where]
  return set(map(tuple, q))


def test_the_clutter_variant_breaks_the_border_colour_assumption():
  images, masks = (t.numpy() for t in synthetic.batch(0, "train", "a", range(60), 48, 0.0,
                                                      "clutter"))
  images_b, _ = (t.numpy() for t in synthetic.batch(0, "train", "b", range(60), 48, 0.0,
                                                    "clutter"))
  areas = masks.mean(axis=(1, 2, 3))
  assert 0.03 < np.mean(areas == 0) < 0.25  # Some images hold no animal.
  with_object = areas > 0
  # Animals cross the image border in many of the images that hold one.
  assert np.mean(_border(masks)[with_object] > 0) > 0.4
  # Many colours inside that the border does not show.
  ring = np.zeros([48, 48], bool)
  ring[:3], ring[-3:], ring[:, :3], ring[:, -3:] = True, True, True, True
  inner_only = [len(_colours(im, ~ring & (m[..., 0] == 0)) - _colours(im, ring))
                for im, m in zip(images, masks)]
  assert np.median(inner_only) >= 3, inner_only
  # Each domain has its own palette: A's scenes greener and bluer than B's on average.
  def background(images, masks):
    return np.stack([im[m[..., 0] == 0].mean(axis=0) for im, m in zip(images, masks)])
  bg_a = background(images, masks).mean(0)
  bg_b = background(images_b, np.zeros_like(masks)).mean(0)
  assert bg_a[1] - bg_a[0] > bg_b[1] - bg_b[0] + 0.1, (bg_a, bg_b)
  # Deterministic, and not the hard set's images.
  again = synthetic.variant("clutter")(0, "train", "a", 7, 48)[0].numpy()
  np.testing.assert_array_equal(again, images[7])
  hard = synthetic.batch(0, "train", "a", range(4), 48, 0.0, "hard")[0].numpy()
  assert not np.allclose(hard, images[:4])


def test_the_fill_variant_has_frame_filling_animals_on_shared_backgrounds():
  stats = {}
  for d in "ab":
    images, masks = (t.numpy() for t in synthetic.batch(0, "train", d, range(60), 48, 0.0, "fill"))
    areas = masks.mean(axis=(1, 2, 3))
    with_object = areas > 0
    assert 0 < np.mean(~with_object) < 0.15  # A few images hold no animal.
    assert np.median(areas[with_object]) > 0.45  # Most of the frame.
    sides = [sum(m[..., 0].any() for m in (mask[0], mask[-1], mask[:, 0], mask[:, -1]))
             for mask in (masks[with_object] > 0.5)]
    assert np.mean(np.array(sides) >= 2) > 0.9  # Crossing two sides or more.
    background = images[np.broadcast_to(masks == 0, images.shape)].reshape(-1, 3)
    stats[d] = background.mean(0)
  # One palette for both domains: the background colours agree on average.
  np.testing.assert_allclose(stats["a"], stats["b"], atol=0.1)
  # The mix changes nothing here.
  np.testing.assert_array_equal(synthetic.variant("fill")(0, "test", "b", 3, 32, 0.0)[0],
                                synthetic.variant("fill")(0, "test", "b", 3, 32, 1.0)[0])
