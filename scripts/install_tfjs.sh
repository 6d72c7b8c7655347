#!/usr/bin/env bash
# Installs what `modelserve convert --to tfjs` and the web page's "run on this device" need, from the package
# registries only (pip and npm by name; nothing else is downloaded, no install scripts run):
#
#   Python (into the venv of $PYTHON, default .venv/bin/python): tensorflowjs 4.22.0 alone, with --no-deps.
#     Its declared dependencies cannot be met next to TensorFlow 2.21 (every tensorflow-decision-forests
#     release pins another TensorFlow; it also wants jax, jaxlib, flax, tf-keras, tensorflow-hub and
#     packaging~=23.1). The SavedModel -> graph model converter needs none of them: modelserve runs it in a
#     child process that skips tensorflowjs' package __init__ (which imports jax) and gives it empty
#     tensorflow_decision_forests and tensorflow_hub modules (see src/modelserve/convert/tfjs_worker.py).
#     pip then reports those requirements as unmet ("pip check" lists them); that is expected.
#   JavaScript (into $MODELSERVE_TFJS_DIR, default .cache/tfjs in the checkout):
#     @tensorflow/tfjs and @tensorflow/tfjs-backend-wasm 4.22.0 (pure JS + WebAssembly): Node runs the
#     converted model with them to verify it, and the server hands their browser bundles and .wasm files to
#     the web page (GET /ui/tfjs-runtime/...), so no CDN is involved.
#
# Idempotent: a second run with everything in place changes nothing (pip says "already satisfied"; npm is
# skipped when the versions match). Needs node and npm (Debian: apt-get install nodejs npm).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
TFJS_DIR=${MODELSERVE_TFJS_DIR:-.cache/tfjs}
TFJS_VERSION=4.22.0

if ! "$PYTHON" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("tensorflow") is None)' 2>/dev/null; then
  echo "install_tfjs.sh: $PYTHON has no TensorFlow; install modelserve[tensorflow] first" >&2
  exit 1
fi
"$PYTHON" -m pip install --quiet --no-deps "tensorflowjs==${TFJS_VERSION}"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "install_tfjs.sh: $tool is not installed (Debian: apt-get install nodejs npm)" >&2
    exit 1
  fi
done
mkdir -p "$TFJS_DIR"
installed() {  # the installed version of one npm package in $TFJS_DIR, empty when absent
  node -e 'try { console.log(require(process.argv[1] + "/package.json").version) } catch (e) {}' \
    "$(cd "$TFJS_DIR" && pwd)/node_modules/$1"
}
if [ "$(installed @tensorflow/tfjs)" != "$TFJS_VERSION" ] || [ "$(installed @tensorflow/tfjs-backend-wasm)" != "$TFJS_VERSION" ]; then
  cat >"$TFJS_DIR/package.json" <<EOF
{
  "name": "modelserve-tfjs-runtime",
  "private": true,
  "description": "TF.js runtime for modelserve (made by scripts/install_tfjs.sh)",
  "dependencies": {
    "@tensorflow/tfjs": "${TFJS_VERSION}",
    "@tensorflow/tfjs-backend-wasm": "${TFJS_VERSION}"
  }
}
EOF
  npm install --prefix "$TFJS_DIR" --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
fi
echo "tfjs: tensorflowjs $("$PYTHON" -c 'from importlib.metadata import version; print(version("tensorflowjs"))') (Python)," \
  "@tensorflow/tfjs $(installed @tensorflow/tfjs) in $TFJS_DIR"
