#!/usr/bin/env python3
"""Draws the benchmark figures of docs/benchmarks.md from the data in docs/bench-data/*.csv into docs/img/*.png.

    python3 -m venv /tmp/plot && /tmp/plot/bin/pip install matplotlib
    /tmp/plot/bin/python Tests/bench/plot.py            # every plot whose data file exists
    /tmp/plot/bin/python Tests/bench/plot.py latency    # only the named ones

matplotlib is not a test dependency (CI doesn't plot). Lines starting with '#' in a data file are comments.
Each plot also prints the ratios it shows, so the text of docs/benchmarks.md can be checked against the data.
"""
import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "docs" / "bench-data"
IMG = ROOT / "docs" / "img"
OURS, PEER = "#1f6fb4", "#b0b0b0"   # this server, the comparison in the same run
DPI = 110


def rows(name):
    """The rows of docs/bench-data/<name>.csv as dicts (comment lines skipped), or None when it is missing."""
    path = DATA / f"{name}.csv"
    if not path.exists():
        print(f"skip: {path.relative_to(ROOT)} not found")
        return None
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def num(text):
    return float(text) if text not in (None, "") else None


def mid(lo, hi):
    return (lo + hi) / 2


def save(fig, name):
    IMG.mkdir(parents=True, exist_ok=True)
    out = IMG / f"{name}.png"
    fig.savefig(out, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {out.relative_to(ROOT)}")


def range_bar(ax, y, lo, hi, color, height, label=None):
    """A horizontal bar from lo to hi (a thin one with end ticks when lo == hi)."""
    if hi - lo < 1e-9:
        ax.plot([lo], [y], marker="|", markersize=14, mew=3, color=color, label=label)
    else:
        ax.barh(y, hi - lo, left=lo, height=height, color=color, label=label)


def latency():
    data = rows("latency")
    if data is None:
        return
    configs = list(dict.fromkeys(r["config"] for r in data))
    by = {(r["config"], r["series"]): r for r in data}
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.75 * len(configs) + 1.4), sharey=True)
    for ax, pct, target, xmax in ((axes[0], "p50", 200, 300), (axes[1], "p99", 350, 960)):
        for i, config in enumerate(configs):
            y = len(configs) - 1 - i
            rep, flo = by[(config, "replicas")], by[(config, "floor")]
            r_lo, r_hi = num(rep[f"{pct}_min"]), num(rep[f"{pct}_max"])
            f_lo, f_hi = num(flo[f"{pct}_min"]), num(flo[f"{pct}_max"])
            # A range narrower than 1 % of the axis is drawn 1 % wide, so it stays visible.
            pad = xmax / 200
            range_bar(ax, y + 0.17, r_lo - pad, r_hi + pad, OURS, 0.3, "replicas (Bench latency)" if i == 0 else None)
            range_bar(ax, y - 0.17, f_lo - pad, f_hi + pad, PEER, 0.3,
                      "floor (Bench floor, same session)" if i == 0 else None)
            ratio = mid(r_lo, r_hi) / mid(f_lo, f_hi)
            ax.text(max(r_hi, f_hi) + xmax / 60, y, f"×{ratio:.2f}", va="center", fontsize=9)
            print(f"latency {pct} {config}: replicas/floor = {ratio:.2f} (midpoints)")
        ax.axvline(target, color="#c0392b", linestyle="--", linewidth=1)
        ax.text(target, len(configs) - 0.55, f" target {target} µs", color="#c0392b", fontsize=8, va="bottom")
        ax.set_xlabel(f"cross-replica latency {pct} (µs), range over the session's rounds")
        ax.set_xlim(0, xmax)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(configs)))
    axes[0].set_yticklabels(list(reversed(configs)), fontsize=9)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=2, fontsize=9, bbox_to_anchor=(0.5, -0.06))
    fig.suptitle("Cross-replica latency (1 000 msg/s, 64 B) against the machine's floor; ×: ratio of range midpoints",
                 fontsize=11)
    save(fig, "latency-vs-floor")


