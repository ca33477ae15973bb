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
js_runner_hub "${1:-}" "${2:-}"
tar czf "$WORK/js-engine.tar.gz" -C tests/bench/js-engine .
SEQ=$(upload "$API" "$WORK/js-engine.tar.gz")
ID=$(curl -s -X POST -H 'content-type: application/json' -d '{}' "$API/sequence/$SEQ/start" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "# weir js engine costs — $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
curl -s --max-time 120 "$API/instance/$ID/output"
