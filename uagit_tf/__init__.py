"""uagit_tf: Unsupervised Attention-guided Image-to-Image Translation in TensorFlow 2 / Keras 3."""

import os as _os
import platform as _platform
import sys as _sys

__version__ = "0.1.0"

# TensorFlow turns its oneDNN kernels on by itself only on x86 CPUs with AVX-512; on one
# with AVX2 alone (an AMD EPYC of the Zen 3 family) the paper nets' stage-1 step at 128 px
# took 6.6 s without them and 4.1 s with them (BUILD_NOTES.md). TensorFlow reads the
# variable once, as it loads, so this comes before any module here imports it; a user's
# own TF_ENABLE_ONEDNN_OPTS (0 turns them off) is kept. Other architectures keep
# TensorFlow's own choice.
_X86 = _platform.machine().lower() in ("x86_64", "amd64")
_USERS_ONEDNN = _os.environ.get("TF_ENABLE_ONEDNN_OPTS")  # Before this module sets it.
if _X86:
  _os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def running_command() -> str:
  """What this process runs: X of `python -m X`, else its script's name (`uagit-translate`)."""
  argv = getattr(_sys, "orig_argv", _sys.argv)
  if "-m" in argv[:-1]:
    return argv[argv.index("-m") + 1]
  return _os.path.basename(_sys.argv[0])


def forward_only_process() -> bool:
  """Turns TensorFlow's oneDNN kernels off for a process that only runs the networks
  forward (`trainers.translate`, `benchmarks.export`) where oneDNN may use AVX2 at most;
  returns whether it did.

  There oneDNN runs every forward convolution on im2col and a matrix product, its slowest
  kernel, while TensorFlow's own took half the time: the paper's translator at 256 px,
  292.7 ms with oneDNN and 151.1 without, under ONEDNN_MAX_CPU_ISA=AVX2 (with AVX-512,
  82.0 and 103.1: oneDNN stays; BUILD_NOTES.md). Training keeps oneDNN, whose gradient
  kernels are the faster ones. The user's own TF_ENABLE_ONEDNN_OPTS is kept, and so is
  an already imported TensorFlow's choice. Call it before TensorFlow is imported.
  """
  from uagit_tf import cpu  # pylint: disable=g-import-not-at-top
  if (not _X86 or _USERS_ONEDNN is not None or "tensorflow" in _sys.modules
      or cpu.onednn_has_avx512()):
    return False
  _os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
  return True
