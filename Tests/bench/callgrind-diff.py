#!/usr/bin/env python3
"""Instructions per unit of work from two callgrind sessions of different lengths (B longer than A): start-up and
the tail are the same in both and cancel out of B - A, which is divided by the difference in work done (deliveries,
messages). Reads the `callgrind_annotate | swift demangle` listings PREFIX.fn.txt (inclusive) and PREFIX.self.txt.

    callgrind-diff.py PREFIX_A PREFIX_B DONE_A DONE_B LABEL UNIT [INCLUSIVE_ROWS]

Used by callgrind-fanout.sh (UNIT = delivery) and callgrind-link.sh (UNIT = message). Standard library only."""
import re
import sys

fa, fb, da, db, label, unit = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
inclusive_rows = int(sys.argv[7]) if len(sys.argv) > 7 else 30
line = re.compile(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*?)(?: \[[^\]]*\])?$")


def costs(path, add):
    out, total = {}, 0
    for text in open(path, encoding="utf-8", errors="replace"):
        m = line.match(text)
        if not m:
            continue
        n = int(m.group(1).replace(",", ""))
        name = m.group(2).split(":", 1)[-1] if ":" in m.group(2) else m.group(2)
        name = re.sub(r" \([\d,]+x\)$", "", name)
        if name == "PROGRAM TOTALS" or m.group(2) == "PROGRAM TOTALS":
            total = n
            continue
        # a function listed twice (its own file and inlined code's): self costs add up, inclusive ones don't
        out[name] = out.get(name, 0) + n if add else max(out.get(name, 0), n)
    return out, total


plural = unit[:-1] + "ies" if unit.endswith("y") else unit + "s"
d = db - da
if d <= 0:
    sys.exit(f"callgrind-diff: session B did no more work than A ({db} vs {da})")
for kind, count in (("fn", inclusive_rows), ("self", 30)):
    a, ta = costs(fa + "." + kind + ".txt", kind == "self")
    b, tb = costs(fb + "." + kind + ".txt", kind == "self")
    if kind == "fn":
        print(f"{label}: {(tb - ta) / d:.0f} instructions per {unit} (B - A: {tb - ta:,} instructions / {d:,} {plural})")
    print("top functions, %s, per %s (share of the B - A difference):" % ("inclusive" if kind == "fn" else "self", unit))
    rows = sorted(((b.get(k, 0) - a.get(k, 0), k) for k in set(a) | set(b)), reverse=True)
    for diff, k in rows[:count]:
        print(f"  {diff / d:8.0f}  {100 * diff / (tb - ta):5.1f}%  {k[:170]}")
