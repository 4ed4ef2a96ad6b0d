"""Thin absl commands over uagit_tf; each module's docstring shows how to run it."""

from uagit_tf import runtime_logs

runtime_logs.quiet()  # Before any command imports TensorFlow: the user's lines only.
