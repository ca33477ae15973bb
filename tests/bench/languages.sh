#!/usr/bin/env bash
# JavaScript and Python plugins against their Rust twins, in one run, through the real `weir`
# binary: compile time, cached load + start to output, bytes/s and ndjson records/s.
#
#   tests/bench/languages.sh WEIR_BINARY [WORK_DIR]
#
# Needs componentize-js and componentize-py (WEIR_COMPONENTIZE_JS / WEIR_COMPONENTIZE_PY, as
# .ci/run sets them, or on the PATH) and the wasm32-wasip2 target for the Rust twins.
set -euo pipefail
weir=$(realpath "$1")
work=${2:-$(mktemp -d)}
repo=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$work"
cd "$work"

now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A dir=(
  [rust/hello]=plugins/hello [js/hello]=plugins/js/hello [python/hello]=plugins/python/hello
  [rust/uppercase]=plugins/uppercase [js/uppercase]=plugins/js/uppercase [python/uppercase]=plugins/python/uppercase
  [rust/ndjson-map]=plugins/ndjson-map [js/ndjson-map]=plugins/js/ndjson-map [python/ndjson-map]=plugins/python/ndjson-map
  [rust/passthrough]=plugins/passthrough
)
for key in "${!dir[@]}"; do
  [ -s "${key/\//-}.tar.gz" ] || "$weir" pack "$repo/${dir[$key]}" -o "${key/\//-}.tar.gz" >/dev/null 2>&1
done

python3 -c '
import base64, json, random
rng = random.Random(1)
with open("bytes.txt", "wb") as f:
    for _ in range(64):
        f.write(base64.b64encode(rng.randbytes(3 << 18)))
with open("records.ndjson", "w") as f:
    for i in range(200_000):
        f.write(json.dumps({"id": i, "name": f"user-{i}", "tags": ["a", "b"], "score": i % 97}, separators=(",", ":")) + "\n")
'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '| plugin | size | compile (ms) | cached run, one line (ms, median of 5) | uppercase 64 MiB (MiB/s) | ndjson-map 200k records (records/s) |\n|---|---|---|---|---|---|\n'
for lang in rust js python; do
  pkg=$lang-hello.tar.gz
  size=$(tar -xOzf "$pkg" --wildcards '*.wasm' | wc -c)
  rm -rf cache; export WEIR_CACHE_DIR=$work/cache
  t0=$(now); echo world | "$weir" run "$pkg" >/dev/null; t1=$(now)
  compile=$(ms "$t0" "$t1")
  runs=$(for _ in 1 2 3 4 5; do t0=$(now); out=$(echo world | "$weir" run "$pkg"); t1=$(now); [ "$out" = "Hello world!" ]; ms "$t0" "$t1"; done | median)
  echo x | "$weir" run "$lang-uppercase.tar.gz" >/dev/null
  t0=$(now); n=$("$weir" run "$lang-uppercase.tar.gz" < bytes.txt | wc -c); t1=$(now)
  [ "$n" = $((64 << 20)) ]
  mibs=$(awk -v ms="$(ms "$t0" "$t1")" 'BEGIN { printf "%.1f", 64 / (ms / 1000) }')
  echo '{}' | "$weir" run "$lang-ndjson-map.tar.gz" >/dev/null
  t0=$(now); n=$("$weir" run "$lang-ndjson-map.tar.gz" < records.ndjson | wc -l); t1=$(now)
  [ "$n" = 200000 ]
  rps=$(awk -v ms="$(ms "$t0" "$t1")" 'BEGIN { printf "%.0f", 200000 / (ms / 1000) }')
  printf '| %s | %.1f MB | %s | %s | %s | %s |\n' "$lang" "$(echo "$size / 1000000" | bc -l)" "$compile" "$runs" "$mibs" "$rps"
done
echo x | "$weir" run rust-passthrough.tar.gz >/dev/null
t0=$(now); "$weir" run rust-passthrough.tar.gz < bytes.txt | wc -c >/dev/null; t1=$(now)
echo "rust passthrough, 64 MiB: $(awk -v ms="$(ms "$t0" "$t1")" 'BEGIN { printf "%.1f", 64 / (ms / 1000) }') MiB/s"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
