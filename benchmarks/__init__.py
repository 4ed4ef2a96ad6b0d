"""Benchmarks of quality, speed and robustness; each module's docstring shows how to run it."""

from uagit_tf import runtime_logs

runtime_logs.quiet()  # The benchmark's own lines, not TensorFlow's runtime ones.