def seams():
    data = rows("seams")
    if data is None:
        return
    by = {(r["round"], r["build"]): r for r in data}
    rounds = sorted({r["round"] for r in data})
    metrics = (("cross_p50", "cross-replica p50 (µs)"), ("cross_p99", "cross-replica p99 (µs)"),
               ("sender_turn_p50", "sending replica, wake-up → first write, p50 (µs)"))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, (key, title) in zip(axes, metrics):
        for k, rnd in enumerate(rounds):
            base, new = num(by[(rnd, "base")][key]), num(by[(rnd, "new")][key])
            ax.bar(k - 0.18, base, 0.34, color=PEER, label="base 8f9806c" if k == 0 else None)
            ax.bar(k + 0.18, new, 0.34, color=OURS, label="with the seams" if k == 0 else None)
            ax.text(k, max(base, new) * 1.02, f"×{new / base:.2f}", ha="center", fontsize=9)
            print(f"seams {key} round {rnd}: new/base = {new / base:.2f}")
        ax.set_xticks(range(len(rounds)))
        ax.set_xticklabels([f"round {r}" for r in rounds])
        ax.set_title(title, fontsize=10)
        top = max(num(r[key]) for r in data)
        ax.set_ylim(0, top * 1.15)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower left")
    fig.suptitle("Two builds interleaved (Tests/bench/compare-builds.sh): per round, new ÷ base", fontsize=11)
    save(fig, "seams-base-vs-new")


def link():
    rates, cpu = rows("link"), rows("link-cpu")
    if rates is None or cpu is None:
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    rounds = sorted({r["round"] for r in rates})
    by = {(r["round"], r["mode"]): num(r["msgs_per_s"]) / 1e6 for r in rates}
    for k, rnd in enumerate(rounds):
        clear, enc = by[(rnd, "clear")], by[(rnd, "encrypted")]
        left.bar(k - 0.18, clear, 0.34, color=PEER, label="clear" if k == 0 else None)
        left.bar(k + 0.18, enc, 0.34, color=OURS, label="encrypted" if k == 0 else None)
        left.text(k, max(clear, enc) + 0.06, f"×{enc / clear:.2f}", ha="center", fontsize=9)
        print(f"link round {rnd}: encrypted/clear msgs/s = {enc / clear:.2f}")
    left.axhline(2.0, color="#c0392b", linestyle="--", linewidth=1, label="target for the encrypted link: 2M/s")
    left.set_xticks(range(len(rounds)))
    left.set_xticklabels([f"round {r}" for r in rounds])
    left.set_ylabel("million messages/s (wall clock)")
    left.set_title("Throughput per round (shared host: noisy)", fontsize=10)
    left.set_ylim(0, 5)
    left.legend(fontsize=8, loc="upper left")
    left.grid(axis="y", alpha=0.3)
    sides = list(dict.fromkeys(r["side"] for r in cpu))
    cb = {(r["side"], r["mode"]): (num(r["ns_min"]), num(r["ns_max"])) for r in cpu}
    # The ratio the run reported (from its per-round figures) where the data file has one, else the midpoints'.
    reported = {r["side"]: num(r.get("reported_ratio")) for r in cpu if r["mode"] == "encrypted"}
    for k, side in enumerate(sides):
        (c_lo, c_hi), (e_lo, e_hi) = cb[(side, "clear")], cb[(side, "encrypted")]
        right.bar(k - 0.18, mid(c_lo, c_hi), 0.34, yerr=[[mid(c_lo, c_hi) - c_lo], [c_hi - mid(c_lo, c_hi)]],
                  color=PEER, capsize=4, label="clear" if k == 0 else None)
        right.bar(k + 0.18, mid(e_lo, e_hi), 0.34, yerr=[[mid(e_lo, e_hi) - e_lo], [e_hi - mid(e_lo, e_hi)]],
                  color=OURS, capsize=4, label="encrypted" if k == 0 else None)
        ratio = mid(e_lo, e_hi) / mid(c_lo, c_hi)
        shown = reported.get(side) or ratio
        right.text(k, e_hi + 8, f"×{shown:.2f}", ha="center", fontsize=9)
        print(f"link CPU {side}: encrypted/clear ns per message = {shown:.2f} as reported ({ratio:.2f} from midpoints)")
    right.set_xticks(range(len(sides)))
    right.set_xticklabels(sides)
    right.set_ylabel("CPU ns per message")
    right.set_title("CPU per message (the figure to trust here)", fontsize=10)
    right.set_ylim(0, 300)
    right.legend(fontsize=8, loc="upper left")
    right.grid(axis="y", alpha=0.3)
    fig.suptitle("One mesh link, 64-byte messages: clear vs ChaCha20-Poly1305 records, interleaved rounds", fontsize=11)
    save(fig, "link-clear-vs-encrypted")


