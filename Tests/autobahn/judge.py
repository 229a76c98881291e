#!/usr/bin/env python3
"""Judge an Autobahn|Testsuite fuzzingclient report (index.json): wstest itself exits 0 whatever happens.

Passes when there are cases and every case's behavior and behaviorClose is OK, NON-STRICT, INFORMATIONAL or
UNIMPLEMENTED. Prints counts per behavior and the failing cases."""
import json
import sys
from collections import Counter

GOOD = {"OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED"}


def case_key(case_id: str):
    return tuple(int(p) if p.isdigit() else p for p in case_id.split("."))


def main(path: str) -> int:
    try:
        with open(path) as f:
            index = json.load(f)
    except (OSError, ValueError) as exc:
        print(f"autobahn: no usable report at {path}: {exc}")
        return 1
    counts = Counter()
    bad = []
    total = 0
    for agent, cases in index.items():
        for case_id, r in sorted(cases.items(), key=lambda kv: case_key(kv[0])):
            total += 1
            b, bc = r.get("behavior"), r.get("behaviorClose")
            counts[b] += 1
            if b not in GOOD or bc not in GOOD:
                bad.append(f"  {agent} {case_id}: behavior={b} behaviorClose={bc} ({r.get('reportfile', '')})")
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"autobahn: {total} cases ({summary}); {len(bad)} bad")
    for line in bad[:50]:
        print(line)
    if len(bad) > 50:
        print(f"  ... and {len(bad) - 50} more")
    if total == 0:
        print("autobahn: the report has no cases (server down?)")
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
