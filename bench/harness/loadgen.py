"""The load generators, run exactly as ``../shared/bench/peers/lib.sh`` runs them, for us and for the peers.

* HTTP/1.1: Debian's ``wrk`` with the peers' ``post.lua`` (``-t1 -cC --timeout 30s``), one connection per
  client; latency percentiles from wrk's histogram.
* gRPC: ``h2load`` (Debian ``nghttp2-client``) sending one pre-serialized, length-prefixed message over h2c
  (``-t1 -cC -m1``: one stream per connection); latency percentiles from its per-request log.

Each measurement: ``warmup`` seconds of unrecorded load, a wait until the server is idle, then ``duration``
measured seconds, with the server's CPU seconds over the window. Errors = socket errors + timeouts +
non-2xx; for gRPC, like lib.sh, a run whose answers average under 40 bytes of DATA counts every request as
an error (gRPC errors are HTTP 200 with trailers only). Before measuring, :func:`probe` sends the body once
with a real client and checks the answer, so a wrong door or payload shows up as an error, not a number.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness import paths
from harness.payloads import Payload
from harness.procs import Server, taskset

TOOLS = {"wrk": "wrk", "h2load": "nghttp2-client"}


def missing_tools() -> list[str]:
    """The Debian packages to install for the load generators that are not on PATH."""
    return [package for tool, package in TOOLS.items() if shutil.which(tool) is None]


@dataclass(frozen=True)
class Timing:
    warmup: int  #: seconds of unrecorded load before each measurement
    duration: int  #: measured seconds
    idle_limit: float  #: longest wait for the server to go idle after the warm-up
    cpus: str | None  #: where the load generator runs (taskset -c), None: anywhere
    profile: bool = False  #: py-spy the server during the measured window (see harness.profile)


def _summary(requests: int, duration_us: int, errors: dict[str, int], lat_us: dict[str, float], cpu: float) -> dict:
    seconds = duration_us / 1e6 if duration_us else 0.0
    return {
        "requests": requests,
        "duration_us": duration_us,
        **errors,
        **{f"lat_{k}_us": v for k, v in lat_us.items()},
        "server_cpu_s": round(cpu, 2),
        "rps": requests / seconds if seconds else 0.0,
        "p50_ms": lat_us.get("p50", 0) / 1000,
        "p99_ms": lat_us.get("p99", 0) / 1000,
        "errors": sum(errors.values()),
    }


class _Profiler:
    """py-spy over the measured window when ``timing.profile`` and ``raw`` are set; no-op otherwise."""

    def __init__(self, server: Server, timing: Timing, raw: Path | None) -> None:
        self.spy = None
        self.raw = raw
        if timing.profile and raw is not None:
            from harness import profile

            self.spy = profile.start(server.pid, timing.duration, raw, timing.cpus)

    def finish(self, result: dict) -> dict:
        if self.spy is not None and self.raw is not None:
            from harness import profile

            result["profile"] = profile.finish(self.spy, self.raw)
        return result


def run_wrk(
    server: Server,
    url: str,
    payload: Payload,
    concurrency: int,
    timing: Timing,
    profile_to: Path | None = None,
    headers: tuple[str, ...] = (),
) -> dict:
    """Requests/s, latency and errors of POSTing ``payload`` to ``url`` from ``concurrency`` connections;
    ``headers`` (``"Name: value"``) are added to every request."""
    env = {"BODY_FILE": str(payload.path), "CONTENT_TYPE": payload.content_type, "PATH": "/usr/bin:/bin"}
    if payload.ihcl is not None:
        env["IHCL"] = str(payload.ihcl)
    base = [*taskset(timing.cpus), "wrk", "-t1", f"-c{concurrency}", "--timeout", "30s"]
    base += [part for header in headers for part in ("-H", header)]
    script = ["-s", str(paths.PEERS / "post.lua"), url]
    if timing.warmup > 0:
        subprocess.run(
            [*base, f"-d{timing.warmup}s", *script], env=env, capture_output=True, timeout=timing.warmup + 60
        )
        server.wait_idle(timing.idle_limit)
    before = server.cpu_seconds()
    profiler = _Profiler(server, timing, profile_to)
    out = subprocess.run(
        [*base, f"-d{timing.duration}s", *script], env=env, capture_output=True, text=True, timeout=timing.duration + 90
    )
    cpu = server.cpu_seconds() - before
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {out.stdout[-500:]} {out.stderr[-500:]}")
    r = json.loads(line.removeprefix("WRKJSON "))
    errors = {k: int(r[k]) for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout")}
    latency = {k: float(r[f"lat_{k}_us"]) for k in ("mean", "p50", "p90", "p99", "max")}
    return profiler.finish(_summary(int(r["requests"]), int(r["duration_us"]), errors, latency, cpu))


def _count(pattern: str, text: str) -> int:
    match = re.search(pattern, text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def run_h2load(
    server: Server,
    url: str,
    payload: Payload,
    concurrency: int,
    timing: Timing,
    profile_to: Path | None = None,
    headers: tuple[str, ...] = (),
) -> dict:
    """Like :func:`run_wrk` for a gRPC unary method at ``url`` (``http://host:port/package.Service/Method``;
    ``https://`` speaks TLS with ALPN h2)."""
    all_headers = ("content-type: application/grpc", "te: trailers", *headers)
    flags = [part for header in all_headers for part in ("-H", header)]
    base = [*taskset(timing.cpus), "h2load", "-t1", f"-c{concurrency}", "-m1", "-d", str(payload.path), *flags]
    if timing.warmup > 0:
        subprocess.run([*base, f"-D{timing.warmup}", url], capture_output=True, timeout=timing.warmup + 60)
        server.wait_idle(timing.idle_limit)
    with tempfile.NamedTemporaryFile(suffix=".log") as log_file:
        before = server.cpu_seconds()
        profiler = _Profiler(server, timing, profile_to)
        out = subprocess.run(
            [*base, f"-D{timing.duration}", f"--log-file={log_file.name}", url],
            capture_output=True,
            text=True,
            timeout=timing.duration + 90,
        )
        cpu = server.cpu_seconds() - before
        rows = [line.split("\t") for line in Path(log_file.name).read_text().splitlines() if line.strip()]
    text = out.stdout
    done = _count(r"^requests: .* (\d+) done", text)
    if not re.search(r"^requests: ", text, re.MULTILINE):
        raise RuntimeError(f"h2load gave no result: {text[-500:]} {out.stderr[-500:]}")
    succeeded = _count(r" (\d+) succeeded", text)
    status = re.search(r"^status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text, re.MULTILINE)
    non_2xx = sum(int(g) for g in status.groups()) if status else 0
    data_bytes = _count(r"^traffic: .*\((\d+)\) data", text)
    elapsed = re.search(r"^finished in ([\d.]+)(m?s),", text, re.MULTILINE)
    duration_us = 0
    if elapsed:
        duration_us = int(float(elapsed.group(1)) * (1000 if elapsed.group(2) == "ms" else 1_000_000))
    per_request = data_bytes // done if done else 0
    latencies = np.array([int(row[2]) for row in rows if len(row) >= 3], dtype=np.float64)
    latency = {"mean": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    if latencies.size:
        latency = {
            "mean": float(latencies.mean()),
            **{f"p{q}": float(np.percentile(latencies, q)) for q in (50, 90, 99)},
            "max": float(latencies.max()),
        }
    errors = {
        "err_connect": 0,
        "err_read": _count(r" (\d+) errored", text),
        "err_write": _count(r" (\d+) failed", text),
        "err_status": non_2xx + (done if per_request < 40 else 0),
        "err_timeout": _count(r" (\d+) timeout", text),
    }
    result = _summary(succeeded, duration_us, errors, latency, cpu)
    result["resp_data_bytes_per_req"] = per_request
    return profiler.finish(result)


def probe_http(url: str, payload: Payload) -> str:
    """POST the body once; "ok" or why not (status and the start of the answer)."""
    import urllib.error
    import urllib.request

    headers = {"Content-Type": payload.content_type}
    if payload.ihcl is not None:
        headers["Inference-Header-Content-Length"] = str(payload.ihcl)
    request = urllib.request.Request(url, data=payload.path.read_bytes(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            body = response.read()
            return "ok" if response.status == 200 and body else f"HTTP {response.status}: {body[:200]!r}"
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}: {error.read()[:300]!r}"
    except OSError as error:
        return f"no answer: {error}"


def probe_grpc(target: str, method: str, payload: Payload) -> str:
    """Send the framed body's message once through grpcio; "ok" or the gRPC status and message."""
    import grpc

    message = payload.path.read_bytes()[5:]
    with grpc.insecure_channel(
        target, options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
    ) as channel:
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        try:
            answer = call(message, timeout=60)
        except grpc.RpcError as error:
            return f"gRPC {error.code().name}: {error.details()}"
    return "ok" if answer else "empty answer"
