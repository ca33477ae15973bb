#!/usr/bin/env bash
# Side-by-side hub benchmark: weir and the Scramjet Transform Hub measured by the
# same Scramjet-API load generator (../shared/peers/scramjet-hub/bench.js) in one run,
# plus weir-only figures: idle instances alive at once and resident memory per idle
# instance, the ndjson map compiled natively (the wasm/native ratio), and the ceiling of
# bench.js's own client for passthrough (tests/bench/bench-client-ceiling.js: the same
# client code against host/examples/relay, weir's server stack with no guest).
#
# Env: MB (200) RECORDS (200000) REPS (3) START_REPS (20) IDLE (10000) SKIP_PEER=1
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PEER=$ROOT/../shared/peers/scramjet-hub
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/weir-target}
MB=${MB:-200}; RECORDS=${RECORDS:-200000}; REPS=${REPS:-3}; START_REPS=${START_REPS:-20}
IDLE=${IDLE:-10000}; PORT=${PORT:-18300}

cargo build --release -p weir
cargo build --release -p weir-sdk --example native_map
cargo build --release -p weir --example topic_bench
cargo build --release -p weir --example relay
WEIR=$CARGO_TARGET_DIR/release/weir
WORK=$(mktemp -d /tmp/weir-bench.XXXXXX)
trap 'kill $HUB 2>/dev/null || true; rm -rf "$WORK"' EXIT

"$WEIR" pack tests/fixtures/bench-first-output -o "$WORK/first-output.tar.gz"
"$WEIR" pack plugins/passthrough -o "$WORK/passthrough.tar.gz"
"$WEIR" pack plugins/uppercase -o "$WORK/uppercase.tar.gz"
"$WEIR" pack tests/fixtures/bench-map -o "$WORK/ndjson-map.tar.gz"
"$WEIR" pack plugins/events -o "$WORK/events.tar.gz"

start_hub() {
  RUST_LIB_BACKTRACE=0 WEIR_LOG=warn "$WEIR" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data-$1" \
    --instance-retention-secs 0 --max-instances "$2" > "$WORK/hub-$1.out" 2> "$WORK/hub-$1.err" &
  HUB=$!
  until curl -s -o /dev/null "http://127.0.0.1:$PORT/api/v1/version"; do sleep 0.05; done
}

echo "# weir $(git rev-parse --short HEAD) — $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%FT%TZ)"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "## weir: bench.js (MB=$MB RECORDS=$RECORDS REPS=$REPS START_REPS=$START_REPS)"
start_hub bench 1000
mkdir -p "$PEER/work"
node "$PEER/bench.js" --base "http://127.0.0.1:$PORT/api/v1" --hub-pid "$HUB" --pkgs "$WORK" \
  --reps "$REPS" --start-reps "$START_REPS" --mb "$MB" --records "$RECORDS" --instances 10 | tee "$WORK/weir.txt"
kill "$HUB"; wait "$HUB" 2>/dev/null || true

echo "## weir: $IDLE idle instances alive at once"
start_hub idle "$IDLE"
python3 - "$PORT" "$HUB" "$WORK/events.tar.gz" "$IDLE" <<'PY'
import http.client, json, sys, time
port, pid, pkg, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
c = http.client.HTTPConnection("127.0.0.1", port)
def call(method, path, body=b"", ct="application/json"):
    c.request(method, "/api/v1" + path, body=body, headers={"content-type": ct})
    r = c.getresponse(); data = r.read()
    return r.status, data
status, data = call("POST", "/sequence", open(pkg, "rb").read(), "application/octet-stream")
seq = json.loads(data)["id"]
time.sleep(0.5)
base = rss()
lat = []
t0 = time.monotonic()
for i in range(n):
    t = time.monotonic()
    status, data = call("POST", f"/sequence/{seq}/start", b"{}")
    lat.append((time.monotonic() - t) * 1000)
    if status != 200:
        print(f"start {i} answered {status}: {data[:200]!r}"); break
elapsed = time.monotonic() - t0
time.sleep(2)
status, data = call("GET", "/status")
alive = json.loads(data)["capacity"]["alive"]
total = rss()
lat.sort()
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print(f"alive instances: {alive} (started {len(lat)} sequentially in {elapsed:.1f} s)")
print(f"POST start (HTTP round trip, keep-alive) ms: p50 {p(0.5):.3f}  p99 {p(0.99):.3f}  max {lat[-1]:.3f}")
print(f"hub RSS: {base/2**20:.1f} MiB before, {total/2**20:.1f} MiB with {alive} idle instances "
      f"→ {(total-base)/max(alive,1)/1024:.1f} KiB per idle instance")
PY
kill "$HUB"; wait "$HUB" 2>/dev/null || true

echo "## weir: topics (records/s fan-in/fan-out, pipeline latency)"
"$WEIR" pack plugins/hello -o "$WORK/hello.tar.gz"
start_hub topics 1000
"$CARGO_TARGET_DIR/release/examples/topic_bench" "http://127.0.0.1:$PORT" "$WORK"
kill "$HUB"; wait "$HUB" 2>/dev/null || true

echo "## native baseline: the same ndjson map compiled natively"
python3 -c "
import sys
w = sys.stdout.write
for k in range($RECORDS): w('{\"id\":%d,\"name\":\"name-%d\",\"n\":%d}\n' % (k, k, k))
" > "$WORK/records.ndjson"
for i in $(seq "$REPS"); do
  s=$(date +%s%N); "$CARGO_TARGET_DIR/release/examples/native_map" < "$WORK/records.ndjson" > /dev/null; e=$(date +%s%N)
  echo "native map #$i: $RECORDS records in $(( (e-s)/1000000 )) ms = $(( RECORDS * 1000000000 / (e-s) )) records/s"
done

echo "## the bench.js client's ceiling: its passthrough client against the zero-work relay"
"$CARGO_TARGET_DIR/release/examples/relay" "127.0.0.1:$((PORT + 1))" > /dev/null &
RELAY=$!
until curl -s -o /dev/null -X POST "http://127.0.0.1:$((PORT + 1))/relay"; do sleep 0.05; done
node tests/bench/bench-client-ceiling.js --relay "http://127.0.0.1:$((PORT + 1))" --mb "$MB" --reps "$REPS"
kill "$RELAY"; wait "$RELAY" 2>/dev/null || true

if [ "${SKIP_PEER:-0}" != 1 ]; then
  echo "## Scramjet Transform Hub: bench.sh (same parameters)"
  (cd "$PEER" && MB=$MB RECORDS=$RECORDS REPS=$REPS START_REPS=$START_REPS INSTANCES=10 ./bench.sh)
fi
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
