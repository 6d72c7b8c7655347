"""Model warmup: replay sample requests against a freshly loaded version before it serves.

The first calls to a model are slow (lazy kernels, memory pools, graph optimisation); replaying requests at
load time moves that cost out of the first users' requests. :func:`warm_up` is called by
:class:`~modelserve.serving.manager.ModelManager` after a version loads and before it becomes AVAILABLE;
if any request fails, the load fails with that error (the version reports it in its status; the versions
already serving keep serving).

Two files are read from the version folder, whatever the model's runtime:

- ``assets.extra/tf_serving_warmup_requests``: TensorFlow Serving's file, a TFRecord of
  ``tensorflow.serving.PredictionLog`` records (at most 1000). Predict, Classify, Regress and
  MultiInference logs are replayed; SessionRun and PredictStreamed logs fail the load (UNIMPLEMENTED); a
  record with no request is skipped, as TF Serving does.
- ``warmup.json`` (ours, for any runtime): a JSON array of TF Serving REST request bodies, at most 1000,
  e.g. ``[{"instances": [1.0, 2.0]}, {"signature_name": "regress_x_to_y", "examples": [{"x": 1.0}]}]``. A
  body with ``examples`` is a Classify or Regress call, chosen by its signature's method name; any other
  body is a Predict call (``instances`` or ``inputs``).

Every request is decoded and checked against the model's signatures first (a bad file fails before any
call), then each is run ``iterations`` times in file order (TF Serving's file first). Requests go straight
to :meth:`LoadedModel.run` on the loading thread, one at a time; no batching, deadlines or metrics.

    report = warm_up(model, Path("models/half_plus_two/00000123"))
    report.requests if report else 0      # model calls made; None: warmup disabled or no warmup file

Files are written with :func:`write_tf_serving_warmup` (from :func:`predict_log` / :func:`classify_log` /
:func:`regress_log` messages, or any ``PredictionLog`` such as ``tensorflow_serving.apis``') and
:func:`write_warmup_json`. Reading the wire formats needs :mod:`modelserve.protocols` (our protobuf messages
and REST JSON decoder); it is imported only when a warmup file exists, so the serving core stays free of it
otherwise.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelserve.errors import Code, FailedPrecondition, InvalidArgument, NotFound, ServingError, Unimplemented
from modelserve.runtimes.base import LoadedModel
from modelserve.serving.tfrecord import TFRecordError, TooManyRecords, read_records, write_records
from modelserve.types import CLASSIFY_METHOD, DEFAULT_SIGNATURE, REGRESS_METHOD, Signature
from modelserve.validation import check_shapes, coerce_inputs

TF_SERVING_WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
"""TensorFlow Serving's warmup file, relative to the version folder."""
JSON_WARMUP_FILE = Path("warmup.json")
"""Our format-neutral warmup file, relative to the version folder."""
MAX_RECORDS = 1000
"""Most requests one warmup file may hold (TF Serving's limit)."""

_METHODS = {CLASSIFY_METHOD: "classify", REGRESS_METHOD: "regress"}


@dataclass(frozen=True)
class WarmupOptions:
    """``--enable_model_warmup`` and ``--num_request_iterations_for_warmup`` (below 1 means 1, as TF Serving)."""

    enabled: bool = True
    iterations: int = 1


@dataclass(frozen=True)
class WarmupReport:
    """What one warmup did: the files read, requests decoded, model calls made, wall time."""

    files: tuple[Path, ...]
    records: int
    requests: int
    seconds: float


class WarmupError(ServingError):
    """A warmup request failed; ``code`` is the failure's own (INVALID_ARGUMENT for a bad input, ...)."""

    def __init__(self, message: str, code: Code = Code.INVALID_ARGUMENT) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class _Call:
    """One model call to replay, and where it came from (for error messages)."""

    origin: str
    kind: str
    signature: str
    inputs: Mapping[str, np.ndarray]


