"""SavedModel (TF Serving) and TFLite translators that bundle the mask compositing.

    python -m export.saved_model --workdir=runs/demo --export_dir=models/uagit
    python -m export.tflite --workdir=runs/demo --output=uagit_a2b.tflite --image_size=256

Every signature is made in one place, `ExportModule.signature`, from a row of the
`INPUT_KINDS` table (uint8 images of any size, encoded bytes, fixed-size uint8 or float32
for TFLite): each kind decodes its input to images in [0, 1], every kind passes the same
checks in `ExportModule.translate`, which calls the one `translator.Translator`. The TFLite model is
converted from those same functions, never from a second copy of the architecture.
"""

import dataclasses
import json
import os
import shutil
import tempfile
import types
from typing import Callable

import numpy as np
import tensorflow as tf
from tensorflow.lite.python import util as lite_util  # modify_model_io_type: TF pinned < 2.22.

from uagit_tf import config as config_lib
from uagit_tf.models import Networks
from uagit_tf.models import attention
from uagit_tf.pixels import to_uint8
from uagit_tf.domains import DIRECTIONS
from uagit_tf.translator import Translator

SERVING_SIGNATURES = ("serving_default", "a2b", "b2a", "a2b_bytes", "b2a_bytes")
QUANTIZATIONS = ("none", "float16", "dynamic", "int8")


def _as_uint8(out: dict) -> dict:
  """Images as uint8 pixels, the mask as float32 in [0, 1]."""
  return {"translated": to_uint8(out["translated"], -1.0), "mask": out["mask"],
          "generated": to_uint8(out["generated"], -1.0)}


def _as_unit_float(out: dict) -> dict:
  """Images and the mask as float32 in [0, 1]."""
  return {"translated": (out["translated"] + 1.0) / 2.0, "mask": out["mask"],
          "generated": (out["generated"] + 1.0) / 2.0}


def _as_png(out: dict) -> dict:
  """The one image of a batch of one, translated and mask, as PNG bytes."""
  return {"translated_bytes": tf.io.encode_png(to_uint8(out["translated"][0], -1.0)),
          "mask_bytes": tf.io.encode_png(to_uint8(out["mask"][0], 0.0))}


def _decode_bytes(data: tf.Tensor) -> tf.Tensor:
  image = tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)
  return tf.cast(image, tf.float32)[None] / 255.0


@dataclasses.dataclass(frozen=True)
class InputKind:
  """One kind of request: its TensorSpec, how it becomes images in [0, 1], what it returns."""
  dtype: tf.DType
  name: str                                    # The signature's input name.
  decode: Callable[[tf.Tensor], tf.Tensor]     # input -> [B, H, W, 3] float32 in [0, 1]
  encode: Callable[[dict], dict]               # Translator outputs -> the signature's
  outputs: tuple[str, ...]
  fixed: bool = False                          # [1, S, S, 3] (TFLite) instead of any size.
  per_image: bool = False                      # A batch of encoded images, one at a time.

  def tensor_spec(self, image_size: int | None) -> tf.TensorSpec:
    if self.per_image:
      return tf.TensorSpec([None], self.dtype, self.name)
    if self.fixed:
      return tf.TensorSpec([1, image_size, image_size, 3], self.dtype, self.name)
    return tf.TensorSpec([None, None, None, 3], self.dtype, self.name)


_PIXELS = ("translated", "mask", "generated")
_from_uint8 = lambda images: tf.cast(images, tf.float32) / 255.0
INPUT_KINDS = {
    # TF Serving: uint8 images of any size, or PNG/JPEG/GIF/BMP bytes.
    "uint8": InputKind(tf.uint8, "images", _from_uint8, _as_uint8, _PIXELS),
    "bytes": InputKind(tf.string, "image_bytes", _decode_bytes, _as_png,
                       ("translated_bytes", "mask_bytes"), per_image=True),
    # TFLite: one image of a fixed size, uint8 pixels or float32 in [0, 1].
    "fixed_uint8": InputKind(tf.uint8, "images", _from_uint8, _as_uint8, _PIXELS, fixed=True),
    "fixed_float32": InputKind(tf.float32, "images", tf.identity, _as_unit_float, _PIXELS,
                               fixed=True),
}


