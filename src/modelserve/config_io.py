"""Every reader of a configuration format, one per format, into the types of :mod:`modelserve.config`.

- TF Serving's ``--model_config_file`` (text ``ModelServerConfig``), and the same message from gRPC
  ``HandleReloadConfigRequest`` (as text): :func:`read_model_config_file`, :func:`parse_model_config`;
- TF Serving's ``BatchingParameters`` file: :func:`read_batching_parameters`;
- our traffic policy file (JSON or YAML): :func:`read_traffic_file`, :func:`parse_traffic_config`.

The model config format:

    model_config_list {
      config { name: "half_plus_two" base_path: "/models/half_plus_two" model_platform: "tensorflow"
               model_version_policy { latest { num_versions: 2 } }     # or all {} | specific { versions: 1 }
               version_labels { key: "stable" value: 123 } }
    }

Every problem is an :class:`InvalidArgument` that names the file, the line and what is wrong. Relative
base paths are resolved against the config file's folder (refused in a message, which has no folder);
``s3://`` and ``gs://`` URLs are kept as text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from modelserve.config import (
    DEFAULT_ROUTING_HEADER,
    All,
    BatchingConfig,
    Latest,
    ModelConfig,
    Route,
    Shadow,
    Specific,
    TrafficConfig,
    TrafficPolicy,
    VersionPolicy,
)
from modelserve.errors import InvalidArgument
from modelserve.repository.remote import check_url, is_url
from modelserve.runtimes.registry import PLATFORMS
from modelserve.textproto import Message, TextProtoError, parse

_MODEL_FIELDS = {
    "name",
    "base_path",
    "model_platform",
    "model_version_policy",
    "version_labels",
    "logging_config",
}


class _Reader:
    """Errors of a model config file name the file and line, after the words TF Serving's users search
    logs for (``Error parsing text-format tensorflow.serving.ModelServerConfig``)."""

    def __init__(self, path: Path | str) -> None:
        self.path = path

    def fail(self, line: int, message: str) -> InvalidArgument:
        return InvalidArgument(
            f"Error parsing text-format tensorflow.serving.ModelServerConfig: {self.path}:{line}: {message}"
        )

    def one(self, message: Message, name: str, kind: type, line: int, required: bool = False) -> object:
        values = message.fields.get(name, [])
        if not values:
            if required:
                raise self.fail(line, f"missing '{name}'")
            return None
        if len(values) > 1:
            raise self.fail(message.lines[name][1], f"'{name}' given more than once")
        if not isinstance(values[0], kind) or (kind is int and isinstance(values[0], bool)):
            raise self.fail(message.lines[name][0], f"'{name}' must be a {kind.__name__}")
        return values[0]


def _read_text(path: Path, what: str) -> str:
    """A config file's text, or InvalidArgument naming ``what`` it is and why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidArgument(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"{what} {path} is not UTF-8 text: {exc}") from None


def read_model_config_file(path: Path) -> tuple[ModelConfig, ...]:
    return parse_model_config(_read_text(path, "model config file"), path)


def parse_model_config(
    text: str, path: Path | str, relative_to: Path | None = None, allow_empty: bool = False
) -> tuple[ModelConfig, ...]:
    """Parse a text ``ModelServerConfig``; ``path`` names it in errors. Relative base paths are resolved
    against ``relative_to`` (default: ``path``'s folder when ``path`` is a Path; refused when a str). An
    empty ``model_config_list`` is refused unless ``allow_empty`` (a reload that unloads every model)."""
    if relative_to is None and isinstance(path, Path):
        relative_to = path.parent
    reader = _Reader(path)
    try:
        root = parse(text)
    except TextProtoError as exc:
        raise reader.fail(exc.line, str(exc).split(": ", 1)[1]) from None
    unknown = set(root.fields) - {"model_config_list"}
    if unknown:
        name = sorted(unknown)[0]
        raise reader.fail(root.lines[name][0], f"unknown field '{name}' (expected model_config_list)")
    config_list = reader.one(root, "model_config_list", Message, 1, required=True)
    models: list[ModelConfig] = []
    for entry, line in zip(config_list.fields.get("config", []), config_list.lines.get("config", [])):
        if not isinstance(entry, Message):
            raise reader.fail(line, "'config' must be a message { ... }")
        model = _model(reader, entry, line, relative_to)
        if any(m.name == model.name for m in models):
            raise reader.fail(line, f"duplicate model name '{model.name}'")
        models.append(model)
    if not models and not allow_empty:
        raise reader.fail(1, "model_config_list has no 'config' entries")
    return tuple(models)


