"""TensorFlow Serving's front doors: REST (``/v1/...``) and gRPC, with their wire formats, without TensorFlow.

- :mod:`~modelserve.protocols.tfs.rest` serves ``/v1`` (URLs, status, metadata, predict, classify, regress);
  :mod:`~modelserve.protocols.tfs.grpc` serves ``PredictionService`` and ``ModelService``.
- REST JSON bodies follow ``tensorflow_serving/util/json_tensor.cc``: a body is parsed with
  :func:`~modelserve.protocols.tfs.json_parse.parse_json`, then
  :func:`~modelserve.protocols.tfs.json_parse.signature_name_of` names the signature the caller looks up, then
  :func:`~modelserve.protocols.tfs.predict_decode.decode_predict` or
  :func:`~modelserve.protocols.tfs.examples.decode_classify_regress` turns the body into model inputs.
  Responses come from :func:`~modelserve.protocols.tfs.predict_encode.encode_predict` (floats written by
  :mod:`~modelserve.protocols.tfs.float_text`), :func:`~modelserve.protocols.tfs.examples.encode_classify` and
  :func:`~modelserve.protocols.tfs.examples.encode_regress`. Error messages quote JSON values as TF does
  (:mod:`~modelserve.protocols.tfs.debug_text`).
- gRPC messages: ``TensorProto`` <-> numpy (:mod:`~modelserve.protocols.tfs.tensor_proto`) and serialized
  ``tf.train.Example`` protos (:mod:`~modelserve.protocols.tfs.tf_example`).
- :mod:`~modelserve.protocols.tfs.warmup_files` reads and writes the warmup request files a version may hold.

Nothing is re-exported here: import the module you need. This package does not import
:mod:`modelserve.protocols.v2`; what both families share lives in :mod:`modelserve.protocols`.
"""