class ExportModule(tf.Module):
  """The translators of both directions plus every weight they use, explicitly tracked."""

  def __init__(self, nets: Networks, cfg: config_lib.Config):
    super().__init__(name="uagit_tf")
    # Held outside the object graph: the exported functions need only the tf.Variables
    # they capture (tracked by track_variables_of); tracking the Keras objects too would
    # store every weight twice.
    self._untracked = types.SimpleNamespace(
        translators={d: Translator.from_networks(nets, d) for d in DIRECTIONS})
    self.config_json = json.dumps(cfg.to_dict(), sort_keys=True)

  @property
  def translators(self) -> dict[str, Translator]:
    return self._untracked.translators

  def track_variables_of(self, functions) -> None:
    """Attaches the tf.Variables that the traced `functions` read to this module.

    Keras 3 variables wrap tf.Variables; a SavedModel that reaches them only through the
    Keras objects reloads in TF 2 but fails in the C++ loader of TF Serving and
    saved_model_cli ("Could not find variable ..."). Tracking the captured tf.Variables
    themselves fixes that (keras.export.ExportArchive does the same).
    """
    seen, used = set(), []
    for fn in functions:
      for v in fn.get_concrete_function().variables:
        if id(v) not in seen:
          seen.add(id(v))
          used.append(v)
    self.used_variables = used

  def translate(self, images01: tf.Tensor, direction: str) -> dict[str, tf.Tensor]:
    """images [B, H, W, 3] in [0, 1] -> translated, generated in [-1, 1], mask in [0, 1].

    The checks every input kind passes: 3 channels, height and width >= 1 (a request that
    fails them is an InvalidArgument error), and an empty batch gives empty outputs.
    """
    shape = tf.shape(images01)
    checks = [
        tf.debugging.assert_equal(shape[3], 3, message="images must have 3 channels (RGB)"),
        tf.debugging.assert_positive(shape[1:3], message="images must have height and width >= 1"),
    ]
    with tf.control_dependencies(checks):
      images = tf.identity(images01) * 2.0 - 1.0
    translate = lambda: self.translators[direction](images)
    if images01.shape[0] is not None and images01.shape[0] > 0:
      return translate()  # A fixed, non-empty batch (TFLite): no branch needed.
    # An empty batch is a valid request: empty outputs, without running the nets.
    return tf.cond(shape[0] > 0, translate,
                   lambda: {"translated": images, "generated": images, "mask": images01[..., :1]})

  def signature(self, direction: str, kind: str, image_size: int | None = None):
    """The exported function of `direction` for one input kind (see INPUT_KINDS).

    Args:
      direction: 'a2b' or 'b2a'.
      kind: a key of INPUT_KINDS.
      image_size: S for the fixed-size kinds.
    Returns:
      A tf.function with its input signature.
    Raises:
      ValueError: an unknown kind, or a fixed kind without an image size.
    """
    if kind not in INPUT_KINDS:
      raise ValueError(f"Unknown signature kind {kind!r}; choose one of {sorted(INPUT_KINDS)}")
    spec = INPUT_KINDS[kind]
    if spec.fixed and not image_size:
      raise ValueError(f"Signature kind {kind!r} needs an image_size")

    def serve_one(inputs):
      return spec.encode(self.translate(spec.decode(inputs), direction))

    @tf.function(input_signature=[spec.tensor_spec(image_size)])
    def serve(inputs):
      if not spec.per_image:
        return serve_one(inputs)
      # Encoded images differ in size: one at a time, each a batch of one.
      signature = {k: tf.TensorSpec([], tf.string) for k in spec.outputs}
      return tf.map_fn(serve_one, inputs, fn_output_signature=signature)
    return serve

  def serving_signatures(self) -> dict:
    sigs = {}
    for d in DIRECTIONS:
      sigs[d] = self.signature(d, "uint8")
      sigs[f"{d}_bytes"] = self.signature(d, "bytes")
    sigs["serving_default"] = sigs["a2b"]
    return sigs