def _model(reader: _Reader, entry: Message, line: int, folder: Path | None) -> ModelConfig:
    unknown = set(entry.fields) - _MODEL_FIELDS
    if unknown:
        name = sorted(unknown)[0]
        raise reader.fail(entry.lines[name][0], f"unknown field '{name}' in config")
    name = reader.one(entry, "name", str, line, required=True)
    if not name or "/" in name or ":" in name:
        raise reader.fail(line, f"bad model name {name!r}: it must be non-empty without '/' or ':'")
    base = _base_path(reader, entry, line, folder)
    platform = reader.one(entry, "model_platform", str, line)
    if platform is not None and platform not in PLATFORMS:
        raise reader.fail(entry.lines["model_platform"][0], f"unknown model_platform '{platform}'")
    policy_message = reader.one(entry, "model_version_policy", Message, line)
    policy = _policy(reader, policy_message, entry.lines.get("model_version_policy", [line])[0])
    labels = []
    for label, label_line in zip(entry.fields.get("version_labels", []), entry.lines.get("version_labels", [])):
        if not isinstance(label, Message):
            raise reader.fail(label_line, 'version_labels must be { key: "..." value: N }')
        key = reader.one(label, "key", str, label_line, required=True)
        value = reader.one(label, "value", int, label_line, required=True)
        labels.append((key, value))
    return ModelConfig(
        name=name,
        base_path=base,
        platform=platform,
        policy=policy,
        labels=tuple(labels),
    )


def _base_path(reader: _Reader, entry: Message, line: int, folder: Path | None) -> Path | str:
    """A local folder (relative ones resolved against the config file's folder) or an s3:// / gs:// URL."""
    text = reader.one(entry, "base_path", str, line, required=True)
    if is_url(text):
        try:
            return check_url(text)
        except InvalidArgument as exc:
            raise reader.fail(entry.lines["base_path"][0], exc.message) from None
    base = Path(text)
    if base.is_absolute():
        return base
    if folder is None:
        raise reader.fail(entry.lines["base_path"][0], f"base_path must be absolute, got {text!r}")
    return (folder / base).absolute()


def _policy(reader: _Reader, message: Message | None, line: int) -> VersionPolicy:
    if message is None:
        return Latest(1)
    kinds = [k for k in message.fields if k in ("latest", "all", "specific")]
    if len(kinds) != 1 or len(message.fields) != 1:
        raise reader.fail(line, "model_version_policy needs exactly one of latest {}, all {}, specific {}")
    body = reader.one(message, kinds[0], Message, line)
    if kinds[0] == "all":
        return All()
    if kinds[0] == "latest":
        n = reader.one(body, "num_versions", int, line)
        if n is not None and n < 1:
            raise reader.fail(line, f"latest num_versions must be at least 1, got {n}")
        return Latest(n or 1)
    versions = body.fields.get("versions", [])
    if not versions or not all(isinstance(v, int) and not isinstance(v, bool) for v in versions):
        raise reader.fail(line, "specific needs one or more integer 'versions'")
    return Specific(tuple(versions))


# ------------------------------------------------------------------------- batching parameters

_WRAPPED = {"max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads"}
_FLAGS = {"pad_variable_length_inputs", "enable_large_batch_splitting"}
_IGNORED = {"thread_pool_name", "max_execution_batch_size"}


def _unwrap(value: object, name: str, path: Path) -> object:
    """TF writes wrapper messages (``max_batch_size { value: 8 }``); plain values are accepted too."""
    if isinstance(value, Message):
        values = value.fields.get("value", [])
        if len(values) != 1:
            raise InvalidArgument(f"{path}: '{name}' needs one value {{ value: ... }}")
        return values[0]
    return value


