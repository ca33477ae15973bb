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