def next_version(export_base: str) -> int:
  """1 + the largest integer sub-folder of `export_base` (1 if there is none)."""
  if not os.path.isdir(export_base):
    return 1
  versions = [int(n) for n in os.listdir(export_base) if n.isdigit()]
  return max(versions, default=0) + 1


def check_export_base(export_base: str, version: int | None) -> None:
  """Checks, before any work, that a version can be written under `export_base`.

  Raises:
    ValueError: a version that is not a positive integer or exists already, or an
      export_dir that is a file or cannot be written.
  """
  if version is not None and version < 1:
    raise ValueError(f"--version must be a positive integer (TF Serving's versions are), "
                     f"got {version}")
  if os.path.exists(export_base) and not os.path.isdir(export_base):
    raise ValueError(f"--export_dir={export_base!r} is a file; give a folder.")
  if version is not None and os.path.exists(os.path.join(export_base, str(version))):
    raise ValueError(f"{os.path.join(export_base, str(version))} exists already; pick "
                     "another --version")
  check_writable_file(os.path.join(export_base, ".write_test"))


def check_writable_file(path: str) -> None:
  """Raises ValueError unless `path` can be created (its folder is made if needed); the
  file is not left behind. Used before long work that ends in writing `path`."""
  if os.path.isdir(path):
    raise ValueError(f"{path!r} is a folder; give a file name.")
  try:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    probe = f"{path}.write_test_{os.getpid()}"
    with open(probe, "w"):
      pass
    os.remove(probe)
  except OSError as e:
    raise ValueError(f"Cannot write {path!r}: {e.strerror}") from None


def export_saved_model(nets: Networks, cfg: config_lib.Config, export_base: str,
                       version: int | None = None) -> str:
  """Writes export_base/<version>/ atomically: a temporary sibling renamed into place.

  A server polling `export_base` never sees a half-written version (TF Serving ignores
  folders whose names are not integers, such as the temporary one).

  The folder is world-readable (0755, files 0644), so a server running as another user
  can load it.

  Returns:
    The version folder.
  Raises:
    ValueError: see `check_export_base`.
  """
  check_export_base(export_base, version)
  version = next_version(export_base) if version is None else version
  final = os.path.join(export_base, str(version))
  tmp = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=export_base)
  try:
    module = ExportModule(nets, cfg)
    signatures = module.serving_signatures()
    module.track_variables_of(signatures.values())
    tf.saved_model.save(module, tmp, signatures=signatures)
    config_lib.save(cfg, tmp)
    _make_readable(tmp)
    os.rename(tmp, final)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  return final


def _make_readable(folder: str) -> None:
  """mkdtemp makes folders 0700, and renaming keeps that: open it to every user."""
  for root, dirs, files in os.walk(folder):
    os.chmod(root, 0o755)
    for name in files:
      os.chmod(os.path.join(root, name), 0o644)


def export_tflite(nets: Networks, cfg: config_lib.Config, direction: str, image_size: int,
                  quantize: str = "none", float_io: bool = False,
                  representative: np.ndarray | None = None) -> bytes:
  """Converts one direction at a fixed size to a TFLite flatbuffer, builtin ops only.

  Args:
    quantize: 'none', 'float16', 'dynamic' (weights int8) or 'int8' (needs
      `representative`: float images in [0, 1], [N, S, S, 3]).
    float_io: float32 input/output in [0, 1] instead of uint8 0-255.
  Raises:
    ValueError: a bad option, or an op that would need Flex (TF ops) in TFLite.
  """
  if quantize not in QUANTIZATIONS:
    raise ValueError(f"quantize must be one of {QUANTIZATIONS}, got {quantize!r}")
  if image_size < 8 or image_size % 4:
    raise ValueError(f"image_size must be a multiple of 4 and >= 8, got {image_size}")
  # Converted from a SavedModel of the same module (the functions the server gets, at a
  # fixed size): the loader turns the variables into constants. Converting the live
  # concrete function instead left uninitialised READ_VARIABLE ops (NaN outputs).
  module = ExportModule(nets, cfg)
  # int8 quantizes the float graph and lets the converter expose uint8 input and outputs
  # (scale 1/255 from the [0, 1] ranges): quantizing our own uint8 casts breaks the model.
  int8_uint8 = quantize == "int8" and not float_io
  kind = "fixed_float32" if float_io or int8_uint8 else "fixed_uint8"
  fn = module.signature(direction, kind, image_size)
  module.track_variables_of([fn])
  with tempfile.TemporaryDirectory() as tmp:
    tf.saved_model.save(module, tmp, signatures={"translate": fn})
    converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=["translate"])
    return _convert(converter, quantize, float_io, representative)