def crypto():
    data = rows("crypto")
    if data is None:
        return
    fig, ax = plt.subplots(figsize=(7, 3.4))
    labels = []
    for k, r in enumerate(data):
        lo, hi = num(r["ratio_min"]), num(r["ratio_max"])
        m = mid(lo, hi)
        ax.bar(k, m, 0.6, color=OURS, yerr=[[m - lo], [hi - m]] if hi > lo else None, capsize=4)
        ax.text(k, hi + 0.03, f"×{lo:.2f}" if hi == lo else f"×{lo:.2f}–{hi:.2f}", ha="center", fontsize=9)
        size = "100 B" if r["record_bytes"] == "100" else f"{int(r['record_bytes']) // 1024} KiB"
        labels.append(f"{r['op']}\n{size} records")
    ax.axhline(1.0, color=PEER, linewidth=2)
    ax.text(len(data) - 0.5, 1.02, "OpenSSL = 1", ha="right", fontsize=8, color="#606060")
    ax.set_xticks(range(len(data)))
    ax.set_xticklabels(labels, fontsize=9)
    ax.set_ylabel("our rate ÷ OpenSSL's")
    ax.set_ylim(0, 1.4)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("ChaCha20-Poly1305 (Bench crypto) against openssl speed, same minute", fontsize=10)
    save(fig, "crypto-vs-openssl")


def connections():
    data = rows("connections")
    if data is None:
        return
    colors = {"measured": OURS, "target": "#c0392b", "reference": PEER}
    fig, ax = plt.subplots(figsize=(8, 2.8))
    for k, r in enumerate(reversed(data)):
        kb = num(r["bytes_per_connection"]) / 1000
        ax.barh(k, kb, 0.6, color=colors[r["kind"]])
        ax.text(kb + 0.3, k, f"{kb:.2f} KB" if kb < 2 else f"{kb:.1f} KB", va="center", fontsize=9)
    ax.set_yticks(range(len(data)))
    ax.set_yticklabels([f"{r['what']} ({r['kind']})" for r in reversed(data)], fontsize=9)
    ax.set_xlabel("resident memory per idle hub connection (KB)")
    ax.set_xlim(0, 28)
    ax.grid(axis="x", alpha=0.3)
    ours = next(num(r["bytes_per_connection"]) for r in data if r["kind"] == "measured")
    target = next(num(r["bytes_per_connection"]) for r in data if r["kind"] == "target")
    print(f"connections: target/ours = {target / ours:.1f}")
    ax.set_title("Memory per idle connection (references: other runs on this machine kind)", fontsize=10)
    save(fig, "memory-per-connection")


def recovery():
    data = rows("recovery")
    if data is None:
        return
    fig, ax = plt.subplots(figsize=(10, 0.42 * len(data) + 1.2))
    for k, r in enumerate(reversed(data)):
        lo, hi = num(r["low"]), num(r["high"])
        color = "#6c8ebf" if r["event"].startswith("chaos") else OURS
        if hi / lo < 1.05:
            ax.plot([lo], [k], marker="o", color=color)
        else:
            ax.plot([lo, hi], [k, k], color=color, linewidth=6, solid_capstyle="butt")
        label = {"range": "", "one run": " (one run)", "median–max": " (median–max)"}[r["meaning"]]
        text = f"{lo * 1000:.0f}–{hi * 1000:.0f} ms" if hi > lo * 1.05 else f"{lo * 1000:.0f} ms"
        ax.text(hi * 1.15, k, text + label, va="center", fontsize=8)
    ax.axvline(1.2, color="#c0392b", linestyle="--", linewidth=1)
    ax.text(1.25, len(data) - 1, "failure timeout 1.2 s", color="#c0392b", fontsize=8, va="center")
    ax.set_xscale("log")
    ax.set_xlim(0.0008, 8)
    ax.set_yticks(range(len(data)))
    ax.set_yticklabels([r["event"] for r in reversed(data)], fontsize=9)
    ax.set_xlabel("seconds (log scale)")
    ax.grid(axis="x", alpha=0.3, which="both")
    ax.set_title("Noticing failures and recovering (process tests, netns test, 10-minute chaos run)", fontsize=10)
    save(fig, "recovery-times")


