"""What access control costs per request: the MLP (ONNX) over TF Serving REST, TF Serving gRPC and V2 gRPC
(raw), served plain, with API keys, with TLS, and with both, in one run.

    .venv/bin/python bench/access.py [--duration 10] [--warmup 3] [--conc 1,32] [--no-pin]

As in ``bench/run.py``: the server pinned to CPU 0 and the load generator (wrk for HTTP, h2load for gRPC,
both speaking TLS when the server does) to CPU 1, the same bodies, a warm-up and an idle wait before each
measured window. Keys ride on every request (``Authorization: Bearer``); certificates are made here with
``openssl`` (a throwaway CA). mTLS is not measured: neither wrk nor h2load sends a client certificate.
Prints one Markdown table with requests/s, p50/p99, server CPU µs per request, and the ratio to the mean of the first
variant (plain, unless ``--variants`` says otherwise).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import requests
from harness import loadgen, models, payloads, servers
from harness.procs import Server

from modelserve.access.keys import add_entry
from modelserve.access.scopes import Scopes

VARIANTS = ("plain", "keys", "tls", "keys+tls")


def certificates(folder: Path) -> tuple[Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1; returns (ssl config file, CA file)."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
            "-subj", "/CN=bench CA", "-keyout", "ca.key", "-out", "ca.crt")  # fmt: skip
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=modelserve",
            "-keyout", "server.key", "-out", "server.csr")  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "1", "-extfile", "san.ext", "-out", "server.crt")  # fmt: skip
    config = folder / "ssl.pbtxt"
    config.write_text(f'server_key: "{folder / "server.key"}"\nserver_cert: "{folder / "server.crt"}"\n')
    return config, folder / "ca.crt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--conc", default="1,32")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"some of {','.join(VARIANTS)} [all]")
    parser.add_argument("--no-pin", action="store_true")
    args = parser.parse_args()
    server_cpus, load_cpus = (None, None) if args.no_pin or (os.cpu_count() or 1) < 2 else ("0", "1")
    bodies = payloads.build()["mlp"]
    repository = models.build().onnx_repository
    folder = Path(tempfile.mkdtemp(prefix="modelserve-bench-access-"))
    ssl_config, ca = certificates(folder)
    key = add_entry(folder / "keys.json", "bench", Scopes.parse("predict"))
    timing = loadgen.Timing(args.warmup, args.duration, 30.0, load_cpus)
    rows: list[tuple[str, str, int, dict]] = []
    for variant in args.variants.split(","):
        tls, keyed = "tls" in variant, "keys" in variant
        rest, grpc = servers.free_port(), servers.free_port()
        argv = [str(Path(sys.executable).parent / "modelserve"), "serve", f"--model_repository={repository}",
                "--host=127.0.0.1", f"--rest_api_port={rest}", f"--port={grpc}",
                "--file_system_poll_wait_seconds=0"]  # fmt: skip
        argv += [f"--ssl_config_file={ssl_config}"] if tls else []
        argv += [f"--api_keys_file={folder / 'keys.json'}"] if keyed else []
        server = Server(f"modelserve-{variant}", argv, folder / f"{variant}.log", server_cpus)
        scheme = "https" if tls else "http"
        try:
            _wait_ready(server, f"{scheme}://127.0.0.1:{rest}/readyz", str(ca))
            headers = (f"authorization: Bearer {key}",) if keyed else ()
            cells = [
                ("tfs-rest", loadgen.run_wrk, f"{scheme}://127.0.0.1:{rest}/v1/models/mlp:predict", bodies["v1"]),
                ("tfs-grpc", loadgen.run_h2load, f"{scheme}://127.0.0.1:{grpc}{servers.TFS_GRPC}", bodies["tfs-grpc"]),
                ("v2-grpc-raw", loadgen.run_h2load, f"{scheme}://127.0.0.1:{grpc}{servers.V2_GRPC}",
                 bodies["v2-grpc-raw"]),
            ]  # fmt: skip
            for concurrency in (int(c) for c in args.conc.split(",")):
                for door, run, url, payload in cells:
                    result = run(server, url, payload, concurrency, timing, headers=headers)
                    rows.append((variant, door, concurrency, result))
                    print(f"{variant:9} {door:12} c={concurrency:<3} {result['rps']:8.0f} req/s "
                          f"errors={result['errors']}", flush=True)  # fmt: skip
        finally:
            server.stop()
    _report(rows)


def _wait_ready(server: Server, url: str, ca: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"{server.name} died:\n{server.tail()}")
        try:
            if requests.get(url, timeout=1, verify=ca).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{server.name} not ready:\n{server.tail()}")


def _report(rows: list[tuple[str, str, int, dict]]) -> None:
    first: dict[tuple[str, int], list[float]] = {}
    for variant, door, c, r in rows:  # the first variant's mean (it may be repeated to see the noise)
        if variant == rows[0][0]:
            first.setdefault((door, c), []).append(r["rps"])
    print(f"\n| variant | door | c | req/s | vs {rows[0][0]} | p50 ms | p99 ms | server CPU µs/req | errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for variant, door, c, r in rows:
        base = sum(first[(door, c)]) / len(first[(door, c)]) or 1
        cpu = r["server_cpu_s"] / r["requests"] * 1e6 if r["requests"] else 0
        print(f"| {variant} | {door} | {c} | {r['rps']:.0f} | {r['rps'] / base:.2f} | {r['p50_ms']:.2f} | "
              f"{r['p99_ms']:.2f} | {cpu:.0f} | {r['errors']} |")  # fmt: skip


if __name__ == "__main__":
    main()
