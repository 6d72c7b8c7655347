"""``make bench``: modelserve against the in-process ceiling and the peer servers, in one run, one table.

    .venv/bin/python bench/run.py                      # everything (about 35 min on the 2-core machine)
    .venv/bin/python bench/run.py --quick              # 1 s warm-up, 3 s per row, 1 start-up run
    .venv/bin/python bench/run.py --only mlp --no-peers --conc 32 --batching off
    .venv/bin/python bench/run.py --peers floor,kserve --doors tfs-rest,tfs-grpc

Steps: build the bench models (random weights, no downloads) and request bodies; measure the in-process
ceilings pinned to the server's core (ONNX Runtime alone with the peers' ``ceiling.py``, and our
``Model.predict``); start-up to ready of an ONNX model; then our server (batching off and on) and each peer
in turn, pinned to cpu 0 while wrk/h2load run on cpu 1, with the same bodies, warm-up, idle wait and load
generator for everyone. Prints one Markdown report (targets, in-process, every row) and keeps it, with the
raw numbers as JSON, in ``bench/results/<timestamp>.{md,json}``.

Peers run from venvs made by ``bash bench/setup_peers.sh`` (missing ones are skipped with a note); wrk and
h2load are Debian packages (``apt-get install wrk nghttp2-client``). Numbers on shared 2-core machines
vary by 30-80% between runs: compare rows of one run, and repeat before believing a gap under 2x.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import loadgen, models, paths, payloads, report, servers, startup
from harness.log import log
from harness.procs import Server


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.py", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 s warm-up, 3 s per row, short ceilings (a smoke run)")
    parser.add_argument("--duration", type=int, help="measured seconds per row [15; --quick 3]")
    parser.add_argument("--warmup", type=int, help="warm-up seconds per row [5; --quick 1]")
    parser.add_argument("--only", default="mlp,cnn,digits", help="models: mlp,cnn,digits [all]")
    parser.add_argument("--conc", default="1,32", help="concurrencies (connections) [1,32]")
    parser.add_argument("--batching", default="off,on", help="our server's batching: off,on [both]")
    parser.add_argument("--doors", default=",".join(servers.DOORS), help="our doors [all]")
    parser.add_argument("--peers", default=",".join(servers.PEER_NAMES), help="peers to run [all]")
    parser.add_argument("--no-peers", action="store_true", help="only our server and the in-process numbers")
    parser.add_argument("--no-servers", action="store_true", help="skip our server's rows")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the in-process measurements")
    parser.add_argument("--no-startup", action="store_true", help="skip the start-up measurement")
    parser.add_argument("--startup-runs", type=int, help="start-up repetitions (median) [5; --quick 1]")
    parser.add_argument("--no-pin", action="store_true", help="no taskset: server and generator share every core")
    parser.add_argument("--batching-file", type=Path, help="our BatchingParameters for 'on' [bench default]")
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="extra `modelserve serve` flag (repeatable), e.g. --server-arg=--enable_serialization_as_tensor_content",
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy our server during each of its rows (needs py-spy in the venv)"
    )
    parser.add_argument("--rebuild-models", action="store_true", help="export the ONNX models again")
    parser.add_argument("--out", type=Path, default=paths.RESULTS, help="results folder [bench/results]")
    args = parser.parse_args(argv)
    args.duration = args.duration or (3 if args.quick else 15)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 5)
    args.startup_runs = args.startup_runs or (1 if args.quick else 5)
    split = lambda text: [x for x in text.split(",") if x]  # noqa: E731
    args.models, args.batching_modes = split(args.only), split(args.batching)
    args.concurrencies, args.door_list = [int(c) for c in split(args.conc)], split(args.doors)
    args.peer_list = [] if args.no_peers else split(args.peers)
    for name, given, known in (
        ("--only", args.models, ("mlp", "cnn", "digits")),
        ("--batching", args.batching_modes, ("off", "on")),
        ("--doors", args.door_list, tuple(servers.DOORS)),
        ("--peers", args.peer_list, servers.PEER_NAMES),
    ):
        unknown = sorted(set(given) - set(known))
        if unknown:
            parser.error(f"{name}: unknown {', '.join(unknown)} (choose from {', '.join(known)})")
    return args


def tool_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except OSError:
        return "missing"
    return (out.stdout + out.stderr).strip().splitlines()[0] if (out.stdout + out.stderr).strip() else "?"


def machine() -> str:
    model = "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, {platform.platform()}"


def measure_inprocess(args, bench_models: models.BenchModels, cpus: str | None) -> tuple[list[dict], list[dict]]:
    """Raw ONNX Runtime (the peers' ceiling.py, one intra-op thread per pinned core) and our Model.predict."""
    prefix = ["taskset", "-c", cpus] if cpus else []
    seconds, warm = ("1", "0.3") if args.quick else ("5", "1")
    batches = "1,8" if args.quick else "1,8,32"
    ceiling: list[dict] = []
    if {"mlp", "cnn"} & set(args.models):
        out = paths.work("logs") / "ceiling.jsonl"
        out.unlink(missing_ok=True)
        threads = "1" if cpus else str(os.cpu_count())
        log(f"in-process onnxruntime ceiling (peers' ceiling.py, intra_op={threads}, batches {batches})")
        command = [*prefix, sys.executable, str(paths.PEERS / "ceiling.py"), str(bench_models.onnx_dir), str(out)]
        command += ["--threads", threads, "--seconds", seconds, "--warmup", warm, "--batches", batches]
        subprocess.run([*command, "--label", "bench"], check=True, capture_output=True)
        ceiling = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
        ceiling = [c for c in ceiling if c["model"] in args.models]
    log("in-process Model.predict (ours)")
    command = [*prefix, sys.executable, str(Path(__file__).parent / "harness" / "inprocess.py")]
    command += [str(bench_models.onnx_repository), str(bench_models.digits_repository)]
    command += ["--examples", str(paths.EXAMPLES), "--seconds", seconds, "--warmup", warm, "--cnn-batches", batches]
    done = subprocess.run([*command, "--models", ",".join(args.models)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        log(f"in-process measurement failed:\n{done.stderr[-3000:]}")
        return ceiling, []
    return ceiling, json.loads(done.stdout.strip().splitlines()[-1])["rows"]


def row_of(cell: servers.Cell) -> dict:
    return {
        "server": cell.server,
        "variant": cell.variant,
        "door": cell.door,
        "model": cell.model,
        "payload": cell.payload.name,
        "body_bytes": cell.payload.path.stat().st_size,
        "instances": cell.payload.instances,
        "concurrency": cell.concurrency,
        "transport": cell.transport,
        "url": cell.url,
    }


def run_spec(
    spec: servers.ServerSpec, timing: loadgen.Timing, server_cpus: str | None, profiles: Path | None
) -> list[dict]:
    """Start one server, measure its cells, stop it; a cell that fails becomes a row with ``failure``."""
    rows = []
    logs = paths.work("logs")
    for command in spec.setup:
        subprocess.run(command, check=True, capture_output=True)
    name = f"{spec.name}-{spec.variant}"
    server = Server(name, spec.argv, logs / f"server-{name}.log", server_cpus, spec.env)
    try:
        if not spec.ready(server):
            return [{**row_of(c), "failure": "server did not start"} for c in spec.cells]
        for cell in spec.cells:
            row = row_of(cell)
            if cell.transport == "http":
                verdict = loadgen.probe_http(cell.url, cell.payload)
            else:
                verdict = loadgen.probe_grpc(cell.grpc_target, cell.grpc_method, cell.payload)
            if verdict != "ok":
                log(f"probe {report.label(row)}: {verdict}")
                rows.append({**row, "failure": f"probe: {verdict}"[:160]})
                continue
            run = loadgen.run_wrk if cell.transport == "http" else loadgen.run_h2load
            gen = "wrk" if cell.transport == "http" else "h2load"
            raw = None
            if profiles is not None and spec.name == "modelserve":
                raw = profiles / f"{spec.variant}-{cell.door}-{cell.model}-c{cell.concurrency}.txt"
            try:
                result = run(server, cell.url, cell.payload, cell.concurrency, timing, raw)
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                rows.append({**row, "failure": str(error)[:160]})
                continue
            rows.append({**row, "generator": gen, **result})
            log(
                f"{report.label(row)}: {result['rps']:,.0f} req/s p50 {result['p50_ms']:.2f} ms "
                f"p99 {result['p99_ms']:.2f} ms errors {result['errors']} cpu {result['server_cpu_s']:.1f} s"
            )
            if not server.alive():
                log(f"{name} died; last lines:\n{server.tail()}")
                break
    finally:
        server.stop()
    measured = {(r["door"], r["model"], r["concurrency"]) for r in rows}
    rows += [
        {**row_of(c), "failure": "server died"} for c in spec.cells if (c.door, c.model, c.concurrency) not in measured
    ]
    return rows


def git_commit() -> str:
    out = subprocess.run(
        ["git", "-C", str(paths.REPO), "describe", "--always", "--dirty"], capture_output=True, text=True
    )
    return out.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    missing = loadgen.missing_tools()
    if missing:
        install = f"apt-get update && apt-get install -y {' '.join(missing)}"
        print(f"error: load generators missing; install them (as root) with: {install}", file=sys.stderr)
        return 2
    pinned = not args.no_pin and len(os.sched_getaffinity(0)) >= 2
    server_cpus, generator_cpus = ("0", "1") if pinned else (None, None)
    if pinned:
        os.sched_setaffinity(0, {1})  # this script mostly sleeps; keep it off the server's core
    started = time.strftime("%Y%m%d-%H%M%S")
    meta = {
        "started": started,
        "machine": machine(),
        "server_cpus": server_cpus or "all",
        "generator_cpus": generator_cpus or "all",
        "warmup_s": args.warmup,
        "duration_s": args.duration,
        "wrk": tool_version(["wrk", "-v"]).split(" [")[0],
        "h2load": tool_version(["h2load", "--version"]),
        "commit": git_commit(),
        "argv": sys.argv[1:] if argv is None else argv,
    }
    bench_models = models.build(args.rebuild_models)
    bodies = payloads.build()
    batching_file = args.batching_file or paths.work("config") / "batching.config"
    if args.batching_file is None:
        batching_file.write_text(servers.BATCHING)
    sel = servers.Selection(
        args.models, args.concurrencies, args.batching_modes, args.door_list, args.peer_list, args.quick
    )
    timing = loadgen.Timing(args.warmup, args.duration, 20 if args.quick else 90, generator_cpus, args.profile)
    profiles = None
    if args.profile:
        from harness import profile

        if profile.available() is None:
            print("error: --profile needs py-spy: .venv/bin/pip install py-spy", file=sys.stderr)
            return 2
        profiles = args.out / f"{started}-profiles"
        profiles.mkdir(parents=True, exist_ok=True)

    ceiling, inprocess = ([], []) if args.no_ceiling else measure_inprocess(args, bench_models, server_cpus)
    boot = None
    if not args.no_startup and "mlp" in args.models:
        log(f"start-up to ready of the MLP ONNX model ({args.startup_runs} runs)")
        boot = startup.measure(bench_models.onnx_repository / "mlp", args.startup_runs, server_cpus)

    specs = (
        []
        if args.no_servers
        else list(servers.modelserve_specs(bench_models, bodies, sel, batching_file, args.server_arg))
    )
    skipped = []
    for spec in servers.peer_specs(bench_models, bodies, sel):
        venv = servers.venv_of(spec)
        if venv is not None and not (venv / "bin" / "python").exists():
            skipped.append(f"{spec.name} (no venv {venv}; run: bash bench/setup_peers.sh)")
            continue
        if spec.cells:
            specs.append(spec)
    for note in skipped:
        log(f"skipping {note}")
    total = sum(len(s.cells) for s in specs)
    estimate = total * (args.warmup + args.duration + 3) / 60
    log(f"{total} rows on {len(specs)} server starts, about {estimate:.0f} min of load")
    rows: list[dict] = []
    for spec in specs:
        rows += run_spec(spec, timing, server_cpus, profiles)

    found = report.targets(rows, ceiling, inprocess, boot)
    meta["skipped"] = skipped
    text = report.markdown(meta, rows, ceiling, inprocess, found)
    if skipped:
        text += "\nSkipped: " + "; ".join(skipped) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{started}.md").write_text(text)
    data = {
        "meta": meta,
        "ceiling": ceiling,
        "inprocess": inprocess,
        "startup": boot,
        "rows": rows,
        "targets": [t.as_dict() for t in found],
    }
    (args.out / f"{started}.json").write_text(json.dumps(data, indent=1))
    log(f"kept {args.out / started}.md and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
