#!/usr/bin/env python3
"""/health latency and _kill → ended time on a hub running 6 busy-looping instances.

    weir pack tests/fixtures/busy-loop -o busy.tar.gz
    python3 tests/bench/busy_latency.py target/release/weir busy.tar.gz
"""
import json, os, subprocess, sys, tempfile, time, urllib.request, statistics
weir = sys.argv[1]; busy_pkg = sys.argv[2]
d = tempfile.mkdtemp()
p = subprocess.Popen([weir, "serve", "--listen", "127.0.0.1:0", "--data-dir", d, "--slots", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
url = p.stdout.readline().decode().strip().removeprefix("weir listening on ") + "/api/v1"
def call(method, path, body=None, ct="application/json"):
    data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url + path, data=data, method=method, headers={"content-type": ct} if data is not None else {})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")
seq = call("POST", "/sequence", open(busy_pkg, "rb").read(), "application/octet-stream")["id"]
ids = [call("POST", f"/sequence/{seq}/start", {})["id"] for _ in range(6)]
time.sleep(1)
lat = []
for _ in range(50):
    t = time.perf_counter(); call("GET", "/health"); lat.append((time.perf_counter() - t) * 1000)
kills = []
for i in ids:
    t = time.perf_counter(); call("POST", f"/instance/{i}/_kill", {})
    while call("GET", f"/instance/{i}")["status"] not in ("completed", "errored"):
        pass
    kills.append((time.perf_counter() - t) * 1000)
p.kill()
lat.sort()
print(f"/health with 6 busy guests: p50 {statistics.median(lat):.1f} ms, p90 {lat[int(len(lat)*0.9)]:.1f} ms, max {lat[-1]:.1f} ms; _kill → ended: median {statistics.median(kills):.1f} ms, max {max(kills):.1f} ms")
