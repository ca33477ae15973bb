#!/usr/bin/env python3
"""What a keep-alive `POST /sequence/:id/start` costs, and where the time goes.

    python3 tests/bench/start_latency.py WEIR_BINARY PACKAGE.tar.gz [STARTS]

Starts `weir serve` on a free port (embedded defaults, a fresh data dir, WEIR_LOG=warn), uploads
the package (an idle one, e.g. `plugins/events`), then on one keep-alive `http.client`
connection measures:

- the floor: `GET /api/v1/version` (the same client, server stack and connection, no work);
- `STARTS` starts (default 2,000) kept alive, and the same number started and each killed
  right after (`POST /instance/:id/_kill` with `removeImmediately`), so the registry stays small;
- the hub's resident memory per instance kept alive (VmRSS before and after them);
- with PERF_STAT=1, the hub's page faults and context switches per start in each of the two
  start phases (`perf stat -p`; the killed-after phase's include its kills);
- with PERF_RECORD=FILE, a `perf record -g` profile of the hub during the kept-alive phase;
- the hub's own view: the mean of `weir_instance_start_duration_seconds` (start handler entry to
  the instance running) from `/metrics`.

Prints p50/p90/p99 in milliseconds. Compare figures of one run; the machine is shared.
"""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentiles(samples):
    samples = sorted(samples)
    at = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
    return f"p50 {at(0.5):.3f}  p90 {at(0.9):.3f}  p99 {at(0.99):.3f}  (n={len(samples)})"


def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def perf_stat(pid):
    """`perf stat` of the hub from now until `counted` (PERF_STAT=1), else None."""
    if not os.environ.get("PERF_STAT"):
        return None
    out = tempfile.mktemp(prefix="weir-perf-stat-")
    stat = subprocess.Popen(["perf", "stat", "-x,", "-e", "page-faults,context-switches",
                             "-p", str(pid), "-o", out])
    time.sleep(0.3)  # attached before the phase starts
    return stat, out


def perf_record(pid):
    """`perf record -g` of the hub into $PERF_RECORD from now until `recorded`, else None."""
    out = os.environ.get("PERF_RECORD")
    if not out:
        return None
    record = subprocess.Popen(["perf", "record", "-q", "-g", "-F", "2999", "-p", str(pid),
                               "-o", out], stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return record


def recorded(record):
    if record is not None:
        record.send_signal(signal.SIGINT)
        record.wait()


def counted(handle, starts, phase):
    if handle is None:
        return
    stat, out = handle
    stat.send_signal(signal.SIGINT)
    stat.wait()
    counts = {}
    for line in open(out):
        fields = line.strip().split(",")
        if len(fields) > 2 and fields[0].isdigit():
            counts[fields[2]] = int(fields[0])
    os.unlink(out)
    print(f"{phase}: {counts.get('page-faults', 0) / starts:.1f} page faults, "
          f"{counts.get('context-switches', 0) / starts:.1f} context switches per start")


def metric_mean(text, name):
    total = re.search(rf"^{name}_sum\S* (\S+)$", text, re.M)
    count = re.search(rf"^{name}_count\S* (\S+)$", text, re.M)
    if not total or not count or float(count.group(1)) == 0:
        return None
    return float(total.group(1)) / float(count.group(1))


def main():
    weir, package = sys.argv[1], sys.argv[2]
    starts = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    port = free_port()
    data = tempfile.mkdtemp(prefix="weir-start-bench-")
    env = dict(os.environ, WEIR_LOG="warn", RUST_LIB_BACKTRACE="0")
    hub = subprocess.Popen(
        [weir, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data,
         "--max-instances", str(starts + 100), "--instance-retention-secs", "0"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(data, "hub.err"), "w"))
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        deadline = time.monotonic() + 30
        while True:
            try:
                conn.request("GET", "/api/v1/version")
                conn.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                conn.close()
                time.sleep(0.05)

        def call(method, path, body=b"", ct="application/json"):
            began = time.perf_counter()
            conn.request(method, "/api/v1" + path, body=body, headers={"content-type": ct})
            reply = conn.getresponse()
            payload = reply.read()
            took = (time.perf_counter() - began) * 1000
            if reply.status not in (200, 202):
                sys.exit(f"{method} {path} answered {reply.status}: {payload[:300]!r}")
            return payload, took

        print(f"# weir start latency — {os.cpu_count()} cores, "
              f"load average {' '.join(open('/proc/loadavg').read().split()[:3])}, "
              f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")
        seq = json.loads(call("POST", "/sequence", open(package, "rb").read(),
                              "application/octet-stream")[0])["id"]
        for _ in range(200):  # warm the connection, the allocator and the code paths
            call("GET", "/version")
            iid = json.loads(call("POST", f"/sequence/{seq}/start", b"{}")[0])["id"]
            call("POST", f"/instance/{iid}/_kill", b'{"removeImmediately":true}')

        floor = [call("GET", "/version")[1] for _ in range(starts)]
        print(f"GET /version (the floor)            ms: {percentiles(floor)}")

        stat = perf_stat(hub.pid)
        cycled = []
        for _ in range(starts):
            payload, took = call("POST", f"/sequence/{seq}/start", b"{}")
            cycled.append(took)
            call("POST", f"/instance/{json.loads(payload)['id']}/_kill", b'{"removeImmediately":true}')
        print(f"POST start, each killed after      ms: {percentiles(cycled)}")
        counted(stat, starts, "each killed after")

        time.sleep(1)  # the killed ones reaped
        before = rss(hub.pid)
        stat = perf_stat(hub.pid)
        profile = perf_record(hub.pid)
        kept = [call("POST", f"/sequence/{seq}/start", b"{}")[1] for _ in range(starts)]
        recorded(profile)
        print(f"POST start, {starts} kept alive      ms: {percentiles(kept)}")
        counted(stat, starts, "kept alive")
        time.sleep(1)
        grown = rss(hub.pid) - before
        print(f"resident memory per instance kept alive: {grown / starts / 1024:.0f} KiB "
              f"({before / 2**20:.1f} → {(before + grown) / 2**20:.1f} MiB)")

        metrics = call("GET", "/metrics")[0].decode()
        mean = metric_mean(metrics, "weir_instance_start_duration_seconds")
        if mean is not None:
            print(f"hub's own start (handler → running), mean over all starts: {mean * 1000:.3f} ms")
    finally:
        hub.terminate()
        hub.wait(timeout=30)


if __name__ == "__main__":
    main()
