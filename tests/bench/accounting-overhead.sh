#!/usr/bin/env bash
# What accounting and metrics cost on the data path: two `weir` binaries (before and after
# they were added) measured in one run, alternating, with curl as both HTTP clients.
#
#   passthrough: 1 GiB of zeros POSTed to /input (chunked, from `head -c`), /output read to
#                /dev/null, one instance per run (plugins/passthrough);
#   ndjson map:  RECORDS records of {"id","name","n"} POSTed from a file, the mapped records
#                read to /dev/null (tests/fixtures/bench-map).
#
# Usage: BEFORE=path/to/old/weir AFTER=path/to/new/weir [ROUNDS=3] [MB=1024] [RECORDS=1000000] \
#        tests/bench/accounting-overhead.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${BEFORE:?the weir binary before accounting}" "${AFTER:?the weir binary after}"
ROUNDS=${ROUNDS:-3}; MB=${MB:-1024}; RECORDS=${RECORDS:-1000000}; PORT=${PORT:-18400}
WORK=$(mktemp -d /tmp/weir-accounting.XXXXXX)
trap 'kill $HUB 2>/dev/null || true; rm -rf "$WORK"' EXIT
HUB=

"$AFTER" pack plugins/passthrough -o "$WORK/passthrough.tar.gz" >/dev/null 2>&1
"$AFTER" pack tests/fixtures/bench-map -o "$WORK/map.tar.gz" >/dev/null 2>&1
python3 - "$RECORDS" > "$WORK/records.ndjson" <<'EOF'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"id": i, "name": f"record-{i}", "n": i}))
EOF

api=http://127.0.0.1:$PORT/api/v1
start_hub() {
  RUST_LIB_BACKTRACE=0 WEIR_LOG=warn "$1" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data-$2" \
    --instance-retention-secs 0 > /dev/null 2>&1 &
  HUB=$!
  until curl -s -o /dev/null "$api/version"; do sleep 0.05; done
}
upload() { curl -s --data-binary "@$1" -H 'content-type: application/octet-stream' "$api/sequence" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
start() { curl -s -X POST -H 'content-type: application/json' -d '{}' "$api/sequence/$1/start" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
now() { date +%s.%N; }

passthrough() { # sequence → MiB/s
  local id t0 t1
  id=$(start "$1")
  curl -s -o /dev/null "$api/instance/$id/output" & local reader=$!
  t0=$(now)
  head -c "$((MB << 20))" /dev/zero | curl -s -o /dev/null -X POST -T - \
    -H 'content-type: application/octet-stream' "$api/instance/$id/input"
  wait $reader
  t1=$(now)
  python3 -c "print(f'{$MB / ($t1 - $t0):.0f}')"
}

map() { # sequence → records/s
  local id t0 t1
  id=$(start "$1")
  curl -s -o /dev/null "$api/instance/$id/output" & local reader=$!
  t0=$(now)
  curl -s -o /dev/null --data-binary "@$WORK/records.ndjson" \
    -H 'content-type: application/x-ndjson' "$api/instance/$id/input"
  wait $reader
  t1=$(now)
  python3 -c "print(f'{$RECORDS / ($t1 - $t0):.0f}')"
}

echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%FT%TZ)"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# before: $BEFORE; after: $AFTER; MB=$MB RECORDS=$RECORDS ROUNDS=$ROUNDS"
for round in $(seq "$ROUNDS"); do
  for side in before after; do
    bin=$BEFORE; [ "$side" = after ] && bin=$AFTER
    start_hub "$bin" "$side-$round"
    pass=$(upload "$WORK/passthrough.tar.gz"); mapper=$(upload "$WORK/map.tar.gz")
    echo "round $round $side: passthrough $(passthrough "$pass") MiB/s, ndjson map $(map "$mapper") records/s"
    kill $HUB; wait $HUB 2>/dev/null || true
  done
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
