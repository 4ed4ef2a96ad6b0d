"""Trains the attention-guided translator (or the CycleGAN baseline) on two domains.

    python -m trainers.train --workdir=runs/demo --preset=demo
    python -m trainers.train --workdir=runs/h2z --dataset=/data/horse2zebra
    python -m trainers.train --workdir=runs/h2z_paper --dataset=/data/horse2zebra --preset=paper

Every field of uagit_tf.config is a flag (`--help` lists them by concern). The default
--background_prior=auto looks at the training data first and logs what it chose (README:
"which to use when"); it never changes a flag given on the command line. Running again
on an existing workdir resumes it exactly; flags left out are taken from the workdir's
config.json, architecture flags that disagree with it are an error, and raising --epochs
continues a finished run.
"""

import dataclasses
import os
import sys

from absl import flags
from absl import logging

from trainers import console
from uagit_tf import config as config_lib
from uagit_tf import distribute
from uagit_tf import training
from uagit_tf import workdir as workdir_lib

flags.DEFINE_string("workdir", None, "Checkpoints, logs and config.json go here.", required=True)
flags.DEFINE_enum("preset", None, sorted(config_lib.PRESETS),
                  "Start from a named preset; explicit flags override it.")
_DEFINE = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer, float: flags.DEFINE_float,
           str: flags.DEFINE_string}
for _group, _cls in config_lib.GROUPS.items():
  for _field in dataclasses.fields(_cls):
    # module_name makes `--help` list the flags by concern ("model", "data", ...).
    if _field.metadata["choices"]:
      flags.DEFINE_enum(_field.name, _field.default, _field.metadata["choices"],
                        _field.metadata["help"], module_name=_group)
    else:
      _DEFINE[type(_field.default)](_field.name, _field.default, _field.metadata["help"],
                                    module_name=_group)
FLAGS = flags.FLAGS
# `--help` shows the module docstring: append every concern's flags to it, in order.
__doc__ += "\nFlags by concern:\n\n" + "\n\n".join(
    FLAGS.module_help(group).strip() for group in config_lib.GROUPS)


def config_from_flags() -> config_lib.Config:
  """Preset (or the workdir's saved config, or the defaults) + the flags given."""
  if FLAGS.preset:
    base = config_lib.preset(FLAGS.preset)
  elif os.path.isfile(os.path.join(FLAGS.workdir, config_lib.CONFIG_FILE)):
    base = config_lib.load(FLAGS.workdir)
  else:
    base = config_lib.Config()
  return config_lib.override(base, given_flags())


def given_flags() -> dict:
  """Field -> value of each config flag on the command line."""
  return {name: FLAGS[name].value for name in config_lib.FIELDS if FLAGS[name].present}


def main(argv):
  del argv
  try:
    given = frozenset(given_flags())
    with workdir_lib.lock(FLAGS.workdir):
      # A resumed run keeps the --background_prior that auto chose for it.
      cfg = workdir_lib.continued(config_from_flags(), FLAGS.workdir, given)
      if distribute.is_chief():  # Other workers of a multi_worker run only read the workdir.
        workdir_lib.check_can_continue(cfg, FLAGS.workdir)
      trainer = training.Trainer(cfg, FLAGS.workdir,  # Loads the data: may fail, writes nothing.
                                 given=given)
      if distribute.is_chief():  # As trained: --background_prior decided.
        workdir_lib.write_config(trainer.cfg, FLAGS.workdir)
      logging.info("Training %d epochs x %d steps into %s", cfg.schedule.epochs,
                   trainer.steps_per_epoch, FLAGS.workdir)
      trainer.fit()
  except training.TrainingInterrupted as e:
    print(f"train: {e}", file=sys.stderr)
    sys.exit(128 + e.signum)
  except KeyboardInterrupt:  # A second Ctrl-C: stopped without waiting for the step.
    print("train: stopped at once; the same command resumes from the last checkpoint.",
          file=sys.stderr)
    sys.exit(130)
  except (ValueError, FileNotFoundError, training.NonFiniteLossError,
          workdir_lib.CheckpointError, workdir_lib.WorkdirLockedError) as e:
    sys.exit(f"train: error: {e}")
  logging.info("Done at step %d; checkpoints in %s", trainer.current_step,
               workdir_lib.checkpoint_dir(FLAGS.workdir))


def run():
  console.run(__name__, main)


if __name__ == "__main__":
  run()
