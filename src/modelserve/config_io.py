"""Read TF Serving's ``--model_config_file`` (text ``ModelServerConfig``) into :class:`ModelConfig`.

    model_config_list {
      config { name: "half_plus_two" base_path: "/models/half_plus_two" model_platform: "tensorflow"
               model_version_policy { latest { num_versions: 2 } }     # or all {} | specific { versions: 1 }
               version_labels { key: "stable" value: 123 } }
    }

Every problem is an :class:`InvalidArgument` that names the file, the line and what is wrong. Relative
base paths are resolved against the config file's folder; ``s3://`` and ``gs://`` URLs are kept as text.
"""

from __future__ import annotations

from pathlib import Path

from modelserve.config import All, Latest, ModelConfig, Specific, VersionPolicy
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
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, line: int, message: str) -> InvalidArgument:
        return InvalidArgument(f"{self.path}:{line}: {message}")

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


def read_model_config_file(path: Path) -> tuple[ModelConfig, ...]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidArgument(f"cannot read model config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"model config file {path} is not UTF-8 text: {exc}") from None
    return parse_model_config(text, path)


def parse_model_config(text: str, path: Path) -> tuple[ModelConfig, ...]:
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
        model = _model(reader, entry, line, path.parent)
        if any(m.name == model.name for m in models):
            raise reader.fail(line, f"duplicate model name '{model.name}'")
        models.append(model)
    if not models:
        raise reader.fail(1, "model_config_list has no 'config' entries")
    return tuple(models)


def _model(reader: _Reader, entry: Message, line: int, folder: Path) -> ModelConfig:
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


def _base_path(reader: _Reader, entry: Message, line: int, folder: Path) -> Path | str:
    """A local folder (relative ones resolved against the config file's folder) or an s3:// / gs:// URL."""
    text = reader.one(entry, "base_path", str, line, required=True)
    if is_url(text):
        try:
            return check_url(text)
        except InvalidArgument as exc:
            raise reader.fail(entry.lines["base_path"][0], exc.message) from None
    base = Path(text)
    return base if base.is_absolute() else (folder / base).absolute()


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
