"""Streaming worker throughput and end-to-end latency on the digits ONNX model, through a real redis-server.

    .venv/bin/python bench/streaming.py [--models models] [--workers 1] [--count 5000] [--rate 200] [--seconds 5]
                                        [-- extra `modelserve stream` flags, e.g. --batch-timeout-micros 2000]

Starts its own redis-server (127.0.0.1, free port, temp dir, no persistence) and ``--workers`` real
``modelserve stream`` processes in one group. Two phases, one image per entry (TF Serving JSON):

1. Throughput: ``--count`` entries added as fast as a pipelined client can; entries/s from the first add to
   the last result written, and the latency percentiles under that overload (queueing included).
2. Latency: ``--rate`` entries/s for ``--seconds`` (an open loop, below capacity); end-to-end latency from the
   moment the client adds an entry to the moment it reads its result (p50, p99, max).

Not a test: numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import redis

MODELSERVE = str(Path(sys.executable).parent / "modelserve")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.01)


class Collector(threading.Thread):
    """Reads the results stream as it grows; records (receive time - send time) from each result's key."""

    def __init__(self, client: redis.Redis, stream: str) -> None:
        super().__init__(daemon=True)
        self.client, self.stream = client, stream
        self.latencies: list[float] = []
        self.last_id = b"0-0"
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            reply = self.client.xread({self.stream: self.last_id}, count=1000, block=200)
            now = time.time()
            for _stream, entries in reply or []:
                for entry_id, fields in entries:
                    self.latencies.append(now - float(fields[b"key"]))
                    self.last_id = entry_id


def percentiles(values: list[float]) -> str:
    ms = np.array(values) * 1000
    return f"p50 {np.percentile(ms, 50):.1f} ms, p99 {np.percentile(ms, 99):.1f} ms, max {ms.max():.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="models")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--count", type=int, default=5000, help="entries in the throughput phase [5000]")
    parser.add_argument("--rate", type=float, default=200, help="entries/s in the latency phase [200]")
    parser.add_argument("--seconds", type=float, default=5, help="length of the latency phase [5]")
    parser.add_argument("worker_args", nargs="*", help="after --: extra modelserve stream flags")
    args = parser.parse_args()
    images = np.load(Path(args.models) / "digits_test.npz")["images"]
    bodies = [json.dumps({"instances": [image.tolist()]}).encode() for image in images]
    folder = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    port = free_port()
    server = subprocess.Popen(
        [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--dir", str(folder), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port)
    workers: list[subprocess.Popen] = []
    try:
        wait(lambda: _pings(client), 10, "redis-server")
        model = str(Path(args.models) / "digits_onnx")
        for i in range(args.workers):
            command = [MODELSERVE, "stream", "--redis", f"redis://127.0.0.1:{port}/0", "--stream", "in"]
            command += ["--group", "g", "--consumer", f"w{i}", "--model", model, "--log-level", "warning"]
            log = open(folder / f"worker{i}.log", "wb")  # noqa: SIM115 - the process owns it
            workers.append(subprocess.Popen([*command, *args.worker_args], stdout=log, stderr=subprocess.STDOUT))
        wait(lambda: len(client.xinfo_consumers("in", "g")) == args.workers if client.exists("in") else False, 60,
             "workers to join the group")  # fmt: skip
        collector = Collector(client, "in:results")
        collector.start()

        # Phase 1: throughput under a burst.
        started = time.time()
        for chunk in range(0, args.count, 500):
            pipe = client.pipeline(transaction=False)
            for i in range(chunk, min(args.count, chunk + 500)):
                pipe.xadd("in", {"key": repr(time.time()), "request": bodies[i % len(bodies)]})
            pipe.execute()
        wait(lambda: len(collector.latencies) >= args.count, 600, "the burst's results")
        elapsed = time.time() - started
        burst = collector.latencies[: args.count]
        print(f"workers {args.workers}, flags {' '.join(args.worker_args) or '(defaults)'}")
        print(f"throughput: {args.count} entries in {elapsed:.2f} s = {args.count / elapsed:.0f} entries/s; "
              f"latency under the burst: {percentiles(burst)}")  # fmt: skip

        # Phase 2: latency at a steady rate below capacity.
        total = int(args.rate * args.seconds)
        begin = time.monotonic()
        for i in range(total):
            delay = begin + i / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            client.xadd("in", {"key": repr(time.time()), "request": bodies[i % len(bodies)]})
        wait(lambda: len(collector.latencies) >= args.count + total, 60, "the steady phase's results")
        collector.stop.set()
        steady = collector.latencies[args.count : args.count + total]
        print(f"latency at {args.rate:.0f} entries/s for {args.seconds:.0f} s ({total} entries): {percentiles(steady)}")
        dead = client.xlen("in:dead")
        if dead:
            print(f"warning: {dead} entries went to the dead-letter stream")
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
        server.terminate()
        server.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


if __name__ == "__main__":
    main()
