"""Thin absl commands over uagit_tf; each module's docstring shows how to run it."""

import uagit_tf
from uagit_tf import runtime_logs

# Commands that only run the networks forward, as `python -m` or the installed script
# names them: where oneDNN has AVX2 at most they run on TensorFlow's own kernels.
FORWARD_ONLY = ("trainers.translate", "uagit-translate")

if uagit_tf.running_command() in FORWARD_ONLY:
  uagit_tf.forward_only_process()  # Before TensorFlow loads.
runtime_logs.quiet()  # Before any command imports TensorFlow: the user's lines only.
