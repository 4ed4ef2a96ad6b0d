"""Exports: SavedModel in TF Serving's layout and loaders, TFLite parity, bad input."""

import base64
import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import ROOT, run, start
from uagit_tf import exporting, serving_client
from uagit_tf.models.attention import polarity_margin
from uagit_tf.translator import Translator
from uagit_tf.workdir import restore_networks

SAVED_MODEL_CLI = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")


@pytest.fixture(scope="module")
def export_base(trained_workdir, tmp_path_factory):
  base = str(tmp_path_factory.mktemp("serving") / "uagit")
  path = run("export.saved_model", f"--workdir={trained_workdir}",
             f"--export_dir={base}").stdout.strip().splitlines()[-1]
  assert path == os.path.join(base, "1")
  return base


@pytest.fixture(scope="module")
def loaded(export_base):
  return tf.saved_model.load(os.path.join(export_base, "1"))


def uint8_images(n=2, h=21, w=37, seed=0):
  return np.random.default_rng(seed).integers(0, 256, [n, h, w, 3], dtype=np.uint8)


def test_versions_are_written_atomically_with_the_config(export_base, trained_workdir):
  run("export.saved_model", f"--workdir={trained_workdir}", f"--export_dir={export_base}")
  run("export.saved_model", f"--workdir={trained_workdir}", f"--export_dir={export_base}",
      "--version=7")
  assert sorted(os.listdir(export_base)) == ["1", "2", "7"]  # No temporary folders left.
  proc = run("export.saved_model", f"--workdir={trained_workdir}",
             f"--export_dir={export_base}", "--version=7", check=False)
  assert proc.returncode != 0 and "exists already" in proc.stderr
  inside = json.load(open(os.path.join(export_base, "7", "config.json")))
  assert inside == json.load(open(os.path.join(trained_workdir, "config.json")))


def test_signatures_match_the_translator(loaded, trained_workdir):
  assert set(loaded.signatures) == set(exporting.SERVING_SIGNATURES)
  images = uint8_images()
  for direction in ("a2b", "b2a"):
    out = loaded.signatures[direction](images=tf.constant(images))
    assert out["translated"].dtype == tf.uint8 and out["translated"].shape == images.shape
    assert out["generated"].dtype == tf.uint8 and out["generated"].shape == images.shape
    assert out["mask"].dtype == tf.float32 and out["mask"].shape == (2, 21, 37, 1)
    want = Translator.from_workdir(trained_workdir, direction)(
        tf.constant(images, tf.float32) / 127.5 - 1.0)
    np.testing.assert_allclose(out["mask"].numpy(), want["mask"].numpy(), atol=1e-5)
    expected = np.round((want["translated"].numpy() + 1) * 127.5)
    assert np.abs(out["translated"].numpy().astype(int) - expected).max() <= 1
  default = loaded.signatures["serving_default"](images=tf.constant(images))
  np.testing.assert_array_equal(default["translated"].numpy(),
                                loaded.signatures["a2b"](images=tf.constant(images))[
                                    "translated"].numpy())


def test_bytes_signatures_return_pngs_of_the_input_size(loaded):
  pngs = [tf.io.encode_png(im).numpy() for im in uint8_images(2, 9, 14)]
  jpeg = tf.io.encode_jpeg(uint8_images(1, 16, 16)[0]).numpy()
  out = loaded.signatures["b2a_bytes"](image_bytes=tf.constant(pngs + [jpeg]))
  assert out["translated_bytes"].shape == (3,)
  assert tf.io.decode_png(out["translated_bytes"][0]).shape == (9, 14, 3)
  assert tf.io.decode_png(out["mask_bytes"][2]).shape == (16, 16, 1)


def test_bad_requests_fail_cleanly(loaded):
  with pytest.raises(tf.errors.InvalidArgumentError, match="height and width"):
    loaded.signatures["a2b"](images=tf.zeros([1, 0, 5, 3], tf.uint8))
  with pytest.raises(tf.errors.InvalidArgumentError):
    loaded.signatures["a2b_bytes"](image_bytes=tf.constant([b"definitely not an image"]))
  with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError)):
    loaded.signatures["a2b"](images=tf.zeros([1, 8, 8, 4], tf.uint8))
  empty = loaded.signatures["a2b"](images=tf.zeros([0, 8, 8, 3], tf.uint8))
  assert empty["translated"].shape == (0, 8, 8, 3) and empty["mask"].shape == (0, 8, 8, 1)
  assert loaded.signatures["a2b_bytes"](image_bytes=tf.constant([], tf.string))[
      "translated_bytes"].shape == (0,)
  # The model keeps serving after bad requests.
  assert loaded.signatures["a2b"](images=tf.zeros([1, 8, 8, 3], tf.uint8))["mask"].shape == (
      1, 8, 8, 1)


@pytest.mark.parametrize("signature,inputs", [
    ("serving_default", "images"), ("a2b", "images"), ("b2a", "images"),
    ("a2b_bytes", "image_bytes"), ("b2a_bytes", "image_bytes")])
