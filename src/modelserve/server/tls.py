"""TLS and mTLS for both doors, configured as TF Serving configures gRPC: ``--ssl_config_file``.

The file is TF Serving's ``SSLConfig`` text proto::

    server_key: "-----BEGIN PRIVATE KEY-----\\n..."     # PEM text, as TF Serving takes it,
    server_cert: "/etc/modelserve/tls/server.crt"     # or (our extension) a PEM file's path
    custom_ca: "/etc/modelserve/tls/clients-ca.crt"   # CA of client certificates
    client_verify: true                               # mTLS: a client certificate is required

TF Serving applies it to gRPC only; we apply it to gRPC and REST. ``client_verify`` requires a client
certificate signed by ``custom_ca`` on both (TF Serving's ``REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_
VERIFY``); its common name may name an identity in the keys file. Rotation: the config file and the files
it names are checked at most once a second when a connection starts its handshake, and a change applies
from that connection on (gRPC through its certificate fetcher, REST by switching the handshake's
``SSLContext``); a change that does not load keeps the old certificates, with an error in the log, and so does a
change of ``client_verify`` (TLS libraries keep a listener's first verify mode: that takes a restart).
"""

from __future__ import annotations

import logging
import os
import shutil
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from modelserve.access.watch import FileSignature, file_signature
from modelserve.errors import InvalidArgument
from modelserve.textproto import TextProtoError, parse

__all__ = ["TlsMaterial", "TlsSource", "read_ssl_config"]

log = logging.getLogger(__name__)

_FIELDS = {"server_key": str, "server_cert": str, "custom_ca": str, "client_verify": bool}


@dataclass(frozen=True)
class TlsMaterial:
    server_key: bytes
    server_cert: bytes
    custom_ca: bytes | None
    client_verify: bool
    files: tuple[Path, ...]  # the config file and every PEM file it names (what rotation watches)


def read_ssl_config(path: Path) -> TlsMaterial:
    """The PEM material of an SSLConfig file; InvalidArgument names the file and what is wrong."""
    try:
        root = parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"cannot read --ssl_config_file {path}: {exc}") from None
    except TextProtoError as exc:
        raise InvalidArgument(f"Error parsing text-format tensorflow.serving.SSLConfig: {path}:{exc}") from None
    values: dict[str, Any] = {}
    for name, items in root.fields.items():
        kind = _FIELDS.get(name)
        if kind is None:
            raise InvalidArgument(f"{path}:{root.lines[name][0]}: unknown SSLConfig field '{name}'")
        if not isinstance(items[-1], kind):
            raise InvalidArgument(f"{path}:{root.lines[name][0]}: '{name}' must be a {kind.__name__}")
        values[name] = items[-1]
    files = [path]
    pems = {}
    for name in ("server_key", "server_cert", "custom_ca"):
        text = values.get(name, "")
        if text and "-----BEGIN" not in text:  # a path, relative to the config file's folder
            pem_path = (path.parent / text).absolute()
            try:
                text = pem_path.read_text(encoding="ascii")
            except (OSError, UnicodeDecodeError) as exc:
                raise InvalidArgument(f"{path}: cannot read {name} file {pem_path}: {exc}") from None
            files.append(pem_path)
        pems[name] = text.encode("ascii", "replace")
    if not pems["server_key"] or not pems["server_cert"]:
        raise InvalidArgument(f"{path}: an SSLConfig needs server_key and server_cert")
    client_verify = bool(values.get("client_verify", False))
    if client_verify and not pems["custom_ca"]:
        raise InvalidArgument(f"{path}: client_verify needs custom_ca (the CA that signs client certificates)")
    return TlsMaterial(pems["server_key"], pems["server_cert"], pems["custom_ca"] or None, client_verify, tuple(files))


