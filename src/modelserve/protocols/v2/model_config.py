"""Triton's model configuration, both ways: ``GET /v2/models/{m}/config`` (and the ``ModelConfig`` RPC), and
the ``config`` parameter of a repository load, applied as an override.

An override is Triton's model config as JSON text, parsed with protobuf's JSON rules (``"16"`` is the number
16). It *replaces* the model's config for the fields we serve, as in Triton; a later load without one goes
back to the model's own:

- ``max_batch_size``: requests with more rows are refused (0: no limit); with it, ``dims`` in the answered
  config leave out the batch dimension, as Triton's do;
- ``dynamic_batching`` (``max_queue_delay_microseconds``, ``preferred_batch_size``): this model's requests are
  batched (up to ``max_batch_size`` rows, waiting at most the delay; preferred sizes become TF Serving's
  ``allowed_batch_sizes``), whatever the server's ``--enable_batching``;
- ``version_policy`` (``latest``/``all``/``specific``);
- ``name``, ``platform``/``backend``, ``input`` and ``output`` may be given, and must then agree with the
  model (names, datatypes, dims).

Anything else Triton knows (``instance_group``, ``optimization``, ...) is refused by name, so a setting is
never silently ignored. Every refusal is ``failed to load '<m>': invalid config override: <why>``
(INVALID_ARGUMENT), and the model keeps serving as it was.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format

from modelserve.config import All, BatchingConfig, Latest, ModelConfig, ModelOverride, Specific, VersionPolicy
from modelserve.errors import InvalidArgument, ServingError, error_of_code
from modelserve.protocols import pb, recorded
from modelserve.protocols.v2.metadata import platform_name, tensor_datatype
from modelserve.serving.service import ModelService
from modelserve.types import DEFAULT_SIGNATURE, ModelRef, Signature, TensorSpec

__all__ = ["config_document", "load_model", "model_config_document", "parse_override"]

_SERVED_FIELDS = {
    "name",
    "platform",
    "backend",
    "version_policy",
    "max_batch_size",
    "input",
    "output",
    "dynamic_batching",
}
_DYNAMIC_BATCHING_FIELDS = {"preferred_batch_size", "max_queue_delay_microseconds"}


# ------------------------------------------------------------------------------------ the answer


def config_document(service: ModelService, name: str, version: int | None) -> dict[str, Any]:
    """What both doors answer for ``name`` (``version``, else the newest): its ``serving_default`` signature
    under the config it is served with."""
    view = recorded.describe(service, ModelRef(name, version))
    return model_config_document(name, view.platform, view.signature(DEFAULT_SIGNATURE), service.model_config(name))


def model_config_document(
    name: str, platform: str, signature: Signature, config: ModelConfig | None = None
) -> dict[str, Any]:
    """Triton's model configuration of the served ``signature`` (``serving_default``) under ``config``."""
    max_batch_size = config.max_batch_size if config is not None else 0

    def tensors(specs: Mapping[str, TensorSpec]) -> list[dict[str, Any]]:
        return [
            {
                "name": s.name,
                "data_type": "TYPE_" + tensor_datatype(s).replace("BYTES", "STRING"),
                "dims": _dims(s, max_batch_size),
            }
            for s in specs.values()
        ]

    document: dict[str, Any] = {
        "name": name,
        "platform": platform_name(platform),
        "max_batch_size": max_batch_size,
        "input": tensors(signature.inputs),
        "output": tensors(signature.outputs),
    }
    if config is not None:
        document["version_policy"] = _policy_document(config.policy)
        if config.batching is not None:
            document["dynamic_batching"] = {
                "preferred_batch_size": list(config.batching.allowed_batch_sizes),
                "max_queue_delay_microseconds": config.batching.batch_timeout_micros,
            }
    return document


def _config_type(spec: TensorSpec) -> str:
    """The model config's name of the spec's datatype (``TYPE_FP32``; BYTES is ``TYPE_STRING``)."""
    return "TYPE_" + tensor_datatype(spec).replace("BYTES", "STRING")


def _dims(spec: TensorSpec, max_batch_size: int) -> list[int]:
    if spec.shape is None:
        return [-1]
    dims = list(spec.shape)
    return dims[1:] if max_batch_size and dims and dims[0] == -1 else dims


def _policy_document(policy: VersionPolicy) -> dict[str, Any]:
    if isinstance(policy, Latest):
        return {"latest": {"num_versions": policy.n}}
    if isinstance(policy, Specific):
        return {"specific": {"versions": list(policy.versions)}}
    return {"all": {}}


# ----------------------------------------------------------------------------------- the override