def test_saved_model_cli_runs_every_signature(export_base, tmp_path, signature, inputs):
  # saved_model_cli run uses the TF1/C++ loader that TF Serving uses.
  data = tmp_path / "in.npy"
  if inputs == "images":
    np.save(data, uint8_images(1, 12, 20))
  else:
    np.save(data, np.array([tf.io.encode_png(uint8_images(1, 12, 20)[0]).numpy()], object))
  proc = subprocess.run(
      [SAVED_MODEL_CLI, "run", "--dir", os.path.join(export_base, "1"), "--tag_set", "serve",
       "--signature_def", signature, "--inputs", f"{inputs}={data}",
       "--outdir", str(tmp_path / "out")],
      capture_output=True, text=True, timeout=300, cwd=ROOT)
  assert proc.returncode == 0, proc.stderr[-2000:]
  outputs = sorted(os.listdir(tmp_path / "out"))
  if inputs == "images":
    assert outputs == ["generated.npy", "mask.npy", "translated.npy"]
    assert np.load(tmp_path / "out" / "translated.npy").shape == (1, 12, 20, 3)
  else:
    assert outputs == ["mask_bytes.npy", "translated_bytes.npy"]


def test_tf1_session_loader_serves_the_model(export_base, loaded):
  images = uint8_images(1, 16, 24)
  with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
    meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"],
                                                os.path.join(export_base, "1"))
    sig = meta.signature_def["b2a"]
    got = sess.run({k: v.name for k, v in sig.outputs.items()},
                   {sig.inputs["images"].name: images})
  want = loaded.signatures["b2a"](images=tf.constant(images))
  np.testing.assert_allclose(got["mask"], want["mask"].numpy(), atol=1e-6)
  np.testing.assert_array_equal(got["translated"], want["translated"].numpy())


@pytest.mark.parametrize("shape", [[1, 8, 8, 4], [1, 8, 8, 1], [0, 8, 8, 1], [0, 8, 8, 2],
                                   [0, 8, 8, 4]])
def test_every_input_kind_checks_channels_even_when_the_declared_shape_is_not(
    trained_workdir, shape):
  # TF Serving's C++ path does not hold a request to the signature's declared shape, so
  # the serve function checks itself: other channel counts fail by name, an empty batch
  # too (it used to return an empty result of the wrong depth).
  cfg, nets = restore_networks(trained_workdir)
  module = exporting.ExportModule(nets, cfg)
  with pytest.raises(tf.errors.InvalidArgumentError, match="3 channels"):
    module.translate(tf.zeros(shape), "a2b")
  assert module.translate(tf.zeros([0, 8, 8, 3]), "b2a")["mask"].shape == (0, 8, 8, 1)


def test_predict_request_and_rest_body_fit_the_signatures(loaded):
  images = uint8_images(2, 10, 12)
  request = serving_client.predict_request(images, "uagit", "a2b", version=1)
  assert request.model_spec.name == "uagit" and request.model_spec.signature_name == "a2b"
  assert request.model_spec.version.value == 1
  fed = tf.make_ndarray(request.inputs["images"])
  out = loaded.signatures[request.model_spec.signature_name](images=tf.constant(fed))
  assert out["translated"].shape == (2, 10, 12, 3)

  body = json.loads(json.dumps(serving_client.rest_body(images, "b2a")))
  out = loaded.signatures[body["signature_name"]](
      images=tf.constant(np.array(body["instances"], np.uint8)))
  assert out["mask"].shape == (2, 10, 12, 1)

  png = tf.io.encode_png(images[0]).numpy()
  body = json.loads(json.dumps(serving_client.rest_body([png], "a2b_bytes")))
  data = [base64.b64decode(i["image_bytes"]["b64"]) for i in body["instances"]]
  out = loaded.signatures["a2b_bytes"](image_bytes=tf.constant(data))
  assert tf.io.decode_png(out["translated_bytes"][0]).shape == (10, 12, 3)
  grpc = serving_client.predict_request([png], "uagit", "a2b_bytes")
  assert list(tf.make_ndarray(grpc.inputs["image_bytes"])) == [png]


# ---------------------------------------------------------------------------------------
# TFLite

def _run_tflite(model: bytes, images01: np.ndarray, float_io: bool) -> np.ndarray:
  """Translated images in [0, 1] from a TFLite model (dequantizing uint8 outputs)."""
  from ai_edge_litert.interpreter import Interpreter
  interpreter = Interpreter(model_content=model)
  runner = interpreter.get_signature_runner()
  details = runner.get_output_details()["translated"]
  out = []
  for image in images01:
    x = image[None].astype(np.float32) if float_io else np.round(image[None] * 255).astype(
        np.uint8)
    t = runner(images=x)["translated"].astype(np.float32)
    if not float_io:
      scale, zero = details["quantization"]
      t = (t - zero) * scale
    out.append(t[0])
  return np.stack(out)


