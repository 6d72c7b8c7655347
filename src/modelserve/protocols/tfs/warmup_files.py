"""The warmup files a version folder may hold, read into requests for :mod:`modelserve.serving.warmup`.

- ``assets.extra/tf_serving_warmup_requests``: TensorFlow Serving's file, a TFRecord of
  ``tensorflow.serving.PredictionLog`` records (at most 1000). Predict, Classify, Regress and
  MultiInference logs are replayed, with the gRPC door's rules; SessionRun and PredictStreamed logs fail
  the load (UNIMPLEMENTED); a record with no request is skipped, as TF Serving does.
- ``warmup.json`` (ours, for any runtime): a JSON array of TF Serving REST request bodies, at most 1000,
  e.g. ``[{"instances": [1.0, 2.0]}, {"signature_name": "regress_x_to_y", "examples": [{"x": 1.0}]}]``. A
  body with ``examples`` is a Classify or Regress call, chosen by its signature's method name; any other
  body is a Predict call (``instances`` or ``inputs``), with the REST door's rules.

:data:`READERS` is what the composition root injects. Files are written with :func:`write_tf_serving_warmup`
(from :func:`predict_log` / :func:`classify_log` / :func:`regress_log` messages, or any ``PredictionLog``
such as ``tensorflow_serving.apis``') and :func:`write_warmup_json`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelserve.errors import Code, InvalidArgument, ServingError, Unimplemented
from modelserve.protocols import pb
from modelserve.protocols.tfs import json_parse, predict_decode, tensor_proto
from modelserve.protocols.tfs.examples import check_multi_inference, decode_classify_regress, examples_input
from modelserve.protocols.tfs.tf_example import serialized_examples
from modelserve.serving.tfrecord import TFRecordError, TooManyRecords, read_records, write_records
from modelserve.serving.warmup import MAX_RECORDS, WarmupCall, WarmupError, WarmupReaders
from modelserve.types import (
    CLASSIFY_METHOD,
    DEFAULT_SIGNATURE,
    REGRESS_METHOD,
    InferRequest,
    InputRules,
    ModelRef,
    Signature,
)

TF_SERVING_WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
"""TensorFlow Serving's warmup file, relative to the version folder."""
JSON_WARMUP_FILE = Path("warmup.json")
"""Our format-neutral warmup file, relative to the version folder."""

_METHODS = {CLASSIFY_METHOD: "classify", REGRESS_METHOD: "regress"}
_WARMUP_REF = ModelRef("warmup")  # the version under warmup is not served yet: its name is not looked up
SignatureOf = Callable[[str], Signature]


# ---------------------------------------------------------------------------- TF Serving's file


def read_prediction_log_file(path: Path, signature_of: SignatureOf) -> tuple[int, list[WarmupCall]]:
    """TF Serving's ``tf_serving_warmup_requests``: ``(records, calls)``."""
    prediction_log = pb.message_class("tensorflow.serving.PredictionLog")
    calls: list[WarmupCall] = []
    count = 0
    try:
        for index, record in enumerate(read_records(path, limit=MAX_RECORDS)):
            count += 1
            origin = f"warmup record {index} of {path}"
            try:
                log = prediction_log.FromString(record)
            except Exception:  # protobuf's DecodeError
                raise WarmupError(f"Failed to parse warmup record {index} from {path}") from None
            try:
                calls.extend(_calls_of_log(log, origin, signature_of))
            except ServingError as exc:
                raise WarmupError(f"{origin}: {exc.message}", exc.code) from None
    except TooManyRecords:
        raise WarmupError(f"Number of warmup records exceeds the maximum ({MAX_RECORDS}) at {path}") from None
    except TFRecordError as exc:
        raise WarmupError(f"{exc}. Please verify your warmup data is in TFRecord format.", Code.DATA_LOSS) from None
    except OSError as exc:
        raise WarmupError(f"cannot read warmup file {path}: {exc}", Code.FAILED_PRECONDITION) from None
    return count, calls


def _calls_of_log(log: Any, origin: str, signature_of: SignatureOf) -> list[WarmupCall]:
    kind = log.WhichOneof("log_type")
    if kind == "predict_log":
        request = log.predict_log.request
        inputs = {name: tensor_proto.to_numpy(proto) for name, proto in request.inputs.items()}
        infer = InferRequest(
            _WARMUP_REF, inputs, request.model_spec.signature_name or DEFAULT_SIGNATURE,
            outputs=tuple(request.output_filter), rules=InputRules.TF_SERVING,
        )  # fmt: skip
        return [WarmupCall(origin, "predict", infer)]
    if kind in ("classify_log", "regress_log"):
        request = getattr(log, kind).request
        method = CLASSIFY_METHOD if kind == "classify_log" else REGRESS_METHOD
        examples = serialized_examples(request.input)
        return [_examples_call(request.model_spec.signature_name, method, examples, origin, signature_of)]
    if kind == "multi_inference_log":
        return _multi_inference_calls(log.multi_inference_log.request, origin, signature_of)
    if kind is None:
        return []  # nothing to replay (TF Serving skips it too)
    raise Unimplemented(f"Unsupported log_type for warmup: {kind}")


def _examples_call(
    signature_name: str, method: str, examples: Sequence[bytes], origin: str, signature_of: SignatureOf
) -> WarmupCall:
    signature = signature_of(signature_name or DEFAULT_SIGNATURE)
    input_name = examples_input(signature, method, check_method_name=False)  # TF Serving's default
    array = np.empty(len(examples), dtype=object)
    array[:] = list(examples)
    inputs = {input_name: array}
    request = InferRequest(_WARMUP_REF, inputs, signature.name, rules=InputRules.TF_SERVING, api=_METHODS[method])
    return WarmupCall(origin, _METHODS[method], request)


