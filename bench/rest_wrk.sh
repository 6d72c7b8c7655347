#!/usr/bin/env bash
# REST throughput and latency of `modelserve serve` with wrk, next to the in-process ceiling.
#   bash bench/rest_wrk.sh [models-dir] [seconds]
# Starts the server on 127.0.0.1 over the example repository, loads half_plus_two :predict with wrk at
# concurrency 1 and 32 (one connection per client), prints req/s and p50/p99 per run, then the
# in-process Model.predict cost of the same request for the ratio. Needs Debian's wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS=${1:-models}
SECONDS_PER_RUN=${2:-10}
PORT=${PORT:-18501}
LUA=${LUA:-../shared/bench/peers/post.lua}
BIN=.venv/bin
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

echo '{"instances": [1.0, 2.0, 5.0]}' >"$work/body.json"
"$BIN/modelserve" serve --model_repository="$MODELS" --host=127.0.0.1 --rest_api_port="$PORT" --port=0 \
  --file_system_poll_wait_seconds=0 >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 300); do
  curl -sf -o /dev/null "http://127.0.0.1:$PORT/readyz" && break
  sleep 0.2
done
url="http://127.0.0.1:$PORT/v1/models/half_plus_two:predict"
curl -s -d @"$work/body.json" "$url"; echo
printf '%-12s %10s %10s %10s %8s\n' concurrency "req/s" "p50 ms" "p99 ms" errors
for c in 1 32; do
  BODY_FILE="$work/body.json" wrk -t1 -c"$c" -d2s -s "$LUA" "$url" >/dev/null  # warm-up
  out=$(BODY_FILE="$work/body.json" wrk -t1 -c"$c" -d"${SECONDS_PER_RUN}s" --timeout 10s -s "$LUA" "$url" | grep WRKJSON)
  python3 - "$c" "${out#WRKJSON }" <<'PY'
import json, sys
c, r = sys.argv[1], json.loads(sys.argv[2])
errors = sum(r[k] for k in r if k.startswith("err_"))
print(f"{c:<12} {r['requests'] / r['duration_us'] * 1e6:>10.0f} {r['lat_p50_us'] / 1000:>10.2f} "
      f"{r['lat_p99_us'] / 1000:>10.2f} {errors:>8}")
PY
done
"$BIN/python" - "$MODELS" <<'PY'
import sys, time
import modelserve
model = modelserve.load_model(f"{sys.argv[1]}/half_plus_two/00000124")
call = lambda: model.predict({"x": [1.0, 2.0, 5.0]})
for _ in range(200):
    call()
n = 3000
start = time.perf_counter()
for _ in range(n):
    call()
per_call = (time.perf_counter() - start) / n
print(f"in-process Model.predict: {per_call * 1e6:.0f} µs/call = {1 / per_call:.0f} calls/s on one thread")
PY
