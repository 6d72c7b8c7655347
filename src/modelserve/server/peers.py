"""The workers of one server (``--workers N``) talking to each other over Unix sockets in a private folder.

Each worker listens on ``RUN_DIR/worker-I.sock`` (the folder is the supervisor's, mode 0700, so only this
user can connect) with :class:`PeerApp`, which answers three things and nothing else:

* ``POST /peer/apply``: a change another worker just made (:mod:`modelserve.serving.changes`) is applied
  here too; the body is the pickled ``(operation, arguments)``. Pickle is safe here: only this user's
  processes can reach the socket, and they could run any code anyway.
* ``POST /peer/ask``: a question from another worker (``ModelService.answer_peer``: the ground truth it
  received for answers it does not remember), answered with pickled data.
* ``GET /peer/metrics``: this worker's own Prometheus text, for the worker being scraped to merge.

:class:`WorkerPeers` is the service's ``peers``: an announcement is appended to ``RUN_DIR/changes.journal``
(so a worker started later, e.g. after a crash, replays what the others were told before it existed) and
posted to every other worker, waiting for each to apply it.
"""

from __future__ import annotations

import asyncio
import fcntl
import http.client
import logging
import pickle
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelserve.errors import ServingError
from modelserve.protocols.status import http_status_of

if TYPE_CHECKING:
    from modelserve.serving.service import ModelService

log = logging.getLogger(__name__)

__all__ = ["PeerApp", "WorkerPeers"]

APPLY_SECONDS = 300.0  # a peer's reload may load models: wait for it as long as a load may take
METRICS_SECONDS = 5.0
_LENGTH = struct.Struct(">I")


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def _request(path: Path, method: str, url: str, body: bytes | None, timeout: float) -> tuple[int, bytes]:
    connection = _UnixConnection(path, timeout)
    try:
        connection.request(method, url, body=body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class WorkerPeers:
    """Worker ``index`` of ``count`` in ``run_dir``: its socket's path, the others', and the journal."""

    def __init__(self, run_dir: Path, index: int, count: int) -> None:
        self.run_dir = run_dir
        self.index = index
        self.count = count
        self.journal = run_dir / "changes.journal"

    def socket_path(self, index: int) -> Path:
        return self.run_dir / f"worker-{index}.sock"

    def listen(self) -> socket.socket:
        """This worker's socket, bound and listening (connections wait in the backlog until it serves)."""
        path = self.socket_path(self.index)
        path.unlink(missing_ok=True)  # left by this slot's previous worker
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(path))
        sock.listen(128)
        return sock

    def _others(self) -> list[int]:
        return [i for i in range(self.count) if i != self.index]

    def announce(self, operation: str, arguments: tuple[Any, ...]) -> None:
        payload = pickle.dumps((operation, arguments))
        with self.journal.open("ab") as journal:
            fcntl.flock(journal, fcntl.LOCK_EX)
            journal.write(_LENGTH.pack(len(payload)) + payload)
        for index in self._others():
            try:
                status, body = _request(self.socket_path(index), "POST", "/peer/apply", payload, APPLY_SECONDS)
            except OSError as exc:  # not started yet or restarting: it replays the journal when it starts
                log.warning("worker %d: %s not passed on now (%s); it will replay it", index, operation, exc)
                continue
            if status != 200:
                log.warning("worker %d failed to apply %s: %s", index, operation, body.decode("utf-8", "replace"))

    def replay(self, service: ModelService) -> int:
        """Apply every change in the journal, oldest first; returns how many were applied."""
        try:
            with self.journal.open("rb") as journal:
                fcntl.flock(journal, fcntl.LOCK_SH)
                data = journal.read()
        except FileNotFoundError:
            return 0
        applied, offset = 0, 0
        while offset + _LENGTH.size <= len(data):
            (size,) = _LENGTH.unpack_from(data, offset)
            operation, arguments = pickle.loads(data[offset + _LENGTH.size : offset + _LENGTH.size + size])
            offset += _LENGTH.size + size
            try:
                service.apply_change(operation, arguments)
                applied += 1
            except ServingError as exc:
                log.warning("replaying %s: %s", operation, exc.message)
        return applied

    def ask(self, question: str, arguments: tuple[Any, ...]) -> list[Any]:
        payload = pickle.dumps((question, arguments))
        answers = []
        for index in self._others():
            try:
                status, body = _request(self.socket_path(index), "POST", "/peer/ask", payload, METRICS_SECONDS)
            except OSError:
                continue
            if status == 200:
                answers.append(pickle.loads(body))
            else:
                log.warning("worker %d could not answer %s: %s", index, question, body.decode("utf-8", "replace"))
        return answers

    def expositions(self) -> list[bytes]:
        """The other live workers' Prometheus texts (a worker that does not answer is left out)."""
        texts = []
        for index in self._others():
            try:
                status, body = _request(self.socket_path(index), "GET", "/peer/metrics", None, METRICS_SECONDS)
            except OSError:
                continue
            if status == 200:
                texts.append(body)
        return texts


Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class PeerApp:
    """The ASGI app on a worker's peer socket (never on a network port)."""

    def __init__(self, service: ModelService) -> None:
        self.service = service

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        if method == "GET" and path == "/peer/metrics":
            await _send(send, 200, self.service.metrics.exposition())
            return
        if method != "POST" or path not in ("/peer/apply", "/peer/ask"):
            await _send(send, 404, b"not a peer endpoint")
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        operation, arguments = pickle.loads(b"".join(chunks))
        try:
            if path == "/peer/ask":
                answer = pickle.dumps(await self.service.answer_peer(operation, arguments))
            else:
                await asyncio.to_thread(self.service.apply_change, operation, arguments)
                answer = b"applied"
        except Exception as exc:
            message = exc.message if isinstance(exc, ServingError) else f"{type(exc).__name__}: {exc}"
            await _send(send, http_status_of(exc), message.encode())
            return
        await _send(send, 200, answer)


async def _send(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
