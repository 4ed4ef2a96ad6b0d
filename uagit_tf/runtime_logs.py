"""Keeps the commands' output to the user's lines: TensorFlow's runtime logs are hidden.

    from uagit_tf import runtime_logs
    runtime_logs.quiet()          # first thing in every command package (trainers, export)

TensorFlow prints its start-up lines (oneDNN, CUDA probing) straight to the process's
stderr before its log settings apply, then INFO/WARNING lines of its runtime (checkpoint
sharding times, aborted tf.data rendezvous on unreadable files). `quiet()` imports
TensorFlow with file descriptor 2 sent to /dev/null, then keeps the C++ runtime to errors
and TensorFlow's Python logger to warnings. `UAGIT_TF_LOGS=1` shows everything.
"""

import logging
import os


def quiet() -> None:
  """Imports TensorFlow without its runtime chatter (idempotent)."""
  if os.environ.get("UAGIT_TF_LOGS"):
    return
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
  os.dup2(devnull, 2)
  try:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    tf.config.list_physical_devices()  # Device probing logs too; the runtime stays unset.
  finally:
    os.dup2(saved, 2)
    os.close(devnull)
    os.close(saved)
  logging.getLogger("tensorflow").setLevel(logging.WARNING)
