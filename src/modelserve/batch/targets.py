"""Where a remote model lives: a server address, a protocol, a model name and a version or label.

    parse_target("http://127.0.0.1:8501/v1/models/digits/labels/stable")   # TF Serving REST
    parse_target("http://127.0.0.1:8501/v2/models/digits_onnx/versions/1")  # Open Inference Protocol REST
    parse_target("grpc://127.0.0.1:8500/v1/models/digits")                  # TF Serving gRPC
    parse_target("grpc://127.0.0.1:8500", model="digits", protocol="v2")    # V2 gRPC

``/v1/...`` paths are TF Serving's API, ``/v2/...`` the Open Inference Protocol (KServe, Triton); a bare
address takes ``model=`` and ``protocol=`` (``tfs`` by default). Labels exist in TF Serving's API only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from modelserve.errors import InvalidArgument

PROTOCOLS = ("tfs", "v2")

_V1 = re.compile(r"^/v1/models/([^/:]+)(?:/versions/([0-9]+)|/labels/([^/:]+))?(?::predict)?/?$")
_V2 = re.compile(r"^/v2/models/([^/]+)(?:/versions/([0-9]+))?(?:/infer)?/?$")


@dataclass(frozen=True)
class ServerTarget:
    """A model on a server. ``address`` is ``http(s)://host:port`` for REST, ``host:port`` for gRPC."""

    transport: str  # "rest" | "grpc"
    protocol: str  # "tfs" | "v2"
    address: str
    model: str
    version: int | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise InvalidArgument(f"unknown protocol {self.protocol!r}; use one of: {', '.join(PROTOCOLS)}")
        if self.version is not None and self.label is not None:
            raise InvalidArgument("give a version or a label, not both")
        if self.label is not None and self.protocol == "v2":
            raise InvalidArgument("the V2 protocol has no version labels; name a version, or use TF Serving's API")
        if not self.model:
            raise InvalidArgument("no model name given for the server (add /v1/models/NAME to the URL, or --model)")

    @property
    def model_path(self) -> str:
        """The model's URL path: ``/v1/models/digits/labels/stable`` or ``/v2/models/digits/versions/1``."""
        root = f"/{'v1' if self.protocol == 'tfs' else 'v2'}/models/{self.model}"
        if self.version is not None:
            return f"{root}/versions/{self.version}"
        if self.label is not None:
            return f"{root}/labels/{self.label}"
        return root

    def url(self) -> str:
        scheme_address = self.address if self.transport == "rest" else f"grpc://{self.address}"
        return scheme_address + self.model_path

    def model_id(self, served_version: int | str | None = None) -> str:
        """``name:version``, with the version the server reported when it did."""
        version = served_version if served_version not in (None, "", 0, "0") else self.version
        if version is not None:
            return f"{self.model}:{version}"
        return f"{self.model}@{self.label}" if self.label else self.model


def is_server_url(text: str) -> bool:
    return text.startswith(("http://", "https://", "grpc://"))


def parse_target(
    url: str,
    model: str | None = None,
    version: int | None = None,
    label: str | None = None,
    protocol: str | None = None,
) -> ServerTarget:
    """A :class:`ServerTarget` from a URL plus optional overrides (which must agree with the URL)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "grpc") or not parts.netloc:
        raise InvalidArgument(
            f"server URL must look like http://host:port[/v1/models/NAME] or grpc://host:port: {url!r}"
        )
    transport = "grpc" if parts.scheme == "grpc" else "rest"
    address = parts.netloc if transport == "grpc" else f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/")
    url_protocol, url_model, url_version, url_label = None, None, None, None
    if path:
        if match := _V1.match(path):
            url_protocol, url_model = "tfs", match.group(1)
            url_version = None if match.group(2) is None else int(match.group(2))
            url_label = match.group(3)
        elif match := _V2.match(path):
            url_protocol, url_model = "v2", match.group(1)
            url_version = None if match.group(2) is None else int(match.group(2))
        else:
            raise InvalidArgument(
                f"cannot read a model from the URL path {parts.path!r}: use /v1/models/NAME[/versions/N|/labels/L] "
                "(TF Serving) or /v2/models/NAME[/versions/N] (V2)"
            )
    return ServerTarget(
        transport,
        _agree("protocol", url_protocol, protocol) or "tfs",
        address,
        _agree("model", url_model, model) or "",
        _agree("version", url_version, version),
        _agree("label", url_label, label),
    )


def _agree(what: str, from_url, given):
    if from_url is not None and given is not None and from_url != given:
        raise InvalidArgument(f"the URL says {what} {from_url!r} but {given!r} was given")
    return from_url if from_url is not None else given
