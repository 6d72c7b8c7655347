"""Find the model file or version folder a pipeline should load, the way the server would pick it.

A :class:`ModelSource` is what the user named; :func:`resolve` turns it into one :class:`ResolvedModel`
(a path to load, a name and a version) when a worker loads the model, so "the newest version" means the
newest one at load time.

    resolve(ModelSource("models/digits_onnx"))                    # newest version folder, digits_onnx:1
    resolve(ModelSource("models/digits_onnx/1/model.onnx"))       # that file
    resolve(ModelSource.in_repository("models", "digits", version=1))
    resolve(ModelSource("models/digits", label="stable", model_config_file="models.config"))

Labels come from TF Serving's model config file (``version_labels { key: "stable" value: 1 }``), the same
file ``modelserve serve --model_config_file`` reads. Imports no framework and no Beam.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from modelserve.errors import InvalidArgument, NotFound
from modelserve.repository.filesystem import parse_version, version_folders

#: Files that stand for their folder when a watched file pattern names them (WatchFilePattern yields files).
_FOLDER_MARKERS = ("saved_model.pb", "saved_model.pbtxt")


@dataclass(frozen=True)
class ModelSource:
    """A local model as the user named it.

    ``path`` is a model file (``.onnx``, ``.tflite``, ``.keras``, ``.h5``), a version folder (a SavedModel
    or a folder holding one model file) or a model's base folder of integer version folders. ``name``
    defaults to the base folder's name; ``version`` or ``label`` pick a version in a base folder (newest
    when neither is given). ``label`` needs ``model_config_file``, which may also supply the base path.
    """

    path: str = ""
    name: str | None = None
    version: int | None = None
    label: str | None = None
    model_config_file: str | None = None
    platform: str | None = None

    @classmethod
    def in_repository(
        cls,
        repository: str | Path,
        name: str,
        version: int | None = None,
        label: str | None = None,
        model_config_file: str | Path | None = None,
        platform: str | None = None,
    ) -> ModelSource:
        """The model ``name`` under a repository root (``repository/name/<version>/``)."""
        config = None if model_config_file is None else str(model_config_file)
        return cls(str(Path(repository) / name), name, version, label, config, platform)

    def with_path(self, path: str) -> ModelSource:
        """This source pointed at another file or folder (a model refresh); version and label are dropped."""
        target = Path(path)
        if target.name in _FOLDER_MARKERS:
            target = target.parent
        return replace(self, path=str(target), version=None, label=None, model_config_file=None)


@dataclass(frozen=True)
class ResolvedModel:
    """One loadable model: ``path`` is a file or version folder."""

    path: Path
    name: str
    version: int | None
    platform: str | None = None

    @property
    def model_id(self) -> str:
        """``name:version``, or ``name`` alone when the path carries no version number."""
        return self.name if self.version is None else f"{self.name}:{self.version}"


def resolve(source: ModelSource) -> ResolvedModel:
    """Pick the file or version folder to load; :class:`NotFound`/:class:`InvalidArgument` say what is wrong."""
    if source.version is not None and source.label is not None:
        raise InvalidArgument("give a version or a label, not both")
    base, name, version = _from_config(source) if source.model_config_file else (source.path, source.name, None)
    if not base:
        raise InvalidArgument("no model path given")
    path = Path(base)
    if not path.exists():
        raise NotFound(f"model path {path} does not exist")
    version = source.version if version is None else version
    folders = version_folders(path) if path.is_dir() else {}
    if folders:
        return _in_base_folder(path, folders, name or path.name, version, source.platform)
    if source.label is not None:
        raise InvalidArgument(f"label {source.label!r} needs a base folder of versions; {path} is one model")
    own_version = parse_version(path.name) if path.is_dir() else parse_version(path.parent.name)
    if version is not None and own_version != version:
        raise InvalidArgument(f"{path} is not version {version} (a version folder or file was given)")
    if path.is_dir():
        default_name = path.parent.name if own_version is not None else path.name
    else:
        default_name = path.parent.parent.name if own_version is not None else path.stem
    return ResolvedModel(path, name or default_name, own_version, source.platform)


def _in_base_folder(
    path: Path, folders: dict[int, Path], name: str, version: int | None, platform: str | None
) -> ResolvedModel:
    if version is None:
        version = max(folders)
    elif version not in folders:
        found = ", ".join(map(str, sorted(folders)))
        raise NotFound(f"model {name!r} has no version {version} in {path}; versions there: {found}")
    return ResolvedModel(folders[version], name, version, platform)


def _from_config(source: ModelSource) -> tuple[str, str | None, int | None]:
    """Base path, name and labelled version from TF Serving's model config file."""
    from modelserve.config_io import read_model_config_file

    config_path = Path(source.model_config_file or "")
    configs = read_model_config_file(config_path)
    name = source.name or (Path(source.path).name if source.path else None)
    if name is None and len(configs) == 1:
        name = configs[0].name
    matching = [c for c in configs if c.name == name]
    if not matching:
        known = ", ".join(c.name for c in configs)
        raise NotFound(f"model {name!r} is not in {config_path}; it configures: {known}")
    config = matching[0]
    if not isinstance(config.base_path, Path):
        raise InvalidArgument(f"model {name!r}: batch prediction reads local base paths only, not {config.base_path}")
    base = source.path or str(config.base_path)
    if source.label is None:
        return base, name, None
    labels = dict(config.labels)
    if source.label not in labels:
        known = ", ".join(sorted(labels)) or "none"
        raise NotFound(f"model {name!r} has no label {source.label!r} in {config_path}; its labels: {known}")
    return base, name, labels[source.label]