def _multi_inference_calls(request: Any, origin: str, signature_of: SignatureOf) -> list[WarmupCall]:
    check_multi_inference(request)
    examples = serialized_examples(request.input)
    return [
        _examples_call(task.model_spec.signature_name, task.method_name, examples, origin, signature_of)
        for task in request.tasks
    ]


# ---------------------------------------------------------------------------------- warmup.json


def read_warmup_json(path: Path, signature_of: SignatureOf) -> tuple[int, list[WarmupCall]]:
    """Our ``warmup.json``: ``(bodies, calls)``."""
    try:
        document = json_parse.parse_json(path.read_bytes())
    except OSError as exc:
        raise WarmupError(f"cannot read warmup file {path}: {exc}", Code.FAILED_PRECONDITION) from None
    except InvalidArgument as exc:
        raise WarmupError(f"{path}: {exc.message}") from None
    if not isinstance(document, list):
        raise WarmupError(f"{path} must hold a JSON array of request bodies, got {type(document).__name__}")
    if len(document) > MAX_RECORDS:
        raise WarmupError(f"Number of warmup records exceeds the maximum ({MAX_RECORDS}) at {path}")
    calls = []
    for index, body in enumerate(document):
        origin = f"warmup request {index} of {path}"
        try:
            calls.append(_json_call(body, origin, signature_of))
        except ServingError as exc:
            raise WarmupError(f"{origin}: {exc.message}", exc.code) from None
    return len(document), calls


def _json_call(body: Any, origin: str, signature_of: SignatureOf) -> WarmupCall:
    signature = signature_of(json_parse.signature_name_of(body))
    if "examples" in body:
        if signature.method_name not in _METHODS:
            raise InvalidArgument(
                f"a body with 'examples' needs a classify or regress signature; {signature.name!r} is "
                f"{signature.method_name}"
            )
        examples = decode_classify_regress(body)
        return _examples_call(signature.name, signature.method_name, examples, origin, signature_of)
    inputs = predict_decode.decode_predict(body, signature).inputs
    return WarmupCall(origin, "predict", InferRequest(_WARMUP_REF, inputs, signature.name, rules=InputRules.TF_SERVING))


READERS: WarmupReaders = ((TF_SERVING_WARMUP_FILE, read_prediction_log_file), (JSON_WARMUP_FILE, read_warmup_json))
"""Both files, TF Serving's first: what ``modelserve serve`` replays."""


# ----------------------------------------------------------------------------------------- writing


def _target(path: Path | str, relative: Path) -> Path:
    """``path`` itself if it names a file, else ``relative`` inside the version folder ``path``."""
    path = Path(path)
    target = path / relative if path.is_dir() else path
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def predict_log(inputs: Mapping[str, Any], signature_name: str = DEFAULT_SIGNATURE, model_name: str = "") -> Any:
    """A ``PredictionLog`` (our message class) holding a PredictRequest with ``inputs`` (name -> array-like)."""
    log = pb.message_class("tensorflow.serving.PredictionLog")()
    request = log.predict_log.request
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tensor_proto.from_numpy(value))
    return log


def _examples_log(kind: str, examples: Sequence[bytes], signature_name: str, model_name: str) -> Any:
    log = pb.message_class("tensorflow.serving.PredictionLog")()
    request = getattr(log, kind).request
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for example in examples:
        request.input.example_list.examples.add().ParseFromString(bytes(example))
    return log


def classify_log(examples: Sequence[bytes], signature_name: str = DEFAULT_SIGNATURE, model_name: str = "") -> Any:
    """A ``PredictionLog`` holding a ClassificationRequest of serialized ``tf.train.Example`` s."""
    return _examples_log("classify_log", examples, signature_name, model_name)


def regress_log(examples: Sequence[bytes], signature_name: str = DEFAULT_SIGNATURE, model_name: str = "") -> Any:
    """A ``PredictionLog`` holding a RegressionRequest of serialized ``tf.train.Example`` s."""
    return _examples_log("regress_log", examples, signature_name, model_name)


def write_tf_serving_warmup(path: Path | str, logs: Iterable[Any]) -> Path:
    """Write TF Serving's warmup file; returns its path.

    ``path``: a version folder (the file goes to ``assets.extra/tf_serving_warmup_requests`` inside it) or
    the file itself. ``logs``: ``PredictionLog`` messages of any pool (ours, ``tensorflow_serving.apis``'),
    or their serialized bytes.

        write_tf_serving_warmup("models/half_plus_two/00000123", [predict_log({"x": [[1.0], [2.0]]})])
    """
    target = _target(path, TF_SERVING_WARMUP_FILE)
    records = [log if isinstance(log, bytes | bytearray) else log.SerializeToString() for log in logs]
    write_records(target, records)
    return target


def _json_value(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes | bytearray):
        return {"b64": base64.b64encode(value).decode("ascii")}
    raise TypeError(f"cannot write {type(value).__name__} to warmup.json")


def write_warmup_json(path: Path | str, bodies: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``warmup.json`` (REST request bodies; numpy arrays become lists, ``bytes`` ``{"b64": ...}``).

    ``path``: a version folder or the file itself. Returns the file's path.

        write_warmup_json("models/digits_onnx/1", [{"instances": np.zeros((2, 8, 8, 1), np.float32)}])
    """
    target = _target(path, JSON_WARMUP_FILE)
    text = json.dumps([dict(body) for body in bodies], default=_json_value)
    target.write_text(text + "\n")
    return target