def server_context(material: TlsMaterial) -> ssl.SSLContext:
    """An ``SSLContext`` for the REST door (TLS 1.2+, HTTP/1.1); InvalidArgument if the PEMs do not load."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    folder = tempfile.mkdtemp(prefix="modelserve-tls-")  # mode 0700; load_cert_chain reads files only
    try:
        cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
        for name, data in ((cert, material.server_cert), (key, material.server_key)):
            with open(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
                out.write(data)
        context.load_cert_chain(cert, key)
        if material.custom_ca:
            context.load_verify_locations(cadata=material.custom_ca.decode("ascii"))
    except ssl.SSLError as exc:
        raise InvalidArgument(f"the server key and certificate do not load: {exc}") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    context.verify_mode = ssl.CERT_REQUIRED if material.client_verify else ssl.CERT_NONE
    return context


class TlsSource:
    """The current material of one ``--ssl_config_file``, re-read when a file it depends on changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.material = read_ssl_config(path)  # errors at start-up stop the server
        self._signature = _signature(self.material.files)
        self._lock = threading.Lock()  # gRPC's fetcher runs on gRPC's threads, REST's on the event loop
        self._next_check = 0.0
        self._rest_context = server_context(self.material)
        self._grpc_changed = False

    def refresh(self) -> bool:
        """Re-read if due and changed; True when new material was loaded."""
        now = time.monotonic()
        with self._lock:
            if now < self._next_check:
                return False
            self._next_check = now + 1.0
            signature = _signature(self.material.files)
            if signature == self._signature:
                return False
            self._signature = signature
            try:
                material = read_ssl_config(self.path)
                context = server_context(material)
            except InvalidArgument as exc:
                log.error("keeping the previous TLS certificates: %s", exc.message)
                return False
            if material.client_verify != self.material.client_verify:  # TLS libraries keep the first mode
                log.error(
                    "keeping the previous TLS certificates: client_verify changed in %s, which takes a restart",
                    self.path,
                )
                return False
            self.material, self._rest_context = material, context
            self._signature = _signature(material.files)
            self._grpc_changed = True
            log.info("TLS certificates re-read from %s", self.path)
            return True

    # ---- REST ----

    def rest_context(self) -> ssl.SSLContext:
        """The context uvicorn listens with; each handshake switches to the newest one (rotation)."""
        base = self._rest_context

        def on_client_hello(connection: ssl.SSLObject, _server_name: str | None, _context: ssl.SSLContext) -> None:
            self.refresh()
            current = self._rest_context
            if connection.context is not current:
                connection.context = current

        base.sni_callback = on_client_hello
        return base

    # ---- gRPC ----

    def grpc_credentials(self) -> grpc.ServerCredentials:
        material = self.material
        return grpc.dynamic_ssl_server_credentials(
            self._grpc_configuration(material), self._grpc_fetch, require_client_authentication=material.client_verify
        )

    @staticmethod
    def _grpc_configuration(material: TlsMaterial) -> Any:
        return grpc.ssl_server_certificate_configuration(
            [(material.server_key, material.server_cert)], root_certificates=material.custom_ca
        )

    def _grpc_fetch(self) -> Any:
        """gRPC asks before each handshake: a new configuration, or None for "unchanged"."""
        self.refresh()
        with self._lock:
            if not self._grpc_changed:
                return None
            self._grpc_changed = False
            return self._grpc_configuration(self.material)


def _signature(files: tuple[Path, ...]) -> tuple[FileSignature, ...]:
    return tuple(file_signature(path) for path in files)


def tls_http_protocol() -> type:
    """uvicorn's httptools protocol, also putting the verified client certificate's common name in each
    request's scope (``scope["extensions"]["tls"]["client_cn"]``, after ASGI's TLS extension)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class TlsHttpProtocol(HttpToolsProtocol):
        _tls: dict[str, str] | None = None

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            common_name = client_common_name(transport.get_extra_info("peercert"))
            self._tls = {"client_cn": common_name} if common_name else None

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._tls is not None:
                self.scope["extensions"] = {"tls": self._tls}  # type: ignore[typeddict-unknown-key]

    return TlsHttpProtocol


def client_common_name(peercert: dict[str, Any] | None) -> str | None:
    """The subject CN of ``SSLSocket.getpeercert()``'s answer (None without a verified certificate)."""
    for rdn in (peercert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None
