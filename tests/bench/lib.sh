# Shared by the curl-driven benchmarks in tests/bench/ (sourced, not run).

now() { date +%s.%N; }

# upload API PACKAGE: stores the package, prints its sequence id.
upload() {
  curl -s --data-binary "@$2" -H 'content-type: application/octet-stream' "$1/sequence" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}

# through_instance API SEQUENCE CONTENT_TYPE EXPECTED_BYTES < BODY: starts an instance, POSTs
# stdin to its input while its output is read to /dev/null, checks curl's count of the output
# bytes, and prints the seconds from the POST's start to the output's end.
through_instance() {
  local id t0 t1 reader size
  id=$(curl -s -X POST -H 'content-type: application/json' -d '{}' "$1/sequence/$2/start" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  size=$(mktemp)
  curl -s -o /dev/null -w '%{size_download}' "$1/instance/$id/output" > "$size" & reader=$!
  t0=$(now)
  curl -s -o /dev/null -X POST -T - -H "content-type: $3" "$1/instance/$id/input"
  wait $reader
  t1=$(now)
  if [ "$(cat "$size")" -ne "$4" ]; then
    echo "instance $id wrote $(cat "$size") bytes, expected $4" >&2
    rm -f "$size"
    return 1
  fi
  rm -f "$size"
  python3 -c "print($t1 - $t0)"
}

# js_runner_hub [WEIR] [RUNNERS_DIR] [SERVE_ARGS...]: a fresh hub on a free port that runs Scramjet
# JavaScript sequences. WEIR is a weir binary (empty: a release build); RUNNERS_DIR holds its
# JavaScript runner (empty: built in the work dir). Sets WEIR, WORK (removed at exit), HUB, API.
js_runner_hub() {
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/weir-target}
  WEIR=${1:-}
  if [ -z "$WEIR" ]; then
    cargo build --release -p weir
    WEIR=$CARGO_TARGET_DIR/release/weir
  fi
  WORK=$(mktemp -d /tmp/weir-bench.XXXXXX)
  trap 'kill $HUB 2>/dev/null || true; rm -rf "$WORK"' EXIT
  local runners=${2:-$WORK/runners} port
  shift $(( $# < 2 ? $# : 2 ))
  [ -f "$runners/js.wasm" ] || "$WEIR" runner build js --runners-dir "$runners"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  WEIR_LOG=warn "$WEIR" serve --listen "127.0.0.1:$port" --data-dir "$WORK/data" \
    --cache-dir "$WORK/cache" --runners-dir "$runners" "$@" > "$WORK/hub.out" 2>&1 &
  HUB=$!
  API=http://127.0.0.1:$port/api/v1
  until curl -s -o /dev/null "$API/version"; do sleep 0.05; done
}
