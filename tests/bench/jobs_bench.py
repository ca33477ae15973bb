#!/usr/bin/env python3
"""Render-job benchmarks against real `weir serve` / `weir worker` processes.

    cargo build --release -p weir
    python3 tests/bench/jobs_bench.py target/release/weir

(with CARGO_TARGET_DIR set, the binary is under it). Prints:
  1. scheduling overhead per task: 2,000 one-frame tasks of an empty render
     (render-test with no settings) on 1 and 2 local slots;
  2. frames/s of a CPU-bound mandelbrot job on 1 and 2 slots, and the speed-up;
  3. time from a remote worker's SIGKILL to its task running on another,
     idle worker (manager with --slots 0 and --lease-secs 2, two `weir worker`s).
Only the standard library is used.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def call(method, url, body=None, ctype="application/json"):
    data = None
    headers = {}
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["content-type"] = ctype
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=120) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else None


class Manager:
    def __init__(self, weir, *flags):
        self.dir = tempfile.mkdtemp(prefix="weir-jobs-bench-")
        self.proc = subprocess.Popen(
            [weir, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.dir, *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "WEIR_LOG": "warn"},
        )
        line = self.proc.stdout.readline().decode().strip()
        assert line.startswith("weir listening on "), line
        self.url = line.removeprefix("weir listening on ")
        self.api = self.url + "/api/v1"

    def upload(self, archive):
        with open(archive, "rb") as f:
            return call("POST", self.api + "/sequence", f.read(), "application/octet-stream")["id"]

    def submit(self, body):
        return call("POST", self.api + "/jobs", body)

    def wait(self, job_id, state="completed"):
        while True:
            job = call("GET", f"{self.api}/jobs/{job_id}")
            if job["state"] == state:
                return job
            assert job["state"] not in ("failed", "canceled"), job
            time.sleep(0.005)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()


def pack(weir, plugin, out):
    subprocess.run([weir, "pack", os.path.join(ROOT, plugin), "-o", out], check=True,
                   stdout=subprocess.DEVNULL)
    return out


def timed_job(manager, body):
    start = time.perf_counter()
    job = manager.submit(body)
    manager.wait(job["id"])
    return time.perf_counter() - start


def main():
    weir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/weir")
    work = tempfile.mkdtemp(prefix="weir-jobs-pkgs-")
    render_test = pack(weir, "tests/fixtures/render-test", os.path.join(work, "render-test.tar.gz"))
    mandelbrot = pack(weir, "plugins/mandelbrot", os.path.join(work, "mandelbrot.tar.gz"))

    print("## scheduling overhead (empty render, one frame per task)")
    for slots in (1, 2):
        m = Manager(weir, "--slots", str(slots))
        m.upload(render_test)
        timed_job(m, {"package": "render-test", "frames": "1-50"})  # warm up
        n = 2000
        took = timed_job(m, {"package": "render-test", "frames": f"1-{n}"})
        print(f"slots={slots}: {n} tasks in {took:.2f} s = {n / took:,.0f} tasks/s, "
              f"{took / n * 1e6:,.0f} µs per task (wall, submit → completed)")
        m.stop()

    print("## CPU-bound mandelbrot (640x480, max_iter 2000, 16 frames)")
    rates = {}
    settings = {"width": 640, "height": 480, "max_iter": 2000, "zoom_per_frame": 1.3}
    for slots in (1, 2):
        m = Manager(weir, "--slots", str(slots))
        m.upload(mandelbrot)
        timed_job(m, {"package": "mandelbrot", "frames": "1", "settings": settings})
        frames = 16
        took = timed_job(m, {"package": "mandelbrot", "frames": f"1-{frames}", "settings": settings})
        rates[slots] = frames / took
        print(f"slots={slots}: {frames} frames in {took:.2f} s = {rates[slots]:.2f} frames/s")
        m.stop()
    print(f"speed-up 2 slots / 1 slot: {rates[2] / rates[1]:.2f}x")

    print("## worker death → task running elsewhere (--lease-secs 2, heartbeat 500 ms)")
    m = Manager(weir, "--slots", "0", "--lease-secs", "2")
    m.upload(render_test)
    cache = tempfile.mkdtemp(prefix="weir-worker-cache-")
    workers = [
        subprocess.Popen([weir, "worker", "--manager", m.url, "--slots", "1", "--name", f"w{i}",
                          "--cache-dir", os.path.join(cache, str(i))],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for i in (1, 2)
    ]
    samples = []
    try:
        while len([w for w in call("GET", m.api + "/workers") if w["state"] == "online"]) < 2:
            time.sleep(0.05)
        for round_ in range(3):
            # One task, two idle workers: kill whichever takes it; the other
            # one must pick it up once the manager declares the first lost.
            job = m.submit({"package": "render-test", "frames": "1", "settings": {"spin_ms": 8000}})
            while True:
                listing = call("GET", m.api + "/workers")
                busy = [w for w in listing if w["state"] == "online" and w["activeTasks"]]
                if busy:
                    break
                time.sleep(0.01)
            victim = busy[0]
            task_id = victim["activeTasks"][0]
            proc = next(p for p, i in zip(workers, (1, 2)) if f"w{i}" == victim["name"])
            killed = time.perf_counter()
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            while True:
                task = next(t for t in call("GET", f"{m.api}/jobs/{job['id']}/tasks") if t["id"] == task_id)
                if task["state"] == "active" and task["attempt"] >= 2:
                    break
                time.sleep(0.005)
            samples.append(time.perf_counter() - killed)
            print(f"round {round_ + 1}: rerun started {samples[-1]:.2f} s after SIGKILL")
            call("POST", f"{m.api}/jobs/{job['id']}/cancel")
            # Restart the dead worker for the next round.
            i = 1 if victim["name"] == "w1" else 2
            workers[i - 1] = subprocess.Popen(
                [weir, "worker", "--manager", m.url, "--slots", "1", "--name", f"w{i}",
                 "--cache-dir", os.path.join(cache, str(i))],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while len([w for w in call("GET", m.api + "/workers") if w["state"] == "online"]) < 2:
                time.sleep(0.05)
            while any(w["activeTasks"] for w in call("GET", m.api + "/workers")):
                time.sleep(0.05)
        samples.sort()
        print(f"median {samples[len(samples) // 2]:.2f} s (lease 2 s)")
    finally:
        for w in workers:
            w.kill()
        m.stop()


if __name__ == "__main__":
    main()
