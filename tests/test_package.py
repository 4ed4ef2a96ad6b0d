"""What importing the package does to TensorFlow before it loads (oneDNN on x86)."""

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                                reason="the package turns oneDNN on on x86 only")

_ONEDNN = ("from tensorflow.python.util import _pywrap_util_port as port; "
           "from uagit_tf import distribute; "
           "print(port.IsMklEnabled(), repr(distribute.onednn_warning()))")


def _probe(first: str, **env) -> list[str]:
  """Imports `first`, then uagit_tf, in a fresh process: [oneDNN on, the warning]."""
  environ = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
  out = subprocess.run([sys.executable, "-c", f"import {first}; import uagit_tf; {_ONEDNN}"],
                       env={**environ, **env}, capture_output=True, text=True, timeout=120,
                       check=True).stdout
  return out.strip().split(" ", 1)


def test_importing_the_package_first_turns_onednn_on_unless_the_user_said_no():
  # TensorFlow leaves it off on x86 CPUs without AVX-512 (1.6x slower training there).
  assert _probe("os") == ["True", "None"]
  assert _probe("os", TF_ENABLE_ONEDNN_OPTS="0") == ["False", "None"]


def test_tensorflow_imported_first_keeps_its_own_choice_and_a_warning_says_so():
  enabled, warning = _probe("tensorflow")
  # Off (a CPU without AVX-512): the Trainer logs why and what to do.
  assert ("oneDNN kernels are off" in warning and "Import uagit_tf first" in warning) == (
      enabled == "False")
  assert (warning == "None") == (enabled == "True")