def warmup_files(version_path: Path) -> list[Path]:
    """The warmup files present in a version folder, in replay order."""
    return [version_path / f for f in (TF_SERVING_WARMUP_FILE, JSON_WARMUP_FILE) if (version_path / f).is_file()]


def warm_up(model: LoadedModel, version_path: Path, options: WarmupOptions | None = None) -> WarmupReport | None:
    """Replay the warmup files of ``version_path`` on ``model``; None when disabled or there are none.

    Called on the loading thread, before the version is visible to requests. Raises :class:`WarmupError`
    naming the file, the request and the cause; the caller owns ``model`` and must close it then.
    """
    options = options or WarmupOptions()
    files = warmup_files(version_path) if options.enabled else []
    if not files:
        return None
    started = time.perf_counter()
    calls: list[_Call] = []
    records = 0
    for path in files:
        read = _read_tf_serving_file if path.name == TF_SERVING_WARMUP_FILE.name else _read_json_file
        found, file_calls = read(path, model)
        records += found
        calls.extend(file_calls)
    iterations = max(1, options.iterations)
    for call in calls:
        for _ in range(iterations):
            try:
                model.run(call.signature, call.inputs)
            except ServingError as exc:
                raise WarmupError(
                    f"{call.origin} ({call.kind}, signature {call.signature!r}): {exc.message}", exc.code
                ) from None
            except Exception as exc:  # a runtime that let a framework error through
                raise WarmupError(f"{call.origin} ({call.kind}): {type(exc).__name__}: {exc}", Code.INTERNAL) from exc
    return WarmupReport(tuple(files), records, len(calls) * iterations, time.perf_counter() - started)


# ---------------------------------------------------------------------------- TF Serving's file


def _read_tf_serving_file(path: Path, model: LoadedModel) -> tuple[int, list[_Call]]:
    from modelserve.protocols import pb

    prediction_log = pb.message_class("tensorflow.serving.PredictionLog")
    calls: list[_Call] = []
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
                calls.extend(_calls_of_log(log, origin, model))
            except ServingError as exc:
                raise WarmupError(f"{origin}: {exc.message}", exc.code) from None
    except TooManyRecords:
        raise WarmupError(f"Number of warmup records exceeds the maximum ({MAX_RECORDS}) at {path}") from None
    except TFRecordError as exc:
        raise WarmupError(f"{exc}. Please verify your warmup data is in TFRecord format.", Code.DATA_LOSS) from None
    except OSError as exc:
        raise WarmupError(f"cannot read warmup file {path}: {exc}", Code.FAILED_PRECONDITION) from None
    return count, calls


def _calls_of_log(log: Any, origin: str, model: LoadedModel) -> list[_Call]:
    kind = log.WhichOneof("log_type")
    if kind == "predict_log":
        return [_predict_call(log.predict_log.request, origin, model)]
    if kind in ("classify_log", "regress_log"):
        request = getattr(log, kind).request
        method = CLASSIFY_METHOD if kind == "classify_log" else REGRESS_METHOD
        return [_examples_call(request.model_spec.signature_name, method, _examples(request.input), origin, model)]
    if kind == "multi_inference_log":
        return _multi_inference_calls(log.multi_inference_log.request, origin, model)
    if kind is None:
        return []  # nothing to replay (TF Serving skips it too)
    raise Unimplemented(f"Unsupported log_type for warmup: {kind}")


def _signature(model: LoadedModel, name: str) -> Signature:
    try:
        return model.signature(name or DEFAULT_SIGNATURE)
    except NotFound as exc:
        raise FailedPrecondition(exc.message) from None


def _predict_call(request: Any, origin: str, model: LoadedModel) -> _Call:
    from modelserve.protocols import tensor_proto

    signature = _signature(model, request.model_spec.signature_name)
    arrays = {name: tensor_proto.to_numpy(proto) for name, proto in request.inputs.items()}
    inputs = coerce_inputs(signature, arrays, check_shapes=model.strict_shapes)
    for alias in request.output_filter:
        if alias not in signature.outputs:
            raise InvalidArgument(f"output tensor alias not found in signature: {alias}")
    return _Call(origin, "predict", signature.name, inputs)


