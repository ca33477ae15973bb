#!/usr/bin/env bash
# What the JavaScript runner's engine charges per operation, measured inside the component:
# uploads tests/bench/js-engine (a Scramjet sequence that times promises, async generators,
# JSON and text work with Date.now and writes one NDJSON line per figure) to a fresh hub and
# prints its output.
#
#   tests/bench/js-engine.sh [WEIR] [RUNNERS_DIR]
#
# WEIR: a weir binary (default: a release build); RUNNERS_DIR: where its JavaScript runner is
# (default: built here with `weir runner build js`).
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/bench/lib.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/weir-target}
WEIR=${1:-}
if [ -z "$WEIR" ]; then
  cargo build --release -p weir
  WEIR=$CARGO_TARGET_DIR/release/weir
fi
WORK=$(mktemp -d /tmp/weir-js-engine.XXXXXX)
trap 'kill $HUB 2>/dev/null || true; rm -rf "$WORK"' EXIT
RUNNERS_DIR=${2:-$WORK/runners}
[ -f "$RUNNERS_DIR/js.wasm" ] || "$WEIR" runner build js --runners-dir "$RUNNERS_DIR"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
WEIR_LOG=warn "$WEIR" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" \
  --cache-dir "$WORK/cache" --runners-dir "$RUNNERS_DIR" > "$WORK/hub.out" 2>&1 &
HUB=$!
API=http://127.0.0.1:$PORT/api/v1
until curl -s -o /dev/null "$API/version"; do sleep 0.05; done
tar czf "$WORK/js-engine.tar.gz" -C tests/bench/js-engine .
SEQ=$(upload "$API" "$WORK/js-engine.tar.gz")
ID=$(curl -s -X POST -H 'content-type: application/json' -d '{}' "$API/sequence/$SEQ/start" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "# weir js engine costs — $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
curl -s --max-time 120 "$API/instance/$ID/output"
