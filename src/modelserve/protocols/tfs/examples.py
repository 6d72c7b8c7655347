"""TF Serving REST classify and regress bodies: ``examples`` (and ``context``) in, ``results`` out.

:func:`decode_classify_regress` turns a body parsed by :func:`~modelserve.protocols.tfs.json_parse.parse_json`
into serialized ``tf.train.Example`` protos (:mod:`modelserve.protocols.tfs.tf_example`);
:func:`encode_classify` and :func:`encode_regress` write ``{"results": ...}`` from the model's outputs, with
TF Serving's classifier and regressor checks. Every error is an :class:`~modelserve.errors.InvalidArgument`
unless noted, with TF Serving's text. Output JSON is compact; TF pretty-prints (whitespace only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from modelserve.errors import FailedPrecondition, InvalidArgument, Unimplemented
from modelserve.protocols.tfs.debug_text import json_type
from modelserve.protocols.tfs.float_text import float_tokens
from modelserve.protocols.tfs.json_parse import INT64_MAX, format_error, require_object, utf8
from modelserve.protocols.tfs.predict_decode import b64_value, is_b64, shape_text
from modelserve.protocols.tfs.predict_encode import nest, string_tokens, tf_dtype_name
from modelserve.protocols.tfs.tf_example import Feature, encode_example
from modelserve.types import CLASSIFY_METHOD, DEFAULT_SIGNATURE, REGRESS_METHOD, Signature

__all__ = ["decode_classify_regress", "encode_classify", "encode_regress", "examples_input"]

_KIND = {CLASSIFY_METHOD: "classification", REGRESS_METHOD: "regression"}


def examples_input(signature: Signature, method: str, check_method_name: bool) -> str:
    """The input that takes the serialized ``tf.Example`` strings of a classify or regress call.

    TF Serving's ``PreProcessClassification`` / ``PreProcessRegression`` checks, in its order, before
    anything runs: the signature's ``method_name`` must be ``method`` only with
    ``--enable_signature_method_name_check`` (off by default, so a ``tf.saved_model.save`` export, whose
    signatures are all "predict", serves classify and regress); one input, named ``inputs``; for classify,
    one or two outputs among ``classes`` and ``scores``; for regress, one output named ``outputs``. Raises
    :class:`InvalidArgument` with TF Serving's text.
    """
    kind = _KIND[method]
    if check_method_name and signature.method_name != method:
        raise InvalidArgument(f"Expected {kind} signature method_name to be {method}. Was: {signature.method_name}")
    if len(signature.inputs) != 1:
        raise InvalidArgument("Expected one input Tensor.")
    outputs = signature.outputs
    if method == CLASSIFY_METHOD and len(outputs) not in (1, 2):
        raise InvalidArgument(f"Expected one or two output Tensors, found {len(outputs)}")
    if method == REGRESS_METHOD and len(outputs) != 1:
        raise InvalidArgument("Expected one output Tensor.")
    if "inputs" not in signature.inputs:
        raise InvalidArgument(f"No {kind} inputs found in SignatureDef: {_described(signature)}")
    if method == REGRESS_METHOD and "outputs" not in outputs:
        raise InvalidArgument(f"No regression outputs found in SignatureDef: {_described(signature)}")
    if method == CLASSIFY_METHOD and "classes" not in outputs and "scores" not in outputs:
        raise InvalidArgument(
            'Expected classification signature outputs to contain at least one of "classes" or "scores". '
            f"Signature was: {_described(signature)}"
        )
    return "inputs"


def _described(signature: Signature) -> str:
    """A one-line stand-in for the SignatureDef's DebugString that TF Serving appends."""
    inputs = ", ".join(f"{n}: {s.describe()}" for n, s in signature.inputs.items())
    outputs = ", ".join(f"{n}: {s.describe()}" for n, s in signature.outputs.items())
    return f"{signature.name} (method_name {signature.method_name}; inputs {inputs}; outputs {outputs})"


def decode_classify_regress(body: Any) -> list[bytes]:
    """The serialized ``tf.train.Example`` of each element of ``examples``, in order.

    With a ``context`` object, each is ``serialize(context) + serialize(example)`` (protobuf merging makes
    the example win on a shared feature name), as TF Serving feeds an ``ExampleListWithContext``.
    """
    doc = require_object(body)
    context = encode_example(_example(doc["context"])) if "context" in doc else b""
    if "examples" not in doc:
        raise format_error(doc, "When method is classify, key 'examples' is expected and was not found")
    examples = doc["examples"]
    if not isinstance(examples, list):
        raise format_error(doc, "Expecting 'examples' value to be an list/array")
    if not examples:
        raise format_error(doc, "'examples' value is an empty array")
    return [context + encode_example(_example(example)) for example in examples]


def _example(value: Any) -> dict[str, Feature]:
    """``MakeExampleFromJsonObject``: a feature per key; a bare value is a one-element list."""
    if not isinstance(value, dict):
        raise InvalidArgument(f"Example must be JSON object but got JSON {json_type(value)}")
    return {
        name: _feature(name, content if isinstance(content, list) else [content]) for name, content in value.items()
    }