def read_batching_parameters(path: Path) -> BatchingConfig:
    """TF Serving's ``BatchingParameters`` text file (``max_batch_size { value: 128 }`` ...)."""
    text = _read_text(path, "batching parameters file")
    try:
        root = parse(text)
    except TextProtoError as exc:
        raise InvalidArgument(f"{path}: {exc}") from None
    values: dict[str, object] = {}
    for name, items in root.fields.items():
        line = root.lines[name][0]
        if name == "allowed_batch_sizes":
            values[name] = tuple(int(_unwrap(v, name, path)) for v in items)
        elif name in _WRAPPED | _FLAGS:
            value = _unwrap(items[-1], name, path)
            expected = bool if name in _FLAGS else int
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise InvalidArgument(f"{path}:{line}: '{name}' must be {expected.__name__}")
            values[name] = value
        elif name not in _IGNORED:
            raise InvalidArgument(f"{path}:{line}: unknown batching parameter '{name}'")
    return BatchingConfig(**values)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- traffic policies


def read_traffic_file(path: Path) -> TrafficConfig:
    """Parse a JSON (``.json``) or YAML (anything else) traffic file; InvalidArgument names the problem."""
    text = _read_text(path, "traffic config")
    if path.suffix == ".json":
        import json

        try:
            data = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as exc:
            raise InvalidArgument(f"traffic config {path} is not valid JSON: {exc}") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise InvalidArgument(f"traffic config {path} is not valid YAML: {exc}") from None
    return parse_traffic_config(data, str(path))


def parse_traffic_config(data: Any, where: str = "traffic config") -> TrafficConfig:
    """Build a :class:`TrafficConfig` from plain data (the file's contents)."""
    if not isinstance(data, dict):
        raise InvalidArgument(f"{where}: expected a mapping with 'models', got {type(data).__name__}")
    unknown = set(data) - {"models", "routing_header"}
    if unknown:
        raise InvalidArgument(f"{where}: unknown key(s) {sorted(unknown)}; expected 'models' and 'routing_header'")
    header = data.get("routing_header", DEFAULT_ROUTING_HEADER)
    if not isinstance(header, str) or not _HEADER_NAME.fullmatch(header.lower()):
        raise InvalidArgument(f"{where}: routing_header must be an HTTP header name, got {header!r}")
    models = data.get("models") or {}
    if not isinstance(models, dict):
        raise InvalidArgument(f"{where}: 'models' must map model names to policies")
    policies = {str(name): _traffic_policy(body, f"{where}: models.{name}") for name, body in models.items()}
    return TrafficConfig(policies, header.lower())


def _traffic_policy(body: Any, where: str) -> TrafficPolicy:
    if not isinstance(body, dict):
        raise InvalidArgument(f"{where}: expected a mapping with 'routes' and optionally 'shadow', 'seed'")
    unknown = set(body) - {"routes", "shadow", "seed"}
    if unknown:
        raise InvalidArgument(f"{where}: unknown key(s) {sorted(unknown)}")
    routes_body = body.get("routes") or {}
    if not isinstance(routes_body, dict):
        raise InvalidArgument(f"{where}.routes: expected a mapping of label or version to weight")
    routes = []
    for target, weight in routes_body.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise InvalidArgument(f"{where}.routes.{target}: weight must be a number >= 0, got {weight!r}")
        routes.append(Route(_traffic_target(target, f"{where}.routes"), float(weight)))
    if routes and sum(r.weight for r in routes) <= 0:
        raise InvalidArgument(f"{where}.routes: the weights add up to 0")
    shadow = None
    if body.get("shadow") is not None:
        shadow_body = body["shadow"]
        if not isinstance(shadow_body, dict) or "target" not in shadow_body:
            raise InvalidArgument(f"{where}.shadow: expected {{target: <label or version>, fraction: 0..1}}")
        fraction = shadow_body.get("fraction", 1.0)
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1:
            raise InvalidArgument(f"{where}.shadow.fraction: must be a number between 0 and 1, got {fraction!r}")
        shadow = Shadow(_traffic_target(shadow_body["target"], f"{where}.shadow"), float(fraction))
    if shadow is not None and not routes:
        raise InvalidArgument(f"{where}.shadow: a shadow mirrors routed requests, so the policy needs 'routes'")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise InvalidArgument(f"{where}.seed: must be an integer")
    return TrafficPolicy(tuple(routes), shadow, seed)


def _traffic_target(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value) == "":
        raise InvalidArgument(f"{where}: a target is a version label or a version number, got {value!r}")
    return str(value)


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")  # an HTTP token, lower case
