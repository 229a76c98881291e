#!/usr/bin/env bash
# Group fan-out benchmark (`Bench groups`) on three replicas it starts itself, niced (the machine is shared).
#
#   Tests/bench/group-fanout.sh            a quick run (100 groups × 5), then the default size (1 000 × 10)
#   Tests/bench/group-fanout.sh quick      only the quick run
#   Tests/bench/group-fanout.sh -- ARGS…   one run of `Bench groups --server … ARGS…`
#
# Builds Server and Bench in release mode into $SCRATCH (default .build-bench) first. Results on stdout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SCRATCH="${SCRATCH:-$ROOT/.build-bench}"
cd "$ROOT"
for product in Server Bench; do
  nice swift build -c release --scratch-path "$SCRATCH" --product "$product" >/dev/null
done
BENCH="$SCRATCH/release/Bench"
SERVER="$SCRATCH/release/Server"

run() {
  echo "\$ Bench groups --server $SERVER $*"
  nice -n 10 "$BENCH" groups --server "$SERVER" "$@"
}

case "${1:-}" in
  --) shift; run "$@" ;;
  quick) run --groups 100 --members 5 --messages 2000 --rate 500 ;;
  "") run --groups 100 --members 5 --messages 2000 --rate 500; run ;;
  *) echo "error: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
esac