@pytest.fixture(scope="module")
def tflite_case(trained_workdir):
  from export.tflite import representative_images
  cfg, nets = restore_networks(trained_workdir)
  images = representative_images(cfg, "a2b", 32, 6)
  rounded = np.round(images * 255) / 255  # What a uint8 input carries.
  x = tf.constant(rounded * 2 - 1, tf.float32)
  # The border prior flips a mask whose border is brighter than its mean: a yes/no per
  # image. The tiny model's masks are barely trained; on an image where the two are tied
  # (within 1e-3), quantized weights may flip the decision, and a flipped mask is another
  # translation, not a parity error. Such images are left out (one of six here, at 9e-5).
  clear = np.abs(polarity_margin(nets.att["a"].raw_mask(x)).numpy()) > 1e-3
  assert clear.sum() >= 4
  x = tf.boolean_mask(x, clear)
  want = {"float": Translator.from_networks(nets, "a2b")(x)["translated"],
          # int8 leaves out the guided filter (its solve does not survive int8).
          "int8": Translator.from_networks(
              dataclasses.replace(nets, att={"a": nets.att["a"].without_refinement()}),
              "a2b")(x)["translated"]}
  assert nets.att["a"].refine_radius and not np.allclose(want["float"], want["int8"])
  return cfg, nets, rounded[clear], {k: (v.numpy() + 1) / 2 for k, v in want.items()}


@pytest.mark.parametrize("quantize,float_io,max_err,mean_err", [
    ("none", True, 1e-4, None),       # In [0, 1] units, as the issue asks.
    ("float16", True, 1e-2, None),
    # Measured on this tiny model (0-255 units): dynamic mean 0.5 / max 3.5; int8 mean 5.2 /
    # max 48. Bounds leave about 3x margin; they are in 0-255 units.
    ("dynamic", True, 12.0 / 255, 2.0 / 255),
    ("int8", True, 128.0 / 255, 15.0 / 255),
    ("int8", False, 128.0 / 255, 15.0 / 255),
])
def test_tflite_parity(tflite_case, quantize, float_io, max_err, mean_err):
  cfg, nets, images, want = tflite_case
  model = exporting.export_tflite(nets, cfg, "a2b", 32, quantize, float_io,
                                  images if quantize == "int8" else None)
  err = np.abs(_run_tflite(model, images, float_io) - want["int8" if quantize == "int8" else
                                                          "float"])
  assert err.max() <= max_err, (quantize, err.max() * 255)
  if mean_err is not None:
    assert err.mean() <= mean_err, (quantize, err.mean() * 255)


def test_int8_with_uint8_io_takes_raw_pixels(tflite_case):
  from ai_edge_litert.interpreter import Interpreter
  cfg, nets, images, _ = tflite_case
  model = exporting.export_tflite(nets, cfg, "a2b", 32, "int8", False, images)
  details = Interpreter(model_content=model).get_input_details()[0]
  assert details["dtype"] == np.uint8
  scale, zero = details["quantization"]
  assert abs(scale - 1 / 255) < 1e-7 and zero == 0


def test_flex_ops_fail_the_conversion_with_a_clear_message():
  @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
  def needs_flex(data):
    return tf.strings.length(data)
  converter = tf.lite.TFLiteConverter.from_concrete_functions(
      [needs_flex.get_concrete_function()])
  with pytest.raises(ValueError, match="Flex"):
    exporting._convert(converter, "none", True, None)


def test_tflite_command_writes_a_model_that_loads(trained_workdir, tmp_path):
  from ai_edge_litert.interpreter import Interpreter
  out = tmp_path / "m" / "b2a.tflite"
  run("export.tflite", f"--workdir={trained_workdir}", f"--output={out}", "--image_size=32",
      "--direction=b2a", "--quantize=int8", "--representative_images=8")
  interpreter = Interpreter(model_path=str(out))
  runner = interpreter.get_signature_runner()
  result = runner(images=np.zeros([1, 32, 32, 3], np.uint8))
  assert result["translated"].shape == (1, 32, 32, 3) and result["mask"].shape == (1, 32, 32, 1)
  assert not os.path.exists(str(out) + ".tmp")


def test_a_killed_export_leaves_no_version_a_server_would_load(trained_workdir, tmp_path):
  import signal
  import time
  base = tmp_path / "base"
  proc = start("export.saved_model", f"--workdir={trained_workdir}", f"--export_dir={base}")
  deadline = time.time() + 120
  while not any(n.startswith(".tmp-") for n in (os.listdir(base) if base.exists() else [])):
    assert time.time() < deadline and proc.poll() is None
    time.sleep(0.02)
  proc.send_signal(signal.SIGKILL)  # While the version is being written.
  proc.wait()
  versions = [n for n in os.listdir(base) if n.isdigit()]
  for v in versions:  # Only complete versions may be visible.
    assert os.path.exists(base / v / "saved_model.pb") and os.path.exists(base / v / "config.json")
  assert versions == [] or versions == ["1"]
  # The next export still gets a clean, complete version.
  path = run("export.saved_model", f"--workdir={trained_workdir}",
             f"--export_dir={base}").stdout.strip().splitlines()[-1]
  assert tf.saved_model.load(path).signatures["a2b"](
      images=tf.zeros([1, 8, 8, 3], tf.uint8))["mask"].shape == (1, 8, 8, 1)
