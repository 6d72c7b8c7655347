"""The Open Inference Protocol (KServe/Triton "V2") front doors: REST (``/v2...``) and gRPC, with their wire formats.

- :mod:`~modelserve.protocols.v2.rest` serves health, metadata, infer and repository over REST;
  :mod:`~modelserve.protocols.v2.grpc` serves ``inference.GRPCInferenceService``.
- REST infer bodies: the JSON envelope (:mod:`~modelserve.protocols.v2.envelope`), JSON tensors and the response
  encoder (:mod:`~modelserve.protocols.v2.json_tensors`), and the binary tensor extension, whose raw layout gRPC's
  ``raw_input_contents`` share (:mod:`~modelserve.protocols.v2.binary`).
- Metadata, the model config and small JSON bodies: :mod:`~modelserve.protocols.v2.metadata`.

Nothing is re-exported here: import the module you need. This package does not import
:mod:`modelserve.protocols.tfs`; what both families share lives in :mod:`modelserve.protocols`.
"""