def _feature(name: str, items: list[Any]) -> Feature:
    utf8(name)  # refuses what cannot be a protobuf string, as rapidjson's parser would have
    kind = None
    values = []
    for item in items:
        item_kind = _feature_kind(name, item)
        if kind is not None and item_kind != kind:
            raise InvalidArgument(f"Unexpected element type in feature: {name} expecting type: {kind}")
        kind = item_kind
        values.append(_feature_value(name, item))
    return Feature(kind, values)


def _feature_kind(name: str, item: Any) -> str:
    if isinstance(item, int):  # bools too: true/false are int64 1/0
        return "int64"
    if isinstance(item, float):
        return "float"
    if isinstance(item, str) or is_b64(item):
        return "bytes"
    raise InvalidArgument(f"Feature: {name} has element with unexpected JSON type: {json_type(item)}")


def _feature_value(name: str, item: Any) -> Any:
    if isinstance(item, str):
        return utf8(item)
    if isinstance(item, dict):
        return b64_value(item)
    if isinstance(item, int):
        if item > INT64_MAX:
            raise InvalidArgument(f"Feature: {name} has uint64_t element. Only int64_t is supported.")
        return int(item)
    return item


def encode_classify(outputs: Mapping[str, np.ndarray], num_examples: int) -> bytes:
    """``{"results": [[[label, score], ...], ...]}``, one list per example, from outputs ``classes``
    (string ``[N, K]``) and ``scores`` (float32 ``[N, K]``), either optional.

    A missing ``classes`` writes label ``""``, a missing ``scores`` score ``0.0``. Shapes, dtypes and batch
    sizes are checked as TF Serving's classifier does (:class:`InvalidArgument`).
    """
    classes, scores = outputs.get("classes"), outputs.get("scores")
    for array, role, tf_dtype in ((classes, "classes", "DT_STRING"), (scores, "scores", "DT_FLOAT")):
        if array is None:
            continue
        if array.ndim != 2:
            raise InvalidArgument(f"Expected Tensor shape: [batch_size num_classes] but got {shape_text(array.shape)}")
        if tf_dtype_name(array) != tf_dtype:
            raise InvalidArgument(f"Expected {role} Tensor of {tf_dtype}. Got: {tf_dtype_name(array)}")
        if array.shape[0] != num_examples:
            raise InvalidArgument(f"Expected {role} output batch size of {num_examples}. Got: {array.shape[0]}")
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise InvalidArgument(
            f"Tensors class and score should match in dim_size(1). Got {classes.shape[1]} vs. {scores.shape[1]}"
        )
    if num_examples == 0:
        raise InvalidArgument("Cannot convert empty ClassificationResults to JSON")
    present = classes if classes is not None else scores
    num_classes = 0 if present is None else present.shape[1]
    size = num_examples * num_classes
    labels = string_tokens(classes.ravel(), as_b64=False) if classes is not None else ['""'] * size
    values = float_tokens(scores.ravel()) if scores is not None else ["0.0"] * size
    pairs = [f"[{label},{value}]" for label, value in zip(labels, values)]
    results = nest(pairs, (num_examples, num_classes), keep=1)
    return ('{"results":[' + ",".join(results) + "]}").encode()


def encode_regress(outputs: Mapping[str, np.ndarray], num_examples: int) -> bytes:
    """``{"results": [v, ...]}`` from the float32 output ``outputs`` (``[N]`` or ``[N, 1]``).

    Raises :class:`FailedPrecondition` without an ``outputs`` output, :class:`InvalidArgument` (TF Serving's
    regressor messages) for a wrong shape, dtype or batch size.
    """
    if "outputs" not in outputs:
        raise FailedPrecondition(
            f"No regression outputs found in SignatureDef: no output named 'outputs' (has: {', '.join(outputs)})"
        )
    values = outputs["outputs"]
    if not (values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)):
        raise InvalidArgument(
            "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got "
            f"{shape_text(values.shape)}"
        )
    if values.shape[0] != num_examples:
        raise InvalidArgument(f"Input batch size did not match output batch size: {num_examples} vs. {values.shape[0]}")
    if tf_dtype_name(values) != "DT_FLOAT":
        raise InvalidArgument(f"Expected output Tensor of DT_FLOAT.  Got: {tf_dtype_name(values)}")
    if num_examples == 0:
        raise InvalidArgument("Cannot convert empty RegressionResults to JSON")
    return ('{"results":[' + ",".join(float_tokens(values.ravel())) + "]}").encode()


def check_multi_inference(request: Any) -> None:
    """TF Serving's checks of a ``MultiInferenceRequest`` (the RPC and a warmup log alike), before any task
    runs: tasks given, one model name, no signature twice, classify or regress methods only."""
    if not request.tasks:
        raise InvalidArgument("Inference request is empty")
    names = {task.model_spec.name for task in request.tasks}
    if "" in names:
        raise InvalidArgument("Found ModelSpec with an empty model name.")
    if len(names) != 1:
        raise InvalidArgument("All ModelSpecs in a MultiInferenceRequest must access the same model name.")
    seen: set[str] = set()
    for task in request.tasks:
        name = task.model_spec.signature_name or DEFAULT_SIGNATURE
        if name in seen:
            raise InvalidArgument(f"Duplicate evaluation of signature: {name}")
        seen.add(name)
        if task.method_name not in (CLASSIFY_METHOD, REGRESS_METHOD):
            raise Unimplemented(f"Unsupported signature method_name: {task.method_name}")
