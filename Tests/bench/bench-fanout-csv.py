#!/usr/bin/env python3
"""Turns the output of Tests/bench/bench-fanout.sh into CSV rows (one per step), for docs/bench-data and plot.py.

    python3 Tests/bench/bench-fanout-csv.py WORKLOAD:BATCH:STOP_P99:FILE … > docs/bench-data/bench-fanout-steps.csv

WORKLOAD names the layout (fan10k, fan19k, fan3x5k, loops5k), BATCH the set of rounds, STOP_P99 the p99 limit (ms) the
sweep used, 0 for a sweep that ended on loss alone (before the script had a p99 limit). A step "passed" when every
message reached every receiver and p99 ≤ STOP_P99, as in the script.
"""
import csv
import re
import sys

STEP = re.compile(r"^round (\d+) (\S+) rate (\d+): +(\d+) sent, (\d+) of (\d+) deliveries \(([\d.]+)%\), (\d+) deliveries/s")
LATENCY = re.compile(r"latency over \d+ receivers: p50 ([\d.]+) ms, p99 ([\d.]+) ms, max ([\d.]+) ms; duplicates (\d+)")
CPU = re.compile(r"CPU seconds: (?:replica|server|servers) ([\d.]+), Bench ([\d.]+)")
ENDED = re.compile(r"(\d+) receiver connection\(s\) ended")
SECONDS = 6  # bench-fanout.sh runs Bench for 6 s per step

FIELDS = ["workload", "batch", "round", "side", "rate", "offered_per_s", "delivered_per_s", "delivered_share",
          "p50_ms", "p99_ms", "max_ms", "duplicates", "receivers_dropped", "server_cpu_s", "bench_cpu_s", "passed"]


def steps(workload, batch, stop_p99, path):
    row = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if m := STEP.match(line):
                if row:
                    yield finish(row, stop_p99)
                rnd, side, rate, _sent, got, expected, share, per_s = m.groups()
                row = dict(workload=workload, batch=batch, round=rnd, side=side, rate=rate,
                           offered_per_s=round(int(expected) / SECONDS), delivered_per_s=per_s, delivered_share=share,
                           p50_ms="", p99_ms="", max_ms="", duplicates="", receivers_dropped=0,
                           server_cpu_s="", bench_cpu_s="")
            elif row and (m := LATENCY.search(line)):
                row.update(p50_ms=m[1], p99_ms=m[2], max_ms=m[3], duplicates=m[4])
            elif row and (m := ENDED.search(line)):
                row["receivers_dropped"] = m[1]
            elif row and (m := CPU.search(line)):
                row.update(server_cpu_s=m[1], bench_cpu_s=m[2])
    if row:
        yield finish(row, stop_p99)


def finish(row, stop_p99):
    ok = row["delivered_share"] == "100.00" and (
        stop_p99 == 0 or (row["p99_ms"] != "" and float(row["p99_ms"]) <= stop_p99))
    row["passed"] = int(ok)
    return row


def main(args):
    if not args:
        sys.exit(__doc__)
    out = csv.DictWriter(sys.stdout, FIELDS, lineterminator="\n")
    out.writeheader()
    for arg in args:
        try:
            workload, batch, stop, path = arg.split(":", 3)
            stop_p99 = float(stop)
        except ValueError:
            sys.exit(f"error: '{arg}' is not WORKLOAD:BATCH:STOP_P99:FILE")
        for row in steps(workload, batch, stop_p99, path):
            out.writerow(row)


if __name__ == "__main__":
    main(sys.argv[1:])
