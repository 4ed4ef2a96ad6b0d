"""Benchmarks of quality, speed and robustness; each module's docstring shows how to run it."""

import uagit_tf
from uagit_tf import runtime_logs

# The exports' latencies as `trainers.translate` gets them (uagit_tf.forward_only_process).
if uagit_tf.running_command() == "benchmarks.export":
  uagit_tf.forward_only_process()  # Before TensorFlow loads.
runtime_logs.quiet()  # The benchmark's own lines, not TensorFlow's runtime ones.
