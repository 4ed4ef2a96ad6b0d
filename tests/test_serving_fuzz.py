"""Fuzzing every SavedModel signature: valid outputs of the right shape or a clean error."""

import os

from hypothesis import HealthCheck, given, settings, strategies as st
import numpy as np
import pytest
import tensorflow as tf

from benchmarks import fuzz_serving

TRIED = {"images": 0, "bytes": 0}
CLEAN_ERRORS = (tf.errors.InvalidArgumentError, ValueError, TypeError)


@pytest.fixture(scope="module")
def signatures(export_base):
  yield tf.saved_model.load(os.path.join(export_base, "1")).signatures
  print(f"\nfuzzed inputs tried: {TRIED}")


sizes = st.one_of(st.integers(0, 40), st.sampled_from([1, 2, 3, 255, 1023, 2048]))
dtypes = st.sampled_from([np.uint8, np.uint8, np.uint8, np.float32, np.int32, np.uint16])


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(batch=st.integers(0, 3), h=sizes, w=sizes, channels=st.sampled_from([3, 3, 3, 1, 4]),
       dtype=dtypes, name=st.sampled_from(["serving_default", "a2b", "b2a"]))
def test_image_signatures(signatures, batch, h, w, channels, dtype, name):
  if batch * h * w > 2048 * 2048:  # Keep one call under ~4 MPixel on a 2-core CI machine.
    batch = 1
  TRIED["images"] += 1
  images = np.random.default_rng(h * 7 + w).integers(0, 255, [batch, h, w, channels]).astype(
      dtype)
  try:
    out = signatures[name](images=tf.constant(images))
  except CLEAN_ERRORS:
    assert not fuzz_serving.should_succeed(images)
    return
  assert fuzz_serving.should_succeed(images)
  fuzz_serving.check_images_response(images, out)


def _png(h, w, channels, seed):
  data = np.random.default_rng(seed).integers(0, 255, [h, w, channels], dtype=np.uint8)
  return tf.io.encode_png(data).numpy()


# (bytes, intact): a request of intact PNGs must be served; other bytes may be refused.
payloads = st.one_of(
    st.builds(lambda b: (b, False), st.binary(max_size=64)),
    st.builds(lambda data: (data, True),
              st.builds(_png, st.integers(1, 64), st.integers(1, 64),
                        st.sampled_from([1, 3, 4]), st.integers(0, 9))),
    st.builds(lambda b: (b[: len(b) // 2], False), st.builds(_png, st.just(32), st.just(32),
                                                              st.just(3), st.just(1))))


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(batch=st.lists(payloads, min_size=0, max_size=3),
       name=st.sampled_from(["a2b_bytes", "b2a_bytes"]))
def test_bytes_signatures(signatures, batch, name):
  TRIED["bytes"] += 1
  data = [b for b, _ in batch]
  try:
    out = signatures[name](image_bytes=tf.constant(data, dtype=tf.string))
  except CLEAN_ERRORS:
    assert not all(intact for _, intact in batch), "an intact PNG was refused"
    return
  fuzz_serving.check_bytes_response(data, out)


def test_the_fuzz_benchmark_finds_no_crash_and_no_wrong_shape_and_the_model_still_serves(
    signatures):
  counts = fuzz_serving.fuzz(signatures, requests=100, seed=1)
  assert sum(counts.values()) == 100 and counts["ok"] > 10 and counts["clean_errors"] > 10
  assert counts["crashes"] == counts["wrong_outputs"] == 0
  out = signatures["a2b"](images=tf.zeros([1, 16, 16, 3], tf.uint8))
  assert out["translated"].shape == (1, 16, 16, 3)


def test_the_fuzz_benchmark_counts_a_refused_intact_image_as_wrong():
  # A model that refuses every request: the intact images among 30 byte requests, and
  # the valid uint8 requests, are wrong outputs, not clean errors.
  def refuse(**_):
    raise tf.errors.InvalidArgumentError(None, None, "refused")
  counts = fuzz_serving.fuzz({"a2b": refuse, "a2b_bytes": refuse}, requests=60, seed=1)
  assert counts["wrong_outputs"] > 10 and counts["ok"] == 0
