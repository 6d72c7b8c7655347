"""One Markdown report from one run: every measured row, the ceilings, and issue #6's target ratios.

Ratio rule: each side of a ratio is the best configuration of that side measured in this run (for
example our best TF Serving REST row, batching on or off, against the best peer REST row), and the
table names the rows it used. A ratio whose rows were not measured (a subset run) is "n/a".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

PEERS = ("mlserver", "kserve", "litserve", "rayserve")
FLOORS = ("uvicorn+starlette", "granian-rsgi")
REST_DOORS = ("v1-rest", "v2-json", "v1-style", "tfs-rest")
JSON_DOORS = ("v1-rest", "v2-json", "v1-style", "tfs-rest")
BINARY_OR_GRPC = ("v2-binary", "v2-grpc-raw", "v2-grpc", "tfs-grpc")


def _num(value: float | None, digits: int | None = None) -> str:
    """Thousands separators; by default no decimals from 100 up, one below (so 0.4 req/s is not "0")."""
    if value is None:
        return "-"
    if digits is None:
        digits = 0 if abs(value) >= 100 else 1
    return f"{value:,.{digits}f}"


def label(row: dict) -> str:
    batching = f" {row['variant']}" if row.get("variant") else ""
    return f"{row['server']}{batching} {row['door']} {row['model']} c={row['concurrency']}"


def rows_table(rows: list[dict]) -> list[str]:
    lines = [
        "| server | variant | door | model | payload | c | req/s | inf/s | p50 ms | p99 ms | errors | server CPU s |",
        "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r.get("failure"):
            lines.append(
                f"| {r['server']} | {r['variant']} | {r['door']} | {r['model']} | {r['payload']} | {r['concurrency']} "
                f"| - | - | - | - | {r['failure']} | - |"
            )
            continue
        done = r["requests"] > 0  # none done in the window: no latency to show (wrk/h2load report 0)
        lines.append(
            f"| {r['server']} | {r['variant']} | {r['door']} | {r['model']} | {r['payload']} | {r['concurrency']} "
            f"| {_num(r['rps'])} | {_num(r['rps'] * r['instances'])} | {_num(r['p50_ms'] if done else None, 2)} "
            f"| {_num(r['p99_ms'] if done else None, 2)} "
            f"| {r['errors']} | {_num(r['server_cpu_s'], 1)} |"
        )
    return lines


def ceiling_table(ceiling: list[dict], inprocess: list[dict]) -> list[str]:
    lines = [
        "| in-process | model | batch | calls/s | inferences/s | p50 ms | p99 ms |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for c in ceiling:
        lines.append(
            f"| onnxruntime (intra_op={c['threads']}, cpus {c['affinity']}) | {c['model']} | {c['batch']} "
            f"| {_num(c['runs_per_s'])} | {_num(c['inferences_per_s'])} | {c['p50_ms']:.3f} | {c['p99_ms']:.3f} |"
        )
    for r in inprocess:
        lines.append(
            f"| modelserve Model.predict | {r['model']} | {r['batch']} | {_num(r['calls_per_s'])} "
            f"| {_num(r['inferences_per_s'])} | {r['p50_us'] / 1000:.3f} | {r['p99_us'] / 1000:.3f} |"
        )
    return lines


@dataclass
class Target:
    name: str
    goal: str
    ratio: float | None
    threshold: float | None  #: met when ratio >= threshold (None: stated only)
    detail: str

    @property
    def status(self) -> str:
        if self.threshold is None:
            return "stated" if self.ratio is not None else "n/a"
        if self.ratio is None:
            return "n/a"
        return "met" if self.ratio >= self.threshold else "missed"

    def as_dict(self) -> dict:
        return {**self.__dict__, "status": self.status}


def _best(rows: Iterable[dict], keep: Callable[[dict], bool], key: str = "inf") -> dict | None:
    """The row with most inferences/s (or requests/s) among successful, error-free rows that ``keep``."""
    good = [r for r in rows if not r.get("failure") and r["errors"] == 0 and r["rps"] > 0 and keep(r)]
    if not good:
        return None
    return max(good, key=lambda r: r["rps"] * (r["instances"] if key == "inf" else 1))


def _ratio(name: str, goal: str, threshold: float, ours: dict | None, theirs: dict | None, what: str) -> Target:
    if ours is None or theirs is None:
        missing = "ours" if ours is None else "the reference"
        return Target(name, goal, None, threshold, f"not measured in this run ({missing})")
    a, b = ours["rps"] * ours["instances"], theirs["rps"] * theirs["instances"]
    detail = f"{label(ours)}: {a:,.0f} {what} / {label(theirs)}: {b:,.0f}"
    return Target(name, goal, a / b if b else None, threshold, detail)


def targets(rows: list[dict], ceiling: list[dict], inprocess: list[dict], startup: dict | None) -> list[Target]:
    ours = [r for r in rows if r["server"] == "modelserve"]
    peers = [r for r in rows if r["server"] in PEERS]

    def at(model: str, c: int = 32) -> Callable[[dict], bool]:
        return lambda r: r["model"] == model and r["concurrency"] == c

    out = []
    mlp_rest = _best(ours, lambda r: at("mlp")(r) and r["door"] == "tfs-rest")
    peer_rest = _best(peers, lambda r: at("mlp")(r) and r["door"] in REST_DOORS)
    floor = _best((r for r in rows if r["server"] in FLOORS), at("mlp"), key="req")
    out.append(_ratio("MLP c=32 TFS REST vs best peer REST", "≥ 2×", 2.0, mlp_rest, peer_rest, "req/s"))
    if floor is not None:
        floor = {**floor, "instances": 1}
    out.append(_ratio("MLP c=32 TFS REST vs raw HTTP floor", "≥ 0.60×", 0.6, mlp_rest, floor, "req/s"))

    cnn_fast = _best(ours, lambda r: at("cnn")(r) and r["variant"] == "batching-on" and r["door"] in BINARY_OR_GRPC)
    best_ceiling = max((c for c in ceiling if c["model"] == "cnn"), key=lambda c: c["inferences_per_s"], default=None)
    if cnn_fast is None or best_ceiling is None:
        out.append(
            Target("CNN c=32 batching binary/gRPC vs in-process ORT best batch", "≥ 0.85×", None, 0.85, "not measured")
        )
    else:
        a = cnn_fast["rps"] * cnn_fast["instances"]
        b = best_ceiling["inferences_per_s"]
        out.append(
            Target(
                "CNN c=32 batching binary/gRPC vs in-process ORT best batch",
                "≥ 0.85×",
                a / b,
                0.85,
                f"{label(cnn_fast)}: {a:,.1f} img/s / onnxruntime batch {best_ceiling['batch']} "
                f"(intra_op={best_ceiling['threads']}): {b:,.1f} img/s",
            )
        )
    cnn_json = _best(ours, lambda r: at("cnn")(r) and r["variant"] == "batching-on" and r["door"] in JSON_DOORS)
    peer_cnn_json = _best(peers, lambda r: at("cnn")(r) and r["door"] in JSON_DOORS)
    out.append(_ratio("CNN c=32 batching JSON vs best peer JSON", "≥ 2×", 2.0, cnn_json, peer_cnn_json, "img/s"))

    grpc = _best(ours, lambda r: at("mlp")(r) and r["door"] == "tfs-grpc")
    out.append(_ratio("MLP c=32 TFS gRPC Predict vs TFS REST", "≥ 1×", 1.0, grpc, mlp_rest, "req/s"))
    our_grpc = _best(ours, lambda r: at("mlp")(r) and r["door"] in ("tfs-grpc", "v2-grpc", "v2-grpc-raw"))
    mlserver_grpc = _best(peers, lambda r: at("mlp")(r) and r["server"] == "mlserver" and r["door"] == "v2-grpc")
    out.append(_ratio("MLP c=32 best gRPC vs MLServer gRPC", "≥ 1.5×", 1.5, our_grpc, mlserver_grpc, "req/s"))

    if startup and startup.get("median_s") is not None:
        s = startup["median_s"]
        tf = "TensorFlow imported" if startup["tensorflow_imported"] else "no TensorFlow import"
        detail = f"median {s:.3f} s of {len(startup['runs_s'])} runs, {tf}, RSS {startup['rss_mib']:.0f} MiB"
        ok = 1.5 / s if not startup["tensorflow_imported"] else 0.0
        out.append(Target("ONNX start-up to ready ≤ 1.5 s, no TensorFlow", "≤ 1.5 s", ok, 1.0, detail))
    else:
        out.append(Target("ONNX start-up to ready ≤ 1.5 s, no TensorFlow", "≤ 1.5 s", None, 1.0, "not measured"))

    digits = next((r for r in inprocess if r["model"] == "digits" and r["batch"] == 1), None)
    for door in ("tfs-rest", "tfs-grpc"):
        served = _best(ours, lambda r, d=door: at("digits", 1)(r) and r["variant"] == "batching-on" and r["door"] == d)
        name = f"digits SavedModel, batching on, c=1 {door}: overhead over Model.predict"
        if digits is None or served is None:
            out.append(Target(name, "stated", None, None, "not measured"))
            continue
        overhead_ms = served["p50_ms"] - digits["p50_us"] / 1000
        out.append(
            Target(
                name,
                "stated",
                overhead_ms,
                None,
                f"server p50 {served['p50_ms']:.3f} ms − in-process p50 {digits['p50_us'] / 1000:.3f} ms "
                f"= {overhead_ms:.3f} ms per request",
            )
        )
    return out


def targets_table(found: list[Target]) -> list[str]:
    lines = ["| target | goal | ratio | status | rows used |", "|---|---|---:|---|---|"]
    for t in found:
        if t.threshold is None:
            value = "-" if t.ratio is None else f"{t.ratio:.3f} ms"
        elif t.name.startswith("ONNX start-up"):
            value = "-" if t.ratio is None else f"{1.5 / t.ratio:.3f} s" if t.ratio else "TF imported"
        else:
            value = "-" if t.ratio is None else f"{t.ratio:.2f}×"
        lines.append(f"| {t.name} | {t.goal} | {value} | {t.status} | {t.detail} |")
    return lines


def markdown(meta: dict, rows: list[dict], ceiling: list[dict], inprocess: list[dict], found: list[Target]) -> str:
    head = [
        f"# modelserve bench {meta['started']}",
        "",
        f"{meta['machine']}; server on cpus {meta['server_cpus']}, load generator on cpus {meta['generator_cpus']}; "
        f"warm-up {meta['warmup_s']} s, measured {meta['duration_s']} s per row; wrk {meta['wrk']}, h2load "
        f"{meta['h2load']}; commit {meta['commit']}.",
        "",
        "## Targets (issue #6)",
        "",
        *targets_table(found),
        "",
        "## In-process",
        "",
        *ceiling_table(ceiling, inprocess),
        "",
        "## Servers",
        "",
        *rows_table(rows),
        "",
    ]
    return "\n".join(head)
