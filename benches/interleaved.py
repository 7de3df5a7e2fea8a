#!/usr/bin/env python3
"""Times whole commands as a script meets them: each one started as a
process, N rounds, the commands taking turns within a round so that the
machine's drift touches all of them alike.

Usage: python3 benches/interleaved.py N NAME=COMMAND [NAME=COMMAND ...]
  e.g. python3 benches/interleaved.py 400 true=/bin/true \
           "log=target/release/helios --store S log -n 1"
Prints each command's P50 and P99 wall time (a command is split on
spaces; its output is discarded).
"""

import subprocess
import sys
import time


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    rounds = int(sys.argv[1])
    commands = dict(arg.split("=", 1) for arg in sys.argv[2:])
    times = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            start = time.perf_counter()
            subprocess.run(command.split(), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
            times[name].append(time.perf_counter() - start)
    for name, samples in times.items():
        samples.sort()
        p50 = samples[len(samples) // 2]
        p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
        print(f"{name:32s} P50 {1e3 * p50:7.2f} ms   P99 {1e3 * p99:7.2f} ms")


if __name__ == "__main__":
    main()
