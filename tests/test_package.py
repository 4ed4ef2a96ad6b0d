"""What importing the package does to TensorFlow before it loads (oneDNN on x86)."""

import os
import platform
import subprocess
import sys

import pytest

import uagit_tf
from tests.helpers import ROOT
from uagit_tf import cpu

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


def _onednn_on(command: str, **env) -> bool:
  """Whether TensorFlow's oneDNN kernels are on in a process running `command` (as
  `python -m command` names it) once the trainers package has loaded."""
  code = ("import sys; sys.orig_argv = [sys.executable, '-m', %r]; import trainers; "
          "from tensorflow.python.util import _pywrap_util_port as p; "
          "print('ONEDNN', p.IsMklEnabled())" % command)
  environ = {k: v for k, v in os.environ.items()
             if k not in ("TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA")}
  out = subprocess.run([sys.executable, "-c", code], env={**environ, **env}, cwd=ROOT,
                       capture_output=True, text=True, check=True).stdout
  return out.split("ONEDNN ")[-1].strip() == "True"


def test_translate_runs_without_onednn_where_it_has_only_avx2():
  # Held to AVX2, oneDNN's forward convolutions are its slowest kernels: translate turns it
  # off, training keeps it, and the user's own setting wins.
  assert not _onednn_on("trainers.translate", ONEDNN_MAX_CPU_ISA="AVX2")
  assert _onednn_on("trainers.train", ONEDNN_MAX_CPU_ISA="AVX2")
  assert _onednn_on("trainers.translate", ONEDNN_MAX_CPU_ISA="AVX2", TF_ENABLE_ONEDNN_OPTS="1")
  # Where oneDNN has AVX-512 it stays on for translate too.
  assert _onednn_on("trainers.translate") == cpu.onednn_has_avx512()


def test_running_command_names_the_module_or_the_script(monkeypatch):
  monkeypatch.setattr(sys, "orig_argv", ["python", "-m", "trainers.translate", "--x=1"])
  assert uagit_tf.running_command() == "trainers.translate"
  monkeypatch.setattr(sys, "orig_argv", ["python", "/venv/bin/uagit-translate", "--x=1"])
  monkeypatch.setattr(sys, "argv", ["/venv/bin/uagit-translate", "--x=1"])
  assert uagit_tf.running_command() == "uagit-translate"


def test_onednn_has_avx512_follows_the_cap(monkeypatch):
  monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
  assert not cpu.onednn_has_avx512()
  monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE")
  assert cpu.onednn_has_avx512() == ("avx512f" in cpu.info()[1])
