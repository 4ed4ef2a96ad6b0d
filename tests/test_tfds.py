"""TFDS data sets through the real loading code, with tfds.testing.mock_data (no network)."""

import socket

import pytest
import tensorflow_datasets as tfds

from tests.conftest import tiny
from uagit_tf import training
from uagit_tf.data import pipeline


def test_cycle_gan_splits_load_through_tfds(tmp_path):
  cfg = tiny(dataset="cycle_gan/horse2zebra", tfds_data_dir=str(tmp_path)).data
  with tfds.testing.mock_data(num_examples=5):
    train = pipeline.sources(cfg, "train", 0)
    test = pipeline.sources(cfg, "test", 0)
  assert train["a"].size == train["b"].size == test["a"].size == 5
  a, b = next(iter(pipeline.train_epoch(train, cfg, 0, 0, 3)))
  assert a.shape == b.shape == (1, 32, 32, 3)
  assert -1 <= a.numpy().min() and a.numpy().max() <= 1 and a.numpy().std() > 0.05
  images = next(iter(pipeline.test_batches(test["b"], 32, 4)))
  assert images.shape == (4, 32, 32, 3)


@pytest.mark.usefixtures("eager")  # The loop's logic; see tests/conftest.py.
def test_training_runs_on_a_tfds_data_set(tmp_path):
  cfg = tiny(dataset="cycle_gan/apple2orange", tfds_data_dir=str(tmp_path / "data"),
             epochs=1, attention_epochs=1, decay_epoch=1, steps_per_epoch=0)
  with tfds.testing.mock_data(num_examples=3):
    trainer = training.Trainer(cfg, str(tmp_path / "wd"))
    assert trainer.steps_per_epoch == 3  # max(|A|, |B|) / batch
    trainer.fit(progress=False)
  assert int(trainer.step) == 3


def test_a_missing_data_set_is_one_clear_error_without_a_download(tmp_path, monkeypatch):
  # Not a download that would hang on a machine without network: no connection is opened,
  # and the builder is never asked to download.
  class NetworkUsed(Exception):  # Not one of the errors the loader turns into its message.
    pass

  def refuse(*args, **kwargs):
    raise NetworkUsed(f"tried to reach the network: {args[1:] or kwargs}")
  monkeypatch.setattr(socket.socket, "connect", refuse)
  monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", refuse)
  cfg = tiny(dataset="cycle_gan/horse2zebra", tfds_data_dir=str(tmp_path)).data
  with pytest.raises(ValueError, match=r"not prepared in .*download_and_prepare"):
    pipeline.sources(cfg, "train", 0)


def test_an_existing_folder_is_read_as_a_folder_even_with_a_tfds_like_name(tmp_path,
                                                                           monkeypatch):
  from tests.helpers import make_folder_dataset
  monkeypatch.chdir(tmp_path)
  make_folder_dataset(tmp_path / "cycle_gan" / "horse2zebra", n=2)
  cfg = tiny(dataset="cycle_gan/horse2zebra").data
  train = pipeline.sources(cfg, "train", 0)
  assert type(train["a"]).__name__ == "FolderDomain" and train["a"].size == 2