def _convert(converter: tf.lite.TFLiteConverter, quantize: str, float_io: bool,
             representative: np.ndarray | None) -> bytes:
  """Applies the quantization options and converts, naming any Flex op problem."""
  converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
  if quantize == "float16":
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
  elif quantize == "dynamic":
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
  elif quantize == "int8":
    if representative is None or not len(representative):
      raise ValueError("int8 quantization needs representative images")
    return _convert_int8(converter, float_io, representative)
  return _converted(converter.convert)


def _convert_int8(converter: tf.lite.TFLiteConverter, float_io: bool,
                  representative: np.ndarray) -> bytes:
  """int8 everywhere but the ops under attention.FLOAT_SCOPE, which stay float32.

  Those post-process one-channel masks: the guided filter's 3x3 solves over determinants
  as small as eps^3, which int8 rounds to 0. They are a small share of the model's
  arithmetic. The converter's own int8 path cannot leave named ops in float; its
  quantization debugger can (`denylisted_nodes`).
  """
  float_model = _converted(converter.convert)  # Names the ops to keep, as TFLite has them.
  scope = f"/{attention.FLOAT_SCOPE}/"
  keep = [t["name"] for t in _interpreter(float_model).get_tensor_details()
          if scope in t["name"]]
  converter.optimizations = [tf.lite.Optimize.DEFAULT]
  converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                         tf.lite.OpsSet.TFLITE_BUILTINS]
  # One extra sample holding a black and a white pixel pins the input range to [0, 1]:
  # with uint8 input the scale is then exactly 1/255, so raw pixels go in unchanged.
  pinned = np.array(representative[:1], np.float32)
  pinned[0, 0, 0], pinned[0, 0, 1] = 0.0, 1.0
  samples = np.concatenate([pinned, representative]).astype(np.float32)
  dataset = lambda: ([s[None]] for s in samples)
  converter.representative_dataset = dataset
  # The denylist names single-output ops; an UNPACK's outputs it misses (the guided filter
  # unstacks its channels; left in int8, its window means were 8-bit: IoU 0.62), so
  # UNPACK is denylisted by kind. The networks themselves have none.
  debugger = _converted(lambda: tf.lite.experimental.QuantizationDebugger(
      converter=converter, debug_dataset=dataset,
      debug_options=tf.lite.experimental.QuantizationDebugOptions(
          denylisted_nodes=keep, denylisted_ops=["UNPACK"])))
  model = debugger.get_nondebug_quantized_model()  # float32 input and outputs.
  if not float_io:
    # uint8 pixels in and out (the input's scale is 1/255 exactly, see `pinned`).
    model = lite_util.modify_model_io_type(model, tf.uint8, tf.uint8)
  return model


def _converted(convert: Callable):
  """convert(), naming an op that would need Flex (TF ops) in TFLite."""
  try:
    return convert()
  except Exception as e:  # The converter raises ConverterError and others.
    text = str(e)
    if "Flex" in text or "select TensorFlow ops" in text or "not supported" in text:
      raise ValueError("The model needs TensorFlow ops that TFLite builtins lack (Flex); "
                       f"LiteRT on phones cannot run them. Converter said: {text[:800]}") from e
    raise


# What an exported TFLite translator must keep of the float one it came from (issue 45's
# bar): its mask (thresholded at 0.5) and its translated image. Below, it is not shipped.
AGREEMENT = {"mask_iou": 0.9, "translated_mae": 6.0}


