"""What the web page costs: page load time, the server's memory with and without it, and the REST hot path.

    .venv/bin/python bench/console.py [--variants off,ui,off,ui] [--duration 8] [--conc 32]

For each variant a fresh ``modelserve serve`` over the MLP (ONNX) starts, without or with ``--ui``. Each row
prints the server's RSS once ready, and for ``ui`` the RSS after the page was opened and the page's load time
in Debian's chromium (Playwright; from navigation to the generated form being drawn, median of three fresh
pages), then TF Serving REST predict at ``--conc`` connections with wrk (requests/s, p50/p99, server CPU µs
per request). Repeat the variants (the default does) to see the machine's noise before reading a difference.
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
    parser.add_argument("--variants", default="off,ui,off,ui")
    args = parser.parse_args()
    server_cpus, load_cpus = (None, None) if (os.cpu_count() or 1) < 2 else ("0", "1")
    body = payloads.build()["mlp"]["v1"]
    repository = models.build().onnx_repository
    folder = Path(tempfile.mkdtemp(prefix="modelserve-bench-console-"))
    timing = loadgen.Timing(args.warmup, args.duration, 30.0, load_cpus)
    print("| variant | RSS ready MiB | RSS after page MiB | page load s | req/s | p50 ms | p99 ms | CPU µs/req |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for number, variant in enumerate(args.variants.split(",")):
        rest = servers.free_port()
        argv = [str(Path(sys.executable).parent / "modelserve"), "serve", f"--model_repository={repository}",
                "--host=127.0.0.1", f"--rest_api_port={rest}", "--port=0",
                "--file_system_poll_wait_seconds=0"]  # fmt: skip
        argv += ["--ui"] if variant == "ui" else []
        server = Server(f"modelserve-{variant}", argv, folder / f"{number}-{variant}.log", server_cpus)
        try:
            if not server.wait_ready(f"http://127.0.0.1:{rest}/readyz"):
                raise RuntimeError(f"{server.name} not ready:\n{server.tail()}")
            ready = rss_mib(server.pid)
            load, after = float("nan"), float("nan")
            if variant == "ui":
                load = page_load_seconds(f"http://127.0.0.1:{rest}/")
                after = rss_mib(server.pid)
            r = loadgen.run_wrk(server, f"http://127.0.0.1:{rest}/v1/models/mlp:predict", body, args.conc, timing)
            cpu = r["server_cpu_s"] / r["requests"] * 1e6 if r["requests"] else 0
            print(f"| {variant} | {ready:.0f} | {after:.0f} | {load:.2f} | {r['rps']:.0f} | {r['p50_ms']:.2f} | "
                  f"{r['p99_ms']:.2f} | {cpu:.0f} |", flush=True)  # fmt: skip
        finally:
            server.stop()


if __name__ == "__main__":
    main()
