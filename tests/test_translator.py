"""Inference at any resolution: mirror padding, cropping, restoring from a workdir."""

import numpy as np
import pytest
import tensorflow as tf

from uagit_tf import method
from uagit_tf import workdir as workdir_lib
from uagit_tf import translator as translator_lib
from uagit_tf.translator import Translator


@pytest.mark.parametrize("h,w", [(1, 1), (3, 7), (8, 8), (21, 50), (64, 36)])
def test_pad_gives_network_sizes_and_crop_restores_the_image(h, w):
  images = tf.random.uniform([2, h, w, 3])
  padded, box = translator_lib.pad(images)
  ph, pw = padded.shape[1:3]
  assert ph % 4 == 0 and pw % 4 == 0 and ph >= 8 and pw >= 8
  assert ph - h < 8 or h < 8  # No more padding than needed.
  np.testing.assert_array_equal(translator_lib.crop(padded, box).numpy(), images.numpy())


def test_padding_mirrors_the_image():
  row = tf.constant([[1.0, 2.0, 3.0]])[None, :, :, None]  # [1, 1, 3, 1]
  padded, _ = translator_lib.pad(tf.tile(row, [1, 1, 1, 3]))
  assert padded.shape[1:3] == (8, 8)
  # left=2, 3 values, right=3: symmetric mirroring 2 1 | 1 2 3 | 3 2 1
  np.testing.assert_array_equal(padded[0, 0, :, 0].numpy(), [2, 1, 1, 2, 3, 3, 2, 1])


def test_translator_matches_the_method_on_network_sizes_and_keeps_odd_sizes(trained_workdir):
  tr = Translator.from_workdir(trained_workdir, "a2b")
  images = tf.random.uniform([2, 32, 32, 3], -1, 1)
  direct = method.translate(images, tr.gen, tr.att)
  out = tr(images)
  for k in ("mask", "translated", "generated"):
    np.testing.assert_allclose(out[k].numpy(), direct[k].numpy(), atol=1e-6)
  odd = tr(tf.random.uniform([1, 13, 29, 3], -1, 1))
  assert odd["translated"].shape == (1, 13, 29, 3) and odd["mask"].shape == (1, 13, 29, 1)


def test_every_restored_weight_equals_the_checkpointed_value(trained_workdir):
  # Read the checkpoint independently of our restore code: each network's weights are
  # stored under <network>/weights/<i>, and inference must get exactly those values.
  cfg, nets = workdir_lib.restore_networks(trained_workdir)
  path = tf.train.latest_checkpoint(trained_workdir + "/checkpoints")
  n = 0
  for name, net in nets.by_name().items():
    for i, w in enumerate(net.weights):
      stored = tf.train.load_variable(path, f"{name}/weights/{i}/.ATTRIBUTES/VARIABLE_VALUE")
      np.testing.assert_array_equal(w.numpy(), stored, err_msg=f"{name}/{i}")
      n += 1
  assert n == sum(len(net.weights) for net in nets.by_name().values()) > 50


@pytest.mark.usefixtures("eager")  # The loop's logic; see tests/conftest.py.
def test_translator_from_workdir_equals_the_trainers_own_networks(tmp_path):
  from tests.conftest import tiny
  from uagit_tf import training
  cfg = tiny()
  workdir_lib.prepare(cfg, str(tmp_path))
  trainer = training.Trainer(cfg, str(tmp_path))
  trainer.fit(max_steps=2, progress=False)
  images = tf.random.uniform([2, 32, 32, 3], -1, 1)
  for direction in ("a2b", "b2a"):
    want = Translator.from_networks(trainer.nets, direction)(images)
    got = Translator.from_workdir(str(tmp_path), direction)(images)
    for k in ("mask", "translated", "generated"):
      np.testing.assert_array_equal(got[k].numpy(), want[k].numpy(), err_msg=k)


def test_missing_checkpoint_is_a_clear_error(tmp_path, trained_workdir):
  from uagit_tf import config
  config.save(config.load(trained_workdir), str(tmp_path))
  with pytest.raises(FileNotFoundError, match="No checkpoint in"):
    Translator.from_workdir(str(tmp_path), "a2b")
  with pytest.raises(FileNotFoundError, match="not found"):
    Translator.from_workdir(trained_workdir, "a2b", checkpoint=str(tmp_path / "ckpt-9"))
  with pytest.raises(ValueError, match="direction"):
    Translator.from_workdir(trained_workdir, "a2c")


def test_tiles_with_the_whole_images_statistics_equal_the_untiled_translation(
    trained_workdir):
  tr = Translator.from_workdir(trained_workdir, "a2b")
  # Smooth, as photos are at the scale of their content (downscaling keeps statistics).
  coarse = tf.random.stateless_uniform([1, 6, 6, 3], [1, 2], -1.0, 1.0)
  image = tf.image.resize(coarse, [90, 77], method="bicubic")[0]
  whole = tr.translate_image(image, tile=128)  # Fits one tile: untiled.
  # Tiles of 32 with a halo wider than the tiny nets' receptive field, and statistics
  # from the image at full size: the same result, so no seams.
  tiled = tr.tiled(image, tile=32, halo=32, statistics_side=128)
  for k in ("translated", "mask", "generated"):
    assert tiled[k].shape == whole[k].shape
    np.testing.assert_allclose(tiled[k].numpy(), whole[k].numpy(), atol=2e-4, err_msg=k)
  # Statistics from a copy downscaled to 48 px: close, and no edge at the tile borders.
  approx = tr.tiled(image, tile=32, halo=32, statistics_side=48)["translated"].numpy()
  assert np.abs(approx - whole["translated"].numpy()).mean() < 0.05
  jumps = np.abs(np.diff(approx, axis=0)).mean(axis=(1, 2))  # Row-to-row change.
  assert jumps[31] < 2 * np.median(jumps) and jumps[63] < 2 * np.median(jumps)


def test_an_image_too_large_for_memory_is_a_clear_error(trained_workdir):
  tr = Translator.from_workdir(trained_workdir, "a2b")
  with pytest.raises(ValueError, match="needs about .* GiB to translate even in tiles"):
    translator_lib._check_memory(10**6, 10**6)
  assert tr.translate_image(tf.zeros([5, 7, 3]))["mask"].shape == (5, 7, 1)
