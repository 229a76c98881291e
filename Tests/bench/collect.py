#!/usr/bin/env python3
"""Collects the loadgen's STEP / SUMMARY lines of a Tests/bench/side-by-side.sh results folder.

    python3 Tests/bench/collect.py DIR
    python3 Tests/bench/collect.py --merge PREFIX DIR...   # PREFIX-steps.csv, PREFIX-summary.csv over several runs

Reads DIR/<workload>.<side>.r<round>.log and writes, in DIR:
  steps.csv    one row per rate step of a fan-out sweep (offered and delivered rate, latency, loss, CPU);
  summary.csv  one row per run: the best sustained step (no loss, p99 <= 500 ms) of a sweep, the latency of an
               echo-latency run, the KB per idle connection of a connections run;
  runs.json    every run with its header comments, STEP and SUMMARY objects as parsed.
With --merge, the steps.csv / summary.csv of each DIR (collected first) go into one pair of files with a first column
`batch` = the DIR's name (what docs/bench-data/side-by-side-*.csv hold). Standard library only.
"""
import csv
import json
import re
import sys
from pathlib import Path

NAME = re.compile(r"^(?P<workload>[\w-]+)\.(?P<side>ours\d*|theirs)\.r(?P<round>\d+)\.log$")
STEP_COLUMNS = ["workload", "side", "round", "pin", "receivers", "rate", "offered_per_s", "delivered_per_s",
                "p50_us", "p90_us", "p99_us", "p999_us", "lost", "dups", "loadgen_cpu_pct", "server_cpu_pct",
                "server_cpu_ns_per_delivery"]
SUMMARY_COLUMNS = ["workload", "side", "round", "pin", "best_rate", "best_delivered_per_s", "best_p50_us",
                   "best_p99_us", "first_failing_rate", "failing_reason", "max_loadgen_cpu_pct", "p50_us",
                   "p99_us", "p999_us", "kb_per_conn", "lost", "dups", "loadgen_exit"]


def parse(path):
    """One log: header comments, STEP objects, the SUMMARY object (or None)."""
    run = {"file": path.name, "comments": [], "steps": [], "summary": None}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("STEP "):
            run["steps"].append(json.loads(line[5:]))
        elif line.startswith("SUMMARY "):
            run["summary"] = json.loads(line[8:])
        elif line.startswith("# "):
            run["comments"].append(line[2:])
    return run


def pin_of(run):
    first = run["comments"][0] if run["comments"] else ""
    return "unpinned" if "(unpinned)" in first else "pinned" if "(pinned)" in first else ""


def loadgen_exit(run):
    for c in run["comments"]:
        if c.startswith("loadgen exit"):
            return c.split()[-1]
    return ""


def sustained(step):
    return step.get("lost", 1) == 0 and step.get("dups", 1) == 0 and step.get("p99us", 1e12) <= 500_000


def main(folder):
    folder = Path(folder)
    runs, step_rows, summary_rows = [], [], []
    for path in sorted(folder.glob("*.log")):
        m = NAME.match(path.name)
        if not m or path.name.endswith(".server.log"):
            continue
        run = parse(path)
        run.update(m.groupdict())
        run["pin"] = pin_of(run)
        runs.append(run)
        key = {"workload": run["workload"], "side": run["side"], "round": run["round"], "pin": run["pin"]}
        for s in run["steps"]:
            step_rows.append({**key, "receivers": s.get("receivers"), "rate": s.get("rate"),
                              "offered_per_s": s.get("offeredDeliveriesPerSec"),
                              "delivered_per_s": round(s.get("deliveredPerSec", 0)),
                              "p50_us": s.get("p50us"), "p90_us": s.get("p90us"), "p99_us": s.get("p99us"),
                              "p999_us": s.get("p999us"), "lost": s.get("lost"), "dups": s.get("dups"),
                              "loadgen_cpu_pct": s.get("loadgenCPUpct"), "server_cpu_pct": s.get("serverCPUpct"),
                              # CPU time (user + kernel, all server processes) per delivery over the send window
                              "server_cpu_ns_per_delivery": round(s["serverCPUpct"] / 100 * 1e9 / s["deliveredPerSec"])
                              if s.get("serverCPUpct") is not None and s.get("deliveredPerSec") else None})
        row = {**key, "loadgen_exit": loadgen_exit(run)}
        summ = run["summary"] or {}
        if summ.get("mode") == "echo-latency" and run["steps"]:
            s = run["steps"][0]
            row.update(p50_us=s.get("p50us"), p99_us=s.get("p99us"), p999_us=s.get("p999us"), lost=s.get("lost"),
                       dups=s.get("dups"), max_loadgen_cpu_pct=s.get("loadgenCPUpct"))
        elif run["steps"]:
            good = [s for s in run["steps"] if sustained(s)]
            bad = [s for s in run["steps"] if not sustained(s)]
            if good:
                best = max(good, key=lambda s: s["rate"])
                row.update(best_rate=best["rate"], best_delivered_per_s=round(best["deliveredPerSec"]),
                           best_p50_us=best["p50us"], best_p99_us=best["p99us"])
            else:
                row.update(best_rate=0)
            if bad:
                b = bad[0]
                row["first_failing_rate"] = b["rate"]
                row["failing_reason"] = ("lost %d" % b["lost"]) if b.get("lost") else \
                    ("dups %d" % b["dups"]) if b.get("dups") else "p99 %.0f ms" % (b["p99us"] / 1000)
            row["max_loadgen_cpu_pct"] = max(s.get("loadgenCPUpct", 0) for s in run["steps"])
            row["lost"] = sum(s.get("lost", 0) for s in run["steps"])
            row["dups"] = sum(s.get("dups", 0) for s in run["steps"])
        elif summ.get("mode") == "connections":
            row.update(kb_per_conn=summ.get("KBPerConnHeld"))
        elif summ:
            for k_out, k_in in (("p50_us", "p50us"), ("p99_us", "p99us"), ("p999_us", "p999us"),
                                ("lost", "lost"), ("dups", "dups")):
                row[k_out] = summ.get(k_in)
            row["max_loadgen_cpu_pct"] = summ.get("loadgenCPUpct")
        summary_rows.append(row)
    for name, columns, rows in (("steps.csv", STEP_COLUMNS, step_rows), ("summary.csv", SUMMARY_COLUMNS, summary_rows)):
        with (folder / name).open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
    (folder / "runs.json").write_text(json.dumps(runs, indent=1) + "\n", encoding="utf-8")
    print(f"collected {len(runs)} runs, {len(step_rows)} steps into {folder}/steps.csv, summary.csv, runs.json",
          file=sys.stderr)


def merge(prefix, folders):
    for kind in ("steps", "summary"):
        out_rows, columns = [], None
        for folder in folders:
            main(folder)
            with (Path(folder) / f"{kind}.csv").open(encoding="utf-8") as f:
                reader = csv.DictReader(f)
                columns = ["batch"] + reader.fieldnames
                out_rows += [{"batch": Path(folder).name, **r} for r in reader]
        with open(f"{prefix}-{kind}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=columns)
            w.writeheader()
            w.writerows(out_rows)
        print(f"wrote {prefix}-{kind}.csv ({len(out_rows)} rows)", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "--merge":
        merge(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 2:
        main(sys.argv[1])
    else:
        sys.exit(__doc__)
