"""Where the bench finds the project, the shared peer harness, and where it writes its files."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
#: ../shared/bench/peers: peer server scripts, the wrk script, the payload generator, the ONNX ceiling.
PEERS = Path(os.environ.get("MODELSERVE_PEERS_DIR", REPO.parent / "shared" / "bench" / "peers"))
#: Everything the bench builds or installs (git-ignored): models, payloads, peer venvs, logs.
WORK = Path(os.environ.get("MODELSERVE_BENCH_WORK", BENCH / ".work"))
RESULTS = BENCH / "results"
EXAMPLES = Path(os.environ.get("MODELSERVE_EXAMPLES_DIR", REPO / "models"))


def work(*parts: str) -> Path:
    path = WORK.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