FANOUT_TITLES = {"fan1k": "1 replica, 1 000 receivers", "fan10k": "1 replica, 10 000 receivers",
                 "fan19k": "1 replica, 19 500 receivers", "fan3x5k": "3 replicas × 5 000 receivers"}


def fanout_figure(lines, title, limits, name):
    """Delivered rate and p99 against offered rate, one line per (side, round): `lines` holds (label, ours, loops,
    faint, points) with points (offered M/s, delivered M/s, p99 ms, failed). `limits`: the p99 limits (ms) to mark."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    top = 0
    for label, ours, loops, faint, pts in lines:
        off = [p[0] for p in pts]
        dlv = [p[1] for p in pts]
        p99 = [p[2] for p in pts]
        top = max(top, max(off), max(dlv))
        many = loops not in ("", "1")
        style = dict(color=OURS if ours else "#707070", linestyle=("-." if many else "-") if ours else "--",
                     marker=("^" if many else "o") if ours else "s",
                     markersize=4, linewidth=1.6 if ours else 1.3, alpha=0.5 if faint else 0.9)
        ax1.plot(off, dlv, label=label, **style)
        ax2.plot([x for x, y in zip(off, p99) if y is not None], [y for y in p99 if y is not None], label=label, **style)
        for x, d, y, failed in pts:
            if failed:
                ax1.plot([x], [d], marker="x", color="#c0392b", markersize=9, mew=2)
                if y is not None:
                    ax2.plot([x], [y], marker="x", color="#c0392b", markersize=9, mew=2)
    ax1.plot([0, top], [0, top], color="#c8c8c8", linewidth=1, zorder=0)
    ax1.set_xlabel("offered deliveries (M/s)")
    ax1.set_ylabel("delivered (M/s)")
    ax1.set_xlim(0, top * 1.05)
    ax1.set_ylim(0, top * 1.05)
    ax1.grid(alpha=0.3)
    for limit in limits:
        ax2.axhline(limit, color="#c0392b", linestyle="--", linewidth=1)
        ax2.text(0, limit * 1.04, f" p99 limit {limit:g} ms", color="#c0392b", fontsize=8, va="bottom")
    ax2.set_yscale("log")
    ax2.set_xlabel("offered deliveries (M/s)")
    ax2.set_ylabel("p99 latency (ms, log)")
    ax2.set_xlim(0, top * 1.05)
    ax2.grid(alpha=0.3, which="both")
    handles, labels = ax1.get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=2, fontsize=7, bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(title, fontsize=11)
    save(fig, name)


def by_workload(name, titles):
    """(workload, title, its rows) for each workload of `titles` that docs/bench-data/<name>.csv has rows of."""
    data = rows(name) or []
    for workload, title in titles.items():
        sel = [r for r in data if r["workload"] == workload]
        if sel:
            yield workload, title, sel


def side_by_side():
    """Fan-out sweeps of Tests/bench/side-by-side.sh (docs/bench-data/side-by-side-steps.csv): delivered rate and p99
    against the offered rate, ours against the NIO peer (NIO + Redis for 3 × 5k), one line per interleaved round."""
    for workload, title, sel in by_workload("side-by-side-steps", FANOUT_TITLES):
        peer = "NIO + Redis" if workload == "fan3x5k" else "NIO (hb-signalr)"
        lines = []
        for (batch, side, rnd, pin) in sorted({(r["batch"], r["side"], r["round"], r["pin"]) for r in sel}):
            pts = sorted((r for r in sel if (r["batch"], r["side"], r["round"], r["pin"]) == (batch, side, rnd, pin)),
                         key=lambda r: num(r["rate"]))
            ours = side.startswith("ours")
            loops = side[4:]  # "oursN": ours with --loops N
            who = (f"ours, --loops {loops}" if loops else "ours (mesh)") if ours else peer
            lines.append((f"{who}, {batch} round {rnd}, {pin}", ours, loops, pin != "pinned",
                          [(num(r["offered_per_s"]) / 1e6, num(r["delivered_per_s"]) / 1e6, num(r["p99_us"]) / 1000,
                            num(r["lost"]) > 0) for r in pts]))
        fanout_figure(lines, f"Fan-out, {title}: ours vs {peer}, same loadgen, interleaved (× = messages lost)", [500],
                      f"side-by-side-{workload}")
    summ = rows("side-by-side-summary")
    if summ is None:
        return
    for workload in FANOUT_TITLES:
        best = {side: [num(r["best_rate"]) for r in summ if r["workload"] == workload and r["side"] == side]
                for side in sorted({r["side"] for r in summ})}
        if any(best.values()):
            print(f"side-by-side {workload}: best sustained rate " + ", ".join(f"{k} {v}" for k, v in best.items() if v))


BENCH_FANOUT_TITLES = {"fan10k": "1 replica, 10 000 receivers", "fan19k": "1 replica, 19 500 receivers",
                       "fan3x5k": "3 replicas × 5 000 receivers", "loops5k": "1 replica, 5 000 receivers, --loops 1 vs 2"}
SIDE_NAMES = {"nio": "NIO (hb-signalr)", "redis3": "NIO + Redis", "mesh3": "ours (mesh)"}


def bench_fanout():
    """Fan-out sweeps of Tests/bench/bench-fanout.sh, Bench as the client (docs/bench-data/bench-fanout-steps.csv):
    delivered rate and p99 against the offered rate, one line per side and round; prints each side's best rates."""
    for workload, title, sel in by_workload("bench-fanout-steps", BENCH_FANOUT_TITLES):
        lines = []
        for (batch, side, rnd) in sorted({(r["batch"], r["side"], r["round"]) for r in sel}):
            pts = sorted((r for r in sel if (r["batch"], r["side"], r["round"]) == (batch, side, rnd)),
                         key=lambda r: num(r["rate"]))
            ours = side.startswith("ours") or side == "mesh3"
            loops = side[4:] if side.startswith("ours") else ""
            who = SIDE_NAMES.get(side, f"ours, --loops {loops}")
            lines.append((f"{who}, {batch} round {rnd}", ours, loops, False,
                          [(num(r["offered_per_s"]) / 1e6, num(r["delivered_per_s"]) / 1e6, num(r["p99_ms"]),
                            r["passed"] == "0") for r in pts]))
            passed = [int(r["rate"]) for r in pts if r["passed"] == "1"]
            # the sweep stops at its first failure, so the best is the last pass before it
            print(f"bench-fanout {workload} {batch} round {rnd} {side}: best {max(passed) if passed else 0} msg/s")
        limits = sorted({500} | ({1000} if workload == "fan19k" else set()) | ({2500} if workload == "fan3x5k" else set()))
        fanout_figure(lines, f"Fan-out, {title}: Bench as the client, interleaved, pinned unless said (× = step failed)",
                      limits if workload != "loops5k" else [], f"bench-fanout-{workload}")


PLOTS = {"latency": latency, "seams": seams, "link": link, "crypto": crypto, "connections": connections,
         "recovery": recovery, "side-by-side": side_by_side, "bench-fanout": bench_fanout}

if __name__ == "__main__":
    wanted = sys.argv[1:] or list(PLOTS)
    unknown = [w for w in wanted if w not in PLOTS]
    if unknown:
        sys.exit(f"error: unknown plot {', '.join(unknown)} (known: {', '.join(PLOTS)})")
    for name in wanted:
        PLOTS[name]()