def parse_override(name: str, text: str, signature: Signature | None) -> ModelOverride:
    """Read an override (module docstring); ``signature`` (the served ``serving_default``, when the model is
    served) is what ``input``/``output`` must agree with. Raises InvalidArgument."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise _refused(name, f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise _refused(name, "it must be a JSON object (Triton's model configuration)")
    unknown = sorted(set(document) - _SERVED_FIELDS)
    if unknown:
        raise _refused(name, f"'{unknown[0]}' is not served here (served: {', '.join(sorted(_SERVED_FIELDS))})")
    extra = sorted(set(document.get("dynamic_batching") or {}) - _DYNAMIC_BATCHING_FIELDS)
    if extra:
        raise _refused(name, f"'dynamic_batching.{extra[0]}' is not served here")
    message = pb.V2ModelConfig()
    try:
        json_format.ParseDict(document, message)
    except json_format.ParseError as exc:
        raise _refused(name, str(exc)) from None
    if message.name and message.name != name:
        raise _refused(name, f"'name' is {message.name!r}; it must be the model's name")
    if message.max_batch_size < 0:
        raise _refused(name, "'max_batch_size' must be 0 or more")
    if signature is not None:
        _check_tensors(name, message, signature)
    return ModelOverride(
        policy=_policy(name, message) if message.HasField("version_policy") else None,
        max_batch_size=message.max_batch_size,
        batching=_batching(name, message) if "dynamic_batching" in document else None,
    )


def _refused(name: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"failed to load '{name}': invalid config override: {why}")


def _policy(name: str, message: Any) -> VersionPolicy:
    policy = message.version_policy
    choice = policy.WhichOneof("policy_choice")
    if choice == "latest":
        if policy.latest.num_versions < 1:
            raise _refused(name, "'version_policy.latest.num_versions' must be at least 1")
        return Latest(policy.latest.num_versions)
    if choice == "specific":
        if not policy.specific.versions:
            raise _refused(name, "'version_policy.specific.versions' is empty")
        return Specific(tuple(int(v) for v in policy.specific.versions))
    return All()


def _batching(name: str, message: Any) -> BatchingConfig:
    if message.max_batch_size < 1:
        raise _refused(name, "'dynamic_batching' needs 'max_batch_size' of 1 or more")
    preferred = sorted(set(message.dynamic_batching.preferred_batch_size))
    if any(size < 1 or size > message.max_batch_size for size in preferred):
        raise _refused(name, "'preferred_batch_size' entries must be between 1 and 'max_batch_size'")
    if preferred and preferred[-1] != message.max_batch_size:
        preferred.append(message.max_batch_size)  # TF Serving's rule: the largest allowed size is the maximum
    return BatchingConfig(
        max_batch_size=message.max_batch_size,
        batch_timeout_micros=message.dynamic_batching.max_queue_delay_microseconds,
        allowed_batch_sizes=tuple(preferred),
    )


def _check_tensors(name: str, message: Any, signature: Signature) -> None:
    for role, given, specs in (
        ("input", message.input, signature.inputs),
        ("output", message.output, signature.outputs),
    ):
        for tensor in given:
            spec = specs.get(tensor.name)
            if spec is None:
                raise _refused(name, f"{role} '{tensor.name}' is not the model's (it has: {', '.join(specs)})")
            datatype = pb.V2DataType.Name(tensor.data_type)
            expected = _config_type(spec)
            if tensor.data_type and datatype != expected:
                raise _refused(name, f"{role} '{tensor.name}' is {expected}, not {datatype}")
            dims = _dims(spec, message.max_batch_size)
            if tensor.dims and list(tensor.dims) != dims:
                raise _refused(name, f"{role} '{tensor.name}' has dims {dims}, not {list(tensor.dims)}")


# ----------------------------------------------------------------------------------------- loading


def load_model(service: ModelService, name: str, parameters: Mapping[str, Any]) -> None:
    """A repository load with its parameters (``config``: an override); errors say ``failed to load``.

    Runs on a worker thread (a load may take seconds)."""
    unknown = sorted(set(parameters) - {"config"})
    if unknown:
        raise InvalidArgument(f"failed to load '{name}': unrecognized load parameter '{unknown[0]}'")
    text = parameters.get("config")
    if text is not None and not isinstance(text, str):
        raise InvalidArgument(
            f"failed to load '{name}': invalid value type for load parameter 'config', expected string_param."
        )
    try:
        if text is None:
            service.load_model(name)
            return
        if name not in service.model_names():
            service.load_model(name)  # first served as it is, so the override is checked against the model
        signature = service.describe(ModelRef(name)).signature(DEFAULT_SIGNATURE)
        service.load_model(name, parse_override(name, text, signature))
    except ServingError as exc:
        if exc.message.startswith(f"failed to load '{name}'"):
            raise
        raise error_of_code(exc.code, f"failed to load '{name}': {exc.message}") from None
