#!/usr/bin/env bash
# How fast a guest's stdout reaches `GET /instance/:id/stdout` when it writes a line at a time:
# tests/bench/stdout-lines (a Scramjet JS sequence, one `process.stdout.write` per line) on a
# fresh hub, its stdout read by curl and its lines counted, REPS times.
#
#   [REPS=3] [LINES=200000] tests/bench/stdout-lines.sh [WEIR] [RUNNERS_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/bench/lib.sh
REPS=${REPS:-3}; LINES=${LINES:-200000}
js_runner_hub "${1:-}" "${2:-}" --instance-retention-secs 0
tar czf "$WORK/stdout-lines.tar.gz" -C tests/bench/stdout-lines .
SEQ=$(upload "$API" "$WORK/stdout-lines.tar.gz")
echo "# weir stdout lines — $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
for i in $(seq "$REPS"); do
  ID=$(curl -s -X POST -H 'content-type: application/json' -d "{\"appConfig\":{\"lines\":$LINES}}" \
    "$API/sequence/$SEQ/start" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  t0=$(now)
  got=$(curl -s "$API/instance/$ID/stdout" | wc -l)
  t1=$(now)
  [ "$got" -eq "$LINES" ] || { echo "stdout gave $got lines, expected $LINES" >&2; exit 1; }
  python3 -c "print(f'stdout #$i: $LINES lines in {$t1 - $t0:.3f} s = {$LINES / ($t1 - $t0):,.0f} lines/s')"
done
