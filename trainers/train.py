"""Trains the attention-guided translator (or the CycleGAN baseline) on two domains.

    python -m trainers.train --workdir=runs/demo --preset=demo
    python -m trainers.train --workdir=runs/h2z --dataset=/data/horse2zebra   # paper settings

Every field of uagit_tf.config is a flag. Running again on an existing workdir resumes it
exactly; flags left out are taken from the workdir's config.json, architecture flags that
disagree with it are an error, and raising --epochs continues a finished run.
"""

import dataclasses
import os
import sys

from absl import app
from absl import flags
from absl import logging

from uagit_tf import config as config_lib
from uagit_tf import distribute
from uagit_tf import training

flags.DEFINE_string("workdir", None, "Checkpoints, logs and config.json go here.", required=True)
flags.DEFINE_enum("preset", None, sorted(config_lib.PRESETS),
                  "Start from a named preset; flags given explicitly override it.")
_DEFINE = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer, float: flags.DEFINE_float,
           str: flags.DEFINE_string}
for _cls in (config_lib.ModelConfig, config_lib.TrainConfig):
  for _field in dataclasses.fields(_cls):
    if _field.metadata["choices"]:
      flags.DEFINE_enum(_field.name, _field.default, _field.metadata["choices"],
                        _field.metadata["help"])
    else:
      _DEFINE[type(_field.default)](_field.name, _field.default, _field.metadata["help"])
FLAGS = flags.FLAGS


def config_from_flags() -> config_lib.Config:
  """Preset (or the workdir's saved config, or the paper defaults) + explicit flags."""
  if FLAGS.preset:
    base = config_lib.preset(FLAGS.preset)
  elif os.path.isfile(os.path.join(FLAGS.workdir, config_lib.CONFIG_FILE)):
    base = config_lib.load(FLAGS.workdir)
  else:
    base = config_lib.Config()
  explicit = {name: FLAGS[name].value
              for name in config_lib.MODEL_FIELDS | config_lib.TRAIN_FIELDS
              if FLAGS[name].present}
  return config_lib.override(base, explicit)


def main(argv):
  del argv
  try:
    cfg = config_from_flags()
    if distribute.is_chief():  # Other workers of a multi_worker run only read the workdir.
      training.prepare_workdir(cfg, FLAGS.workdir)
      with open(os.path.join(FLAGS.workdir, "flags.txt"), "w") as f:
        f.writelines(f"--{k}={v}\n" for k, v in sorted(config_lib.flat(cfg).items()))
    trainer = training.Trainer(cfg, FLAGS.workdir)
    logging.info("Training %d epochs x %d steps into %s", cfg.train.epochs,
                 trainer.steps_per_epoch, FLAGS.workdir)
    trainer.fit()
  except (ValueError, FileNotFoundError, training.NonFiniteLossError,
          training.CheckpointError) as e:
    sys.exit(f"train: error: {e}")
  logging.info("Done at step %d; checkpoints in %s", trainer.current_step,
               os.path.join(FLAGS.workdir, "checkpoints"))


def run():
  app.run(main)


if __name__ == "__main__":
  run()
