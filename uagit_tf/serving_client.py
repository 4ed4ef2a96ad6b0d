"""Requests for a uagit_tf model behind TensorFlow Serving (REST and gRPC).

    body = rest_body(images, "a2b")            # POST to /v1/models/uagit:predict
    request = predict_request(images, "uagit", "a2b")   # PredictionService.Predict

`images` is uint8 [B, H, W, 3]; for the *_bytes signatures pass encoded PNG/JPEG strings.
"""

import base64

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2


def rest_body(images, signature: str = "serving_default") -> dict:
  """The JSON body of a REST predict call (row format, "instances").

  uint8 arrays become nested lists; encoded images (bytes) become {"b64": ...}.
  """
  if signature.endswith("_bytes"):
    return {"signature_name": signature,
            "instances": [{"image_bytes": {"b64": base64.b64encode(b).decode("ascii")}}
                          for b in images]}
  return {"signature_name": signature, "instances": np.asarray(images, np.uint8).tolist()}


def predict_request(images, model_name: str, signature: str = "serving_default",
                    version: int | None = None) -> predict_pb2.PredictRequest:
  """A gRPC PredictRequest for `signature` with the images as its one input."""
  request = predict_pb2.PredictRequest()
  request.model_spec.name = model_name
  request.model_spec.signature_name = signature
  if version is not None:
    request.model_spec.version.value = version
  if signature.endswith("_bytes"):
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto(list(images), tf.string))
  else:
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(np.asarray(images, np.uint8)))
  return request
