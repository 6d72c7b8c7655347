#!/usr/bin/env bash
# One venv per peer server for `make bench` (same pinned versions as ../shared/bench/peers/setup.sh, which
# also builds its own TensorFlow export venv; the bench builds its models with the project's .venv instead).
#   bash bench/setup_peers.sh [VENVS_DIR]        default bench/.work/venvs; idempotent; PYTHON=python3.11
# Needs PyPI (or its mirror) and python3 with venv. Prints how long each venv took.
set -euo pipefail
cd "$(dirname "$0")/.."
V=${1:-bench/.work/venvs}
PY=${PYTHON:-python3}
mkdir -p "$V"

mkvenv() {  # name, pip args...
  local n=$1 start=$SECONDS; shift
  if [ -f "$V/$n/.installed" ]; then echo "$n: already installed"; return 0; fi
  [ -x "$V/$n/bin/python" ] || "$PY" -m venv "$V/$n"
  "$V/$n/bin/pip" install -q "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  touch "$V/$n/.installed"
  echo "$n: installed in $((SECONDS - start)) s"
}

# raw HTTP floors (uvicorn+starlette, granian) and the minimal starlette+orjson+ORT server
mkvenv ort onnxruntime==1.31.1 numpy==2.4.6 starlette==1.10.0 uvicorn==0.54.0 uvloop==0.23.0 httptools==0.9.0 \
  granian==2.8.7 orjson==3.13.0
# MLServer 1.7.1: with uvloop 0.23 its inference-pool worker dies at start, so uvloop is held at 0.21.0
mkvenv mlserver mlserver==1.7.1 onnxruntime==1.31.1 uvloop==0.21.0
mkvenv kserve kserve==0.21.0 onnxruntime==1.31.1
mkvenv litserve litserve==0.2.19 onnxruntime==1.31.1
if [ "${SKIP_RAY:-0}" != 1 ]; then
  mkvenv rayserve "ray[serve]==2.60.0" onnxruntime==1.31.1
fi
echo "peer venvs ready under $V"