def _examples(model_input: Any) -> list[bytes]:
    from modelserve.protocols.tf_example import serialized_examples

    return serialized_examples(model_input)


def _examples_call(signature_name: str, method: str, examples: list[bytes], origin: str, model: LoadedModel) -> _Call:
    signature = _signature(model, signature_name)
    if signature.method_name != method:
        raise InvalidArgument(
            f"Expected {_METHODS[method]} signature method_name to be {method}. Was: {signature.method_name}"
        )
    array = np.empty(len(examples), dtype=object)
    array[:] = examples
    return _Call(origin, _METHODS[method], signature.name, {next(iter(signature.inputs)): array})


def _multi_inference_calls(request: Any, origin: str, model: LoadedModel) -> list[_Call]:
    if not request.tasks:
        raise InvalidArgument("Inference request is empty")
    names = {task.model_spec.name for task in request.tasks}
    if "" in names:
        raise InvalidArgument("Found ModelSpec with an empty model name.")
    if len(names) != 1:
        raise InvalidArgument("All ModelSpecs in a MultiInferenceRequest must access the same model name.")
    examples = _examples(request.input)
    calls, seen = [], set()
    for task in request.tasks:
        name = task.model_spec.signature_name or DEFAULT_SIGNATURE
        if name in seen:
            raise InvalidArgument(f"Duplicate evaluation of signature: {name}")
        seen.add(name)
        if task.method_name not in _METHODS:
            raise Unimplemented(f"Unsupported signature method_name: {task.method_name}")
        calls.append(_examples_call(name, task.method_name, examples, origin, model))
    return calls


# ---------------------------------------------------------------------------------- warmup.json


def _read_json_file(path: Path, model: LoadedModel) -> tuple[int, list[_Call]]:
    from modelserve.protocols import tfs_json

    try:
        document = tfs_json.parse_json(path.read_bytes())
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
            calls.append(_json_call(body, origin, model, tfs_json))
        except ServingError as exc:
            raise WarmupError(f"{origin}: {exc.message}", exc.code) from None
    return len(document), calls


def _json_call(body: Any, origin: str, model: LoadedModel, tfs_json: Any) -> _Call:
    signature = _signature(model, tfs_json.signature_name_of(body))
    if "examples" in body:
        if signature.method_name not in _METHODS:
            raise InvalidArgument(
                f"a body with 'examples' needs a classify or regress signature; {signature.name!r} is "
                f"{signature.method_name}"
            )
        examples = tfs_json.decode_classify_regress(body)
        return _examples_call(signature.name, signature.method_name, examples, origin, model)
    inputs = tfs_json.decode_predict(body, signature).inputs
    if model.strict_shapes:
        check_shapes(signature, inputs)
    return _Call(origin, "predict", signature.name, inputs)


# ----------------------------------------------------------------------------------------- writing


def _target(path: Path | str, relative: Path) -> Path:
    """``path`` itself if it names a file, else ``relative`` inside the version folder ``path``."""
    path = Path(path)
    target = path / relative if path.is_dir() else path
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def predict_log(inputs: Mapping[str, Any], signature_name: str = DEFAULT_SIGNATURE, model_name: str = "") -> Any:
    """A ``PredictionLog`` (our message class) holding a PredictRequest with ``inputs`` (name -> array-like)."""
    from modelserve.protocols import pb, tensor_proto

    log = pb.message_class("tensorflow.serving.PredictionLog")()
    request = log.predict_log.request
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tensor_proto.from_numpy(value))
    return log


def _examples_log(kind: str, examples: Sequence[bytes], signature_name: str, model_name: str) -> Any:
    from modelserve.protocols import pb

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
