#!/usr/bin/env bash
# ndjson records through the hub over HTTP, with curl as both clients: RECORDS records
# `{id,name,n}` POSTed to one `tests/fixtures/bench-map` instance's /input, its /output read
# to /dev/null (curl's byte count checked against the expected output), records/s from the
# POST's start to the last output byte. Next to it, the same records through the same map
# compiled natively (`sdk/examples/native_map`, file → /dev/null), in the same run.
#
# Usage: [REPS=5] [RECORDS=2000000] [WEIR=binary] [PACKAGE=bench-map.tar.gz] tests/bench/ndjson-http.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/bench/lib.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/weir-target}
REPS=${REPS:-5}; RECORDS=${RECORDS:-2000000}; PORT=${PORT:-18520}
cargo build -q --release -p weir --bin weir
cargo build -q --release -p weir-sdk --example native_map
WEIR=${WEIR:-$CARGO_TARGET_DIR/release/weir}
NATIVE=$CARGO_TARGET_DIR/release/examples/native_map
WORK=$(mktemp -d /tmp/weir-ndjson.XXXXXX)
trap 'kill $HUB 2>/dev/null || true; rm -rf "$WORK"' EXIT

if [ -n "${PACKAGE:-}" ]; then cp "$PACKAGE" "$WORK/map.tar.gz"
else "$WEIR" pack tests/fixtures/bench-map -o "$WORK/map.tar.gz" >/dev/null 2>&1; fi
python3 - "$RECORDS" "$WORK/records.ndjson" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    for i in range(n):
        f.write(f'{{"id":{i},"name":"record number {i}","n":{i % 1000}}}\n')
PY
expected=$("$NATIVE" < "$WORK/records.ndjson" | wc -c)
RUST_LIB_BACKTRACE=0 WEIR_LOG=warn "$WEIR" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" \
  --slots 0 --instance-retention-secs 0 > /dev/null 2>&1 &
HUB=$!
api=http://127.0.0.1:$PORT/api/v1
until curl -s -o /dev/null "$api/version"; do sleep 0.05; done
seq_id=$(upload "$api" "$WORK/map.tar.gz")
rate() { python3 -c "print(f'{$RECORDS / ($2 - $1) / 1e6:.2f}M')"; }

native() {
  local t0; t0=$(now)
  "$NATIVE" < "$WORK/records.ndjson" > /dev/null
  rate "$t0" "$(now)"
}
http() {
  local secs
  secs=$(through_instance "$api" "$seq_id" application/x-ndjson "$expected" < "$WORK/records.ndjson")
  rate 0 "$secs"
}

echo "# weir $(git rev-parse --short HEAD) ($WEIR) — $(nproc) cores, $(date -u +%FT%TZ)"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg); RECORDS=$RECORDS REPS=$REPS (records/s)"
for rep in $(seq "$REPS"); do
  echo "rep $rep: native $(native)  http $(http)"
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
