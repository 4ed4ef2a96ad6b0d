"""What this CPU offers TensorFlow's oneDNN kernels, read without importing TensorFlow."""

import os
import platform


def info() -> tuple[str, set[str]]:
  """(the CPU's model with its family and model numbers where known, its flags)."""
  model, flags = platform.processor() or platform.machine(), set()
  try:
    with open("/proc/cpuinfo") as f:
      first = f.read().split("\n\n")[0]  # The first processor's block.
  except OSError:
    return model, flags
  fields = {k.strip(): v.strip() for k, v in (l.split(":", 1) for l in first.splitlines()
                                              if ":" in l)}
  model = fields.get("model name") or model
  if "cpu family" in fields and "model" in fields:
    model = f"{model} (family {fields['cpu family']} model {fields['model']})"
  return model, set(fields.get("flags", "").split())


def onednn_on() -> bool | None:
  """Whether TensorFlow, once loaded, runs its oneDNN kernels (TF_ENABLE_ONEDNN_OPTS as it
  read the variable at import); None where this TensorFlow cannot tell."""
  try:
    from tensorflow.python.util import _pywrap_util_port  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  return bool(_pywrap_util_port.IsMklEnabled())


def onednn_has_avx512() -> bool:
  """Whether oneDNN may use AVX-512 here: the CPU has it and ONEDNN_MAX_CPU_ISA (AVX2,
  AVX2_VNNI, ...: its names without AVX-512 start otherwise) does not hold it back."""
  cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
  if cap and not cap.startswith(("AVX512", "AVX10", "AMX", "ALL", "DEFAULT")):
    return False
  return "avx512f" in info()[1]
