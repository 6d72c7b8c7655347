"""Test scaffolding: a real HTTP proxy in front of a real server that misbehaves on cue.

``FaultyProxy(upstream)`` listens on 127.0.0.1 (``.url``) and forwards every request to ``upstream`` unless
the next entry of its plan says otherwise. ``plan(...)`` queues faults for the next requests to ``:predict`` /
``/infer`` (metadata and health requests always pass):

* ``status(503)`` / ``status(429, retry_after=1)``: answer that status at once, TF Serving's error body;
* ``delay(2.0)``: wait, then forward (a slow reply; the client may have given up by then);
* ``close()``: read the request and drop the connection without an answer.

``calls`` counts the inference requests that reached the proxy; ``forwarded`` those passed upstream.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


@dataclass(frozen=True)
class Fault:
    kind: str
    status: int = 0
    seconds: float = 0.0
    retry_after: float | None = None


def status(code: int, retry_after: float | None = None) -> Fault:
    return Fault("status", status=code, retry_after=retry_after)


def delay(seconds: float) -> Fault:
    return Fault("delay", seconds=seconds)


def close() -> Fault:
    return Fault("close")


class FaultyProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.calls = 0
        self.forwarded = 0
        self.seen: list[tuple[float, str]] = []  # (time, what happened) per inference request
        self._plan: collections.deque[Fault] = collections.deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._server.handle_error = lambda request, address: None  # a client that gave up: nothing to report
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def plan(self, *faults: Fault) -> None:
        with self._lock:
            self._plan.extend(faults)

    def __enter__(self) -> FaultyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next_fault(self, path: str) -> Fault | None:
        if not (path.endswith(":predict") or path.endswith("/infer")):
            return None
        with self._lock:
            self.calls += 1
            fault = self._plan.popleft() if self._plan else None
            self.seen.append((time.monotonic(), fault.kind if fault else "forward"))
            return fault

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._relay(b"")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._relay(body)

            def _relay(self, body: bytes) -> None:
                fault = proxy._next_fault(self.path)
                if fault is not None and fault.kind == "close":
                    self.close_connection = True
                    return
                if fault is not None and fault.kind == "status":
                    payload = b'{"error": "injected by the test proxy"}'
                    self.send_response(fault.status)
                    if fault.retry_after is not None:
                        self.send_header("Retry-After", f"{fault.retry_after:g}")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if fault is not None and fault.kind == "delay":
                    time.sleep(fault.seconds)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                try:
                    upstream = requests.request(
                        self.command, proxy.upstream + self.path, data=body, headers=headers, timeout=30
                    )
                except requests.ConnectionError:
                    self.send_response(502)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path.endswith((":predict", "/infer")):
                    with proxy._lock:
                        proxy.forwarded += 1
                self.send_response(upstream.status_code)
                for name, value in upstream.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(upstream.content)))
                self.end_headers()
                self.wfile.write(upstream.content)

        return Handler