def _interpreter(model: bytes):
  from ai_edge_litert.interpreter import Interpreter
  return Interpreter(model_content=model)


def run_tflite(model: bytes, images01: np.ndarray) -> dict[str, np.ndarray]:
  """A TFLite translator's outputs on images [N, S, S, 3] in [0, 1], one at a time.

  Returns:
    translated [N, S, S, 3] in 0-255 and mask [N, S, S, 1] in [0, 1], float32, whatever
    the model's input and output types (uint8 outputs are dequantized).
  """
  runner = _interpreter(model).get_signature_runner()
  uint8_in = runner.get_input_details()["images"]["dtype"] == np.uint8
  details = runner.get_output_details()
  out = {"translated": [], "mask": []}
  for image in images01:
    x = np.round(image * 255).astype(np.uint8) if uint8_in else image.astype(np.float32)
    result = runner(images=x[None])
    for k in out:
      v = result[k][0].astype(np.float32)
      scale, zero = details[k]["quantization"]
      # A quantized output (int8) dequantizes to [0, 1], the range of its float graph,
      # with the scale its calibration gave it (not always 1/255); a float32 one is in
      # [0, 1] too; only the float model's uint8 images are pixels as they are.
      if scale:
        v = (v - zero) * scale
      out[k].append(v if k == "mask" or (result[k].dtype == np.uint8 and not scale)
                    else v * 255.0)
  return {k: np.stack(v) for k, v in out.items()}


def tflite_agreement(model: bytes, translator: Translator,
                     images01: np.ndarray) -> dict[str, float]:
  """How a TFLite translator agrees with the float `translator` it was exported from.

  Args:
    model: the TFLite flatbuffer.
    translator: the float model (what the SavedModel serves).
    images01: [N, S, S, 3] in [0, 1] at the model's size; rounded to uint8 pixels for both.
  Returns:
    mask_iou: IoU of the two masks thresholded at 0.5, over every pixel (1 when neither
      has a pixel above it); translated_mae: mean |difference| of `translated`, 0-255;
      mask_mae: mean |difference| of the masks; mask_range and float_mask_range: max - min
      of each model's masks over all images (0: a constant mask).
  """
  images01 = np.round(np.asarray(images01, np.float32) * 255) / 255
  wanted = [translator(tf.constant(images01[i:i + 8] * 2 - 1))  # Bounded memory at 256 px.
            for i in range(0, len(images01), 8)]
  want_mask = np.concatenate([w["mask"].numpy() for w in wanted])
  want_translated = (np.concatenate([w["translated"].numpy() for w in wanted]) + 1) * 127.5
  got = run_tflite(model, images01)
  a, b = got["mask"] > 0.5, want_mask > 0.5
  union = np.logical_or(a, b).sum()
  return {"mask_iou": float(np.logical_and(a, b).sum() / union) if union else 1.0,
          "translated_mae": float(np.abs(got["translated"] - want_translated).mean()),
          "mask_mae": float(np.abs(got["mask"] - want_mask).mean()),
          "mask_range": float(np.ptp(got["mask"])), "float_mask_range": float(np.ptp(want_mask))}


def agreement_problem(agreement: dict[str, float]) -> str | None:
  """One line naming how a TFLite translator fails AGREEMENT, or None where it meets it."""
  if agreement["mask_range"] < 1 / 255 and agreement["float_mask_range"] >= 1 / 255:
    return (f"its mask is constant ({agreement['mask_range']:.4f} from lowest to highest) "
            f"where the float model's spans {agreement['float_mask_range']:.2f}: it would "
            "return its input unchanged")
  if (agreement["mask_iou"] < AGREEMENT["mask_iou"]
      or agreement["translated_mae"] > AGREEMENT["translated_mae"]):
    return (f"it differs from the float model: mask IoU {agreement['mask_iou']:.3f} (at 0.5; "
            f"needs >= {AGREEMENT['mask_iou']}), translated off by "
            f"{agreement['translated_mae']:.2f} grey levels on average (needs <= "
            f"{AGREEMENT['translated_mae']})")
  return None
