"""TF.js files over HTTP: a served version's converted graph model, and the TF.js runtime for browsers.

Routes (GET; :class:`RestApp` asks :meth:`TfjsFiles.handles` before its other ``/v1`` and ``/ui`` routes):

- ``/v1/models/NAME[/versions/N | /labels/LABEL]/tfjs/FILE``: ``FILE`` from ``<base path>/<version>/tfjs/``
  of the version that name, version or label resolves to among the *served* versions (the newest without
  either), as ``modelserve convert --to tfjs`` lands it. ``model.json`` is ``application/json``, weight
  shards and anything else ``application/octet-stream``. With API keys these are reads (``read`` scope).
- ``/ui/tfjs-runtime/FILE``: the five files a browser needs to run such a model with no CDN (``tf.min.js``,
  ``tf-backend-wasm.min.js`` and its three ``.wasm`` builds), from the npm packages that
  ``scripts/install_tfjs.sh`` put in :func:`runtime_dir`. Open, like the web page.

Safety: ``FILE`` is percent-decoded, then every segment must be a plain name (letters, digits, ``._-``, not
starting with a dot: no ``..``, no hidden files, no encoded slashes); the resolved path must be a regular
file inside that version's ``tfjs`` folder (symbolic links leading out of it are refused). Anything else,
or a model without a TF.js conversion, is a 404 in TF Serving's error envelope. Every answer carries
``Access-Control-Allow-Origin: *`` (the app adds its CORS headers itself when ``--enable_cors`` is on).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from modelserve.errors import NotFound
from modelserve.repository.filesystem import version_folders
from modelserve.serving.service import ModelService
from modelserve.types import ModelRef

#: The npm packages' version that the install script pins and the page expects.
TFJS_VERSION = "4.22.0"
#: The folder, in a version folder, holding the converted graph model.
TFJS_FOLDER = "tfjs"
ENV_DIR = "MODELSERVE_TFJS_DIR"
INSTALL_HINT = "run scripts/install_tfjs.sh from the modelserve checkout (pip and npm, from their registries)"
RUNTIME_PREFIX = "/ui/tfjs-runtime/"
#: Browser file name -> its path under node_modules.
BROWSER_FILES = {
    "tf.min.js": "@tensorflow/tfjs/dist/tf.min.js",
    "tf-backend-wasm.min.js": "@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js",
    "tfjs-backend-wasm.wasm": "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm",
    "tfjs-backend-wasm-simd.wasm": "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm",
    "tfjs-backend-wasm-threaded-simd.wasm": "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm",
}
_MODEL_FILES = re.compile(r"/v1/models/([^/]+)(?:/versions/(\d+)|/labels/([^/]+))?/tfjs/(.+)", re.DOTALL)
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_TYPES = {".json": b"application/json", ".js": b"text/javascript", ".wasm": b"application/wasm"}
_CORS = (b"access-control-allow-origin", b"*")


def runtime_dir() -> Path | None:
    """The folder whose ``node_modules`` holds ``@tensorflow/tfjs``: ``$MODELSERVE_TFJS_DIR``, else
    ``.cache/tfjs`` in the working directory, else in the source checkout this module runs from; None when
    none has it (``$MODELSERVE_TFJS_DIR`` set: only that folder counts)."""
    configured = os.environ.get(ENV_DIR)
    if configured:
        candidates = [Path(configured)]
    else:
        candidates = [Path.cwd() / ".cache" / "tfjs", Path(__file__).resolve().parents[3] / ".cache" / "tfjs"]
    for folder in candidates:
        if (folder / "node_modules" / "@tensorflow" / "tfjs" / "package.json").is_file():
            return folder.resolve()
    return None


@dataclass(frozen=True)
class FileAnswer:
    body: bytes
    content_type: bytes
    headers: list[tuple[bytes, bytes]]


def safe_relative(text: str) -> tuple[str, ...] | None:
    """The percent-decoded segments of ``text`` when each is a plain file or folder name, else None."""
    parts = tuple(unquote(part) for part in text.split("/"))
    if not parts or any(not _SEGMENT.fullmatch(part) for part in parts):
        return None
    return parts


def content_type(path: Path) -> bytes:
    return _TYPES.get(path.suffix.lower(), b"application/octet-stream")


class TfjsFiles:
    """Answers the routes above for one service; ``cors``: add ``Access-Control-Allow-Origin: *``."""

    def __init__(self, service: ModelService, runtime: Path | None, cors: bool = True) -> None:
        self.service = service
        self.runtime = runtime
        self._headers = [_CORS] if cors else []

    def handles(self, method: str, path: str) -> bool:
        if method != "GET":
            return False
        return path.startswith(RUNTIME_PREFIX) or bool(_MODEL_FILES.fullmatch(path))

    def answer(self, path: str) -> FileAnswer:
        """The file for ``path`` (one :meth:`handles` accepted); NotFound otherwise. Reads the disk: call it
        off the event loop."""
        if path.startswith(RUNTIME_PREFIX):
            return self._runtime_file(path.removeprefix(RUNTIME_PREFIX))
        match = _MODEL_FILES.fullmatch(path)
        if match is None:
            raise NotFound(f"no TF.js file at {path}")
        name, version, label, relative = match.groups()
        name = unquote(name)
        ref = ModelRef(name, int(version) if version else None, unquote(label) if label else None)
        folder = self.model_folder(ref)
        parts = safe_relative(relative)
        if parts is None:
            raise NotFound(f"no TF.js file {relative!r} for {ref}")
        return self._file(folder, folder.joinpath(*parts), f"TF.js file {'/'.join(parts)} of {ref}", "no-cache")

    def model_folder(self, ref: ModelRef) -> Path:
        """``<base path>/<version>/tfjs`` of the served version ``ref`` resolves to (NotFound without one)."""
        view = self.service.describe(ref)  # NotFound for unknown models, versions and labels
        try:
            base = self.service.model_config(view.name).base_path
        except NotFound:
            base = None
        if not isinstance(base, Path):
            raise NotFound(f"{ref} is not served from a local folder: no TF.js files to serve")
        folder = version_folders(base).get(view.version, base / str(view.version)) / TFJS_FOLDER  # "00000123" too
        if not (folder / "model.json").is_file():
            raise NotFound(
                f"{view.name} version {view.version} has no TF.js model (modelserve convert --to tfjs lands one)"
            )
        return folder

    def _runtime_file(self, name: str) -> FileAnswer:
        if name not in BROWSER_FILES:
            raise NotFound(f"no TF.js runtime file {name!r}; there are: {', '.join(BROWSER_FILES)}")
        if self.runtime is None:
            raise NotFound(f"the TF.js runtime is not installed on this server: {INSTALL_HINT}")
        modules = self.runtime / "node_modules"
        return self._file(modules, modules / BROWSER_FILES[name], f"TF.js runtime file {name}", "max-age=86400")

    def _file(self, folder: Path, path: Path, what: str, cache: str) -> FileAnswer:
        try:
            resolved = path.resolve(strict=True)
            inside = resolved.is_relative_to(folder.resolve(strict=True)) and resolved.is_file()
        except (OSError, RuntimeError):
            inside = False
        if not inside:
            raise NotFound(f"{what} not found")
        headers = [*self._headers, (b"cache-control", cache.encode())]
        return FileAnswer(resolved.read_bytes(), content_type(resolved), headers)
