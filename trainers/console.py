"""The console scripts (`uagit-train`, `uagit-translate`, ...) as the commands they stand for.

A console script's `__main__` is the installer's small wrapper, so absl's `--help` showed
its (empty) docstring and the flags of its file: none.
"""

import sys

from absl import app
from absl import flags


def run(module_name: str, main) -> None:
  """Runs `main` through absl, `--help` showing `module_name`'s docstring and flags."""
  module, entry = sys.modules[module_name], sys.modules["__main__"]
  if entry is not module:
    entry.__doc__ = module.__doc__
    for flag in flags.FLAGS.get_key_flags_for_module(module_name):
      flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
  app.run(main)
