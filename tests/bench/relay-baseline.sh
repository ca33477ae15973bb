#!/usr/bin/env bash
# The limit of the byte path: weir's passthrough against a zero-work HTTP relay on the same
# server stack (host/examples/relay.rs) and against `head | cat | cat`, with curl as both
# clients, in one run.
#
#   pipes:   head -c SIZE /dev/zero | cat | cat > /dev/null
#   relay:   GET /relay to /dev/null, then SIZE bytes of zeros POSTed (chunked) to /relay
#   weir:    one plugins/passthrough instance: SIZE bytes POSTed to /input, /output to /dev/null
# Every reader writes to /dev/null, as the pipes' last `cat` does; curl's own count of the
# bytes it read is checked.
#
# Usage: [REPS=5] [MB=1024] [WEIR=binary] [PASSTHROUGH=package.tar.gz] tests/bench/relay-baseline.sh
# (WEIR and PASSTHROUGH measure another build, e.g. an older commit's, in the same run.)
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/bench/lib.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/weir-target}
REPS=${REPS:-5}; MB=${MB:-1024}; PORT=${PORT:-18500}; RELAY_PORT=$((PORT + 1))
cargo build -q --release -p weir --bin weir --example relay
WEIR=${WEIR:-$CARGO_TARGET_DIR/release/weir}
RELAY=$CARGO_TARGET_DIR/release/examples/relay
WORK=$(mktemp -d /tmp/weir-relay.XXXXXX)
trap 'kill $HUB $RELAY_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT

if [ -n "${PASSTHROUGH:-}" ]; then cp "$PASSTHROUGH" "$WORK/passthrough.tar.gz"
else "$WEIR" pack plugins/passthrough -o "$WORK/passthrough.tar.gz" >/dev/null 2>&1; fi
RUST_LIB_BACKTRACE=0 WEIR_LOG=warn "$WEIR" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" \
  --slots 0 --instance-retention-secs 0 > /dev/null 2>&1 &
HUB=$!
"$RELAY" "127.0.0.1:$RELAY_PORT" > /dev/null &
RELAY_PID=$!
api=http://127.0.0.1:$PORT/api/v1
until curl -s -o /dev/null "$api/version" && curl -s -o /dev/null -X POST "http://127.0.0.1:$RELAY_PORT/relay" -w '' ; do sleep 0.05; done
seq_id=$(upload "$api" "$WORK/passthrough.tar.gz")
bytes=$((MB << 20))
rate() { python3 -c "print(f'{$MB / ($2 - $1):.0f}')"; }

pipes() {
  local t0; t0=$(now)
  head -c "$bytes" /dev/zero | cat | cat > /dev/null
  rate "$t0" "$(now)"
}
relay() {
  local t0 reader
  curl -s -o /dev/null -w '%{size_download}' "http://127.0.0.1:$RELAY_PORT/relay" > "$WORK/relay.size" & reader=$!
  sleep 0.1 # the reader is waiting before the writer starts
  t0=$(now)
  head -c "$bytes" /dev/zero | curl -s -o /dev/null -X POST -T - "http://127.0.0.1:$RELAY_PORT/relay"
  wait $reader
  local t1; t1=$(now)
  test "$(cat "$WORK/relay.size")" -eq "$bytes"
  rate "$t0" "$t1"
}
weir() {
  local secs
  secs=$(head -c "$bytes" /dev/zero | through_instance "$api" "$seq_id" application/octet-stream "$bytes")
  rate 0 "$secs"
}

echo "# weir $(git rev-parse --short HEAD) ($WEIR) — $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%FT%TZ)"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg); MB=$MB REPS=$REPS (MiB/s)"
for rep in $(seq "$REPS"); do
  echo "rep $rep: pipes $(pipes)  relay $(relay)  weir $(weir)"
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
