#!/usr/bin/env bash
# The same Scramjet JavaScript sequences on both hubs, in one run: the five sequences of
# ../shared/peers/scramjet-hub/sequences/, packed unchanged (tar czf of each directory, as
# the peer's bench.sh packs them), measured by the peer's bench.js — first on weir, where
# the JavaScript runner (`weir runner build js`) runs them in wasm sandboxes, then on the
# Scramjet Transform Hub, where each runs in a Node process.
#
# Env: MB (200) RECORDS (200000) REPS (3) START_REPS (20) INSTANCES (10) SKIP_PEER=1
#      WEIR (a weir binary; default: a release build) RUNNERS_DIR (default: built here)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PEER=$ROOT/../shared/peers/scramjet-hub
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/weir-target}
MB=${MB:-200}; RECORDS=${RECORDS:-200000}; REPS=${REPS:-3}; START_REPS=${START_REPS:-20}
INSTANCES=${INSTANCES:-10}; PORT=${PORT:-18310}

if [ -z "${WEIR:-}" ]; then
  cargo build --release -p weir
  WEIR=$CARGO_TARGET_DIR/release/weir
fi
WORK=$(mktemp -d /tmp/weir-scramjet-bench.XXXXXX)
trap 'kill $HUB 2>/dev/null || true; rm -rf "$WORK"' EXIT
RUNNERS_DIR=${RUNNERS_DIR:-$WORK/runners}
[ -f "$RUNNERS_DIR/js.wasm" ] || "$WEIR" runner build js --runners-dir "$RUNNERS_DIR"

for s in first-output passthrough uppercase ndjson-map events; do
  tar czf "$WORK/$s.tar.gz" -C "$PEER/sequences/$s" .
done

echo "# weir $(git rev-parse --short HEAD) — $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%FT%TZ)"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "## weir: bench.js on the Scramjet sequences (MB=$MB RECORDS=$RECORDS REPS=$REPS START_REPS=$START_REPS)"
RUST_LIB_BACKTRACE=0 WEIR_LOG=warn "$WEIR" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" \
  --cache-dir "$WORK/cache" --runners-dir "$RUNNERS_DIR" --instance-retention-secs 0 \
  --max-instances 1000 > "$WORK/hub.out" 2> "$WORK/hub.err" &
HUB=$!
until curl -s -o /dev/null "http://127.0.0.1:$PORT/api/v1/version"; do sleep 0.05; done
# The runner compiles once per hub (its artifact is cached); bench.js times uploads apart.
curl -s -o /dev/null --data-binary "@$WORK/first-output.tar.gz" \
  -H 'content-type: application/octet-stream' "http://127.0.0.1:$PORT/api/v1/sequence"
node "$PEER/bench.js" --base "http://127.0.0.1:$PORT/api/v1" --hub-pid "$HUB" --pkgs "$WORK" \
  --reps "$REPS" --start-reps "$START_REPS" --mb "$MB" --records "$RECORDS" --instances "$INSTANCES"
kill "$HUB"; wait "$HUB" 2>/dev/null || true

if [ "${SKIP_PEER:-0}" != 1 ]; then
  echo "## Scramjet Transform Hub: bench.sh (the same sequences and parameters)"
  (cd "$PEER" && MB=$MB RECORDS=$RECORDS REPS=$REPS START_REPS=$START_REPS INSTANCES=$INSTANCES ./bench.sh)
fi
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
