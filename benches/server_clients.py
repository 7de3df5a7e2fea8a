#!/usr/bin/env python3
"""`helios serve` as harnesses meet it: the real binary, one process per call.

Measures, on one store owned by a server:

1. per-call cost: `/bin/true` (starting any process at all, the floor no
   command line goes below), `helios log -n 1` through the server (the
   front end alone), and the same with the store opened in process
   (`--no-server`: the front end, then `helios-local`); the server's own
   time for `log` is read from its Prometheus histogram, so the client's
   overhead is the difference;
2. N concurrent clients (1, 2, 4 by default), each driving a working
   directory of its own (a seeded edit of 3 files, `helios commit`, then
   `helios checkout` of the previous snapshot, round after round): the
   aggregate operations per second, refusals (any command that failed) and
   acknowledged commits missing afterwards (both must be 0), and `helios
   fsck` at the end.

Usage: python3 benches/server_clients.py --helios target/release/helios
       [--files 10000] [--seconds 20] [--clients 1,2,4] [--calls 50]
Prints a Markdown table and, last, one JSON line.
"""

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request


def percentile(samples, p):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def write_tree(root, files, seed):
    rng = random.Random(seed)
    for i in range(files):
        d = os.path.join(root, f"pkg{i % 100:02d}", f"mod{i % 7}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"file{i}.py"), "w") as f:
            f.write(f"# file {i}\n" + "x = %d\n" % rng.randrange(1 << 30) * 20)


def edit(root, files, rng, round_):
    for _ in range(3):
        i = rng.randrange(files)
        path = os.path.join(root, f"pkg{i % 100:02d}", f"mod{i % 7}", f"file{i}.py")
        with open(path, "a") as f:
            f.write(f"# round {round_}\n")


def timed(cmd, env):
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, out


def scrape(addr):
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=10) as r:
        return r.read().decode()


def sample(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--helios", required=True)
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--clients", default="1,2,4")
    ap.add_argument("--calls", type=int, default=50)
    args = ap.parse_args()
    helios = os.path.abspath(args.helios)
    tmp = tempfile.mkdtemp(prefix="helios-server-bench-")
    store = os.path.join(tmp, "store")
    env = dict(os.environ, HELIOS_STORE=store)
    subprocess.run([helios, "init"], env=env, check=True, capture_output=True)
    server = subprocess.Popen(
        [helios, "serve", "--metrics", "127.0.0.1:0"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    ready = server.stdout.readline()
    assert ready.startswith("ready"), ready
    metrics_addr = ready.split("metrics on http://")[1].split("/metrics")[0]
    result = {"files": args.files, "seconds": args.seconds}
    try:
        # 1. Per-call cost.
        seed_dir = os.path.join(tmp, "seed")
        os.makedirs(seed_dir)
        write_tree(seed_dir, 100, 0)
        subprocess.run([helios, "commit", "--workdir", seed_dir], env=env, check=True,
                       capture_output=True)
        costs = {}
        for name, cmd in [
            ("process start (/bin/true)", ["/bin/true"]),
            ("log -n 1 through the server", [helios, "log", "-n", "1"]),
            ("log -n 1, store opened in process", [helios, "--no-server", "log", "-n", "1"]),
        ]:
            for _ in range(3):
                timed(cmd, env)
            samples = []
            for _ in range(args.calls):
                t, out = timed(cmd, env)
                assert out.returncode == 0, out.stderr
                samples.append(t)
            costs[name] = samples
        text = scrape(metrics_addr)
        log_sum = sample(text, 'helios_request_seconds_sum{method="log"}')
        log_count = sample(text, 'helios_request_seconds_count{method="log"}')
        server_log = log_sum / log_count
        served = costs["log -n 1 through the server"]
        result["per_call"] = {
            name: {"p50_ms": 1e3 * percentile(s, 50), "p99_ms": 1e3 * percentile(s, 99)}
            for name, s in costs.items()
        }
        result["server_log_mean_ms"] = 1e3 * server_log
        result["client_overhead_p50_ms"] = 1e3 * (percentile(served, 50) - server_log)
        result["client_overhead_beyond_process_start_p50_ms"] = 1e3 * (
            percentile(served, 50) - server_log
            - percentile(costs["process start (/bin/true)"], 50))

        # 2. Concurrent clients.
        result["clients"] = []
        for n in [int(c) for c in args.clients.split(",")]:
            dirs = []
            for c in range(n):
                d = os.path.join(tmp, f"n{n}-client{c}")
                os.makedirs(d)
                write_tree(d, args.files, c)
                first = subprocess.run([helios, "commit", "--workdir", d], env=env,
                                       capture_output=True, text=True, check=True)
                dirs.append((d, first.stdout.strip().splitlines()[-1]))
            counts = [0] * n
            failures = []
            acknowledged = []
            lock = threading.Lock()
            deadline = time.perf_counter() + args.seconds

            def drive(c):
                d, previous = dirs[c]
                rng = random.Random(1000 + c)
                round_ = 0
                while time.perf_counter() < deadline:
                    round_ += 1
                    edit(d, args.files, rng, round_)
                    out = subprocess.run([helios, "commit", "--workdir", d], env=env,
                                         capture_output=True, text=True)
                    if out.returncode != 0:
                        with lock:
                            failures.append(out.stderr.strip())
                        continue
                    new = out.stdout.strip().splitlines()[-1]
                    with lock:
                        acknowledged.append(new)
                    out = subprocess.run([helios, "checkout", previous, "--workdir", d],
                                         env=env, capture_output=True, text=True)
                    if out.returncode != 0:
                        with lock:
                            failures.append(out.stderr.strip())
                    previous = new
                    counts[c] += 2

            start = time.perf_counter()
            threads = [threading.Thread(target=drive, args=(c,)) for c in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - start
            listed = json.loads(subprocess.run(
                [helios, "--json", "log", "-n", "1000000"], env=env, capture_output=True,
                text=True, check=True).stdout or "[]")
            listed_ids = {s["id"] for s in listed}
            missing = [a for a in acknowledged if a not in listed_ids]
            for d, _ in dirs:
                shutil.rmtree(d)
            result["clients"].append({
                "clients": n, "operations": sum(counts), "wall_s": wall,
                "ops_per_s": sum(counts) / wall, "refusals": len(failures),
                "missing_acknowledged": len(missing),
                "first_failure": failures[0] if failures else None,
            })
        fsck = subprocess.run([helios, "fsck"], env=env, capture_output=True, text=True)
        result["fsck"] = fsck.stdout.strip()
        result["fsck_ok"] = fsck.returncode == 0
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=300)
        shutil.rmtree(tmp, ignore_errors=True)

    print("| per call | P50 ms | P99 ms |")
    print("|---|---|---|")
    for name, v in result["per_call"].items():
        print(f"| {name} | {v['p50_ms']:.2f} | {v['p99_ms']:.2f} |")
    print(f"\nserver's own time for log: {result['server_log_mean_ms']:.3f} ms (mean); "
          f"client overhead P50 {result['client_overhead_p50_ms']:.2f} ms, of which "
          f"{result['client_overhead_p50_ms'] - result['client_overhead_beyond_process_start_p50_ms']:.2f} "
          f"ms is the process start\n")
    print(f"| clients ({args.files} files each) | operations | ops/s | refusals | "
          f"acknowledged and missing |")
    print("|---|---|---|---|---|")
    for c in result["clients"]:
        print(f"| {c['clients']} | {c['operations']} | {c['ops_per_s']:.1f} | {c['refusals']} | "
              f"{c['missing_acknowledged']} |")
    print(f"\nfsck: {result['fsck']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
