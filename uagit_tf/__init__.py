"""uagit_tf: Unsupervised Attention-guided Image-to-Image Translation in TensorFlow 2 / Keras 3."""

import os as _os
import platform as _platform

__version__ = "0.1.0"

# TensorFlow turns its oneDNN kernels on by itself only on x86 CPUs with AVX-512; on one
# with AVX2 alone (an AMD EPYC of the Zen 3 family) the paper nets' stage-1 step at 128 px
# took 6.6 s without them and 4.1 s with them (BUILD_NOTES.md). TensorFlow reads the
# variable once, as it loads, so this comes before any module here imports it; a user's
# own TF_ENABLE_ONEDNN_OPTS (0 turns them off) is kept. Other architectures keep
# TensorFlow's own choice.
if _platform.machine().lower() in ("x86_64", "amd64"):
  _os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
