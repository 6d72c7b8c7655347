"""What the operations features cost: monitoring (drift and feedback memory, on by default), the web page
(page load, memory) and the request log, against off.

    .venv/bin/python bench/operations.py [--variants off,default,ui,log,...] [--duration 8] [--conc 32]

Variants: ``off`` (none of them: ``--drift=false --feedback_memory_requests=0``), ``default`` (as shipped:
drift and the feedback memory on; ``drift_only``, ``feedback_only``: one of them), ``ui`` (``--ui``),
``log`` (``--request_log`` at the default 1% sample), ``log_all`` (every request logged); all but ``off``
keep the default monitoring. For each, a fresh ``modelserve serve`` over the MLP (ONNX) starts; a row prints
the server's RSS once ready, for ``ui`` the RSS after the page was opened and the page's load time in
Debian's chromium (Playwright; from navigation to the generated form being drawn, median of three fresh
pages), then TF Serving REST predict at ``--conc`` connections with wrk (requests/s, p50/p99, server CPU µs
per request) and, with ``--grpc``, TF Serving gRPC with h2load. Repeat the variants (the default does) to see
the machine's noise before reading a difference.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from harness import loadgen, models, payloads, servers
from harness.procs import Server

CHROMIUM = "/usr/bin/chromium"
VARIANTS = {
    "off": lambda log: ["--drift=false", "--feedback_memory_requests=0"],
    "default": lambda log: [],
    "drift_only": lambda log: ["--feedback_memory_requests=0"],
    "feedback_only": lambda log: ["--drift=false"],
    "ui": lambda log: ["--ui"],
    "log": lambda log: [f"--request_log={log}"],
    "log_all": lambda log: [f"--request_log={log}", "--request_log_sample_rate=1"],
}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def page_load_seconds(url: str, times: int = 3) -> float:
    from playwright.sync_api import sync_playwright

    found = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        for _ in range(times):
            page = browser.new_page()
            started = time.perf_counter()
            page.goto(url)
            page.wait_for_selector("#tryit-send", timeout=60_000)
            found.append(time.perf_counter() - started)
            page.close()
        browser.close()
    return statistics.median(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--conc", type=int, default=32)
    parser.add_argument("--variants", default="off,default,log,off,default,log")
    parser.add_argument("--grpc", action="store_true", help="also TF Serving gRPC (h2load)")
    args = parser.parse_args()
    server_cpus, load_cpus = (None, None) if (os.cpu_count() or 1) < 2 else ("0", "1")
    bodies = payloads.build()["mlp"]
    repository = models.build().onnx_repository
    folder = Path(tempfile.mkdtemp(prefix="modelserve-bench-operations-"))
    timing = loadgen.Timing(args.warmup, args.duration, 30.0, load_cpus)
    print(
        "| variant | door | RSS ready MiB | RSS after page MiB | page load s | req/s | p50 ms | p99 ms | CPU µs/req |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for number, variant in enumerate(args.variants.split(",")):
        rest, grpc = servers.free_port(), servers.free_port()
        argv = [str(Path(sys.executable).parent / "modelserve"), "serve", f"--model_repository={repository}",
                "--host=127.0.0.1", f"--rest_api_port={rest}", f"--port={grpc}",
                "--file_system_poll_wait_seconds=0"]  # fmt: skip
        argv += VARIANTS[variant](folder / f"{number}-requests.jsonl")
        server = Server(f"modelserve-{variant}", argv, folder / f"{number}-{variant}.log", server_cpus)
        try:
            if not server.wait_ready(f"http://127.0.0.1:{rest}/readyz"):
                raise RuntimeError(f"{server.name} not ready:\n{server.tail()}")
            ready = rss_mib(server.pid)
            load, after = float("nan"), float("nan")
            if variant == "ui":
                load = page_load_seconds(f"http://127.0.0.1:{rest}/")
                after = rss_mib(server.pid)
            cells = [("tfs-rest", loadgen.run_wrk, f"http://127.0.0.1:{rest}/v1/models/mlp:predict", bodies["v1"])]
            if args.grpc:
                cells.append(("tfs-grpc", loadgen.run_h2load, f"http://127.0.0.1:{grpc}{servers.TFS_GRPC}",
                              bodies["tfs-grpc"]))  # fmt: skip
            for door, run, url, body in cells:
                r = run(server, url, body, args.conc, timing)
                cpu = r["server_cpu_s"] / r["requests"] * 1e6 if r["requests"] else 0
                print(f"| {variant} | {door} | {ready:.0f} | {after:.0f} | {load:.2f} | {r['rps']:.0f} | "
                      f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {cpu:.0f} |", flush=True)  # fmt: skip
        finally:
            server.stop()


if __name__ == "__main__":
    main()
