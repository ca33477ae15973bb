#!/usr/bin/env bash
# Runs the sample Python packages of this directory on a running weir hub through its
# Scramjet-compatible HTTP API and checks what each gives (output, events, exit code).
#
#   BASE=http://127.0.0.1:8000/api/v1 tests/scramjet/python/e2e.sh [sample ...]
#
# Needs curl and jq; the hub needs the Python runner (`weir runner build python`).
set -uo pipefail
BASE=${BASE:?set BASE to the hub API, e.g. http://127.0.0.1:8000/api/v1}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
failures=0

upload() {
  tar czf "$WORK/$1.tar.gz" -C "$HERE/$1" .
  curl -sS --max-time 60 --data-binary @"$WORK/$1.tar.gz" -H 'content-type: application/octet-stream' \
    "$BASE/sequence" | jq -r .id
}
start() { # sequence id, start body
  curl -sS --max-time 60 -X POST -H 'content-type: application/json' -d "${2:-{\}}" \
    "$BASE/sequence/$1/start" | jq -r .id
}
input() { # instance, content type, data
  printf '%b' "$3" | curl -sS --max-time 30 --data-binary @- -H "content-type: $2" \
    "$BASE/instance/$1/input" >/dev/null
}
output() { curl -sS --max-time "${2:-20}" "$BASE/instance/$1/output"; }
terminated() { # waits for the instance to end; prints its exit code
  for _ in $(seq 100); do
    info=$(curl -sS --max-time 5 "$BASE/instance/$1")
    if echo "$info" | jq -e '.terminated' >/dev/null 2>&1; then
      echo "$info" | jq -r .terminated.exitcode
      return
    fi
    sleep 0.1
  done
  echo "still running"
}
check() { # name, got, expected
  if [ "$2" == "$3" ]; then
    echo "ok   $1"
  else
    echo "FAIL $1"; echo "     expected: $(printf '%q' "$3")"; echo "     got:      $(printf '%q' "$2")"
    failures=$((failures + 1))
  fi
}
run_sample() { # sample, content type, input, start body -> instance id
  local seq inst
  seq=$(upload "$1")
  inst=$(start "$seq" "${4:-{\}}")
  if [ -n "$3" ]; then input "$inst" "$2" "$3"; fi
  echo "$inst"
}

sample_stringstream() {
  local i; i=$(run_sample stringstream text/plain 'hello\nworld\n\nbye')
  check "stringstream output" "$(output "$i")" $'HELLO\nWORLD\nBYE'
  check "stringstream exit" "$(terminated "$i")" 0
}
sample_async_gen() {
  local i; i=$(run_sample async-gen text/plain '' '{"appConfig":{"count":2}}')
  check "async-gen output" "$(output "$i")" $'{"n": 0, "square": 0}\n{"n": 1, "square": 1}'
}
sample_events() {
  local seq i pong
  seq=$(upload events); i=$(start "$seq")
  sleep 0.5
  curl -sS --max-time 5 -X POST -H 'content-type: application/json' \
    -d '{"eventName":"ping","message":{"x":1}}' "$BASE/instance/$i/_event" >/dev/null
  pong=$(curl -sS --max-time 10 "$BASE/instance/$i/event/pong" | jq -c .got)
  check "events pong" "$pong" '{"x":1}'
  input "$i" text/plain 'a\nb\n'
  check "events output" "$(output "$i")" $'echo: a\necho: b'
}
sample_sleep() {
  local i; i=$(run_sample sleep text/plain '')
  check "sleep output" "$(output "$i")" '{"order": [50, 100, 150]}'
  check "sleep tick" "$(curl -sS --max-time 5 "$BASE/instance/$i/event/tick")" 150
}
sample_throws() {
  local i; i=$(run_sample throws text/plain '')
  check "throws output" "$(output "$i")" first
  check "throws exit" "$(terminated "$i")" 23
}
sample_syntax_error() {
  local i; i=$(run_sample syntax-error text/plain '')
  check "syntax-error exit" "$(terminated "$i")" 22
}
sample_uses_pypackages() {
  local i; i=$(run_sample uses-pypackages text/plain 'ann\nbob\n')
  check "uses-pypackages output" "$(output "$i")" $'Hello, ann!\nHELLO, BOB!'
}
sample_ndjson_map() {
  local i; i=$(run_sample ndjson-map application/x-ndjson '{"id":1,"name":"ann","n":2}\n{"id":2,"name":"bob","n":5}\n')
  check "ndjson-map output" "$(output "$i")" $'{"id": 1, "name": "ANN", "n": 4}\n{"id": 2, "name": "BOB", "n": 10}'
}
sample_passthrough() {
  local i; i=$(run_sample passthrough application/octet-stream 'a\x00b\xffc')
  check "passthrough output" "$(output "$i" | od -An -tx1 | tr -d ' \n')" 610062ff63
}

sample_topics() {
  local consumer producer out
  consumer=$(start "$(upload topic-consumer)")
  producer=$(start "$(upload topic-producer)")
  input "$producer" text/plain 'ann\nbob\n'
  out=$(curl -sS -N --max-time 5 "$BASE/instance/$consumer/output" 2>/dev/null | head -2)
  check "topics output" "$out" $'Hello ann!\nHello bob!'
  check "topics producer exit" "$(terminated "$producer")" 0
  curl -sS --max-time 10 -X POST -H 'content-type: application/json' -d '{"timeout":3000}' \
    "$BASE/instance/$consumer/_stop" >/dev/null
  check "topics consumer stopped" "$(terminated "$consumer")" 138
}

samples=${*:-stringstream async_gen events sleep throws syntax_error uses_pypackages ndjson_map passthrough topics}
for s in $samples; do "sample_${s//-/_}"; done
[ "$failures" -eq 0 ] && echo "all passed" || { echo "$failures failed"; exit 1; }
