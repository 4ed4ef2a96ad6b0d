"""What importing the package does to TensorFlow before it loads."""

import os
import platform
import subprocess
import sys

import pytest

_PROBE = ("import uagit_tf, tensorflow; "
          "from tensorflow.python.util import _pywrap_util_port as port; "
          "print('onednn', port.IsMklEnabled())")


def _onednn(**env) -> str:
  environ = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
  out = subprocess.run([sys.executable, "-c", _PROBE], env={**environ, **env},
                       capture_output=True, text=True, timeout=120, check=True).stdout
  return out.split()[-1]


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="oneDNN is turned on by the package on x86 only")
def test_importing_the_package_first_turns_onednn_on_unless_the_user_said_no():
  # TensorFlow leaves it off on x86 CPUs without AVX-512 (1.6x slower training there).
  assert _onednn() == "True"
  assert _onednn(TF_ENABLE_ONEDNN_OPTS="0") == "False"
