#!/usr/bin/env bash
# Two server builds side by side, interleaved rounds, the same Bench client for both: cross-replica latency and a
# cross-replica broadcast (sender on a, receivers on b). For "what did this change cost" as a ratio in one run.
#
#   Tests/bench/compare-builds.sh BASE_SERVER NEW_SERVER [rounds] [broadcast rates…]
#
# e.g. git worktree add /tmp/base 8f9806c && (cd /tmp/base && swift build -c release --product Server)
#      Tests/bench/compare-builds.sh /tmp/base/.build/release/Server .build/release/Server 2 800 1200
# Uses ports 5201-5202 / 6201-6202 and .build/release/Bench (built if missing).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
[ $# -ge 2 ] || { sed -n '2,9p' "$0"; exit 2; }
BASE="$1"; NEW="$2"; ROUNDS="${3:-2}"; shift $(( $# >= 3 ? 3 : 2 ))
RATES=("${@:-800}")
BENCH="$ROOT/.build/release/Bench"
[ -x "$BENCH" ] || swift build --package-path "$ROOT" -c release --product Bench >/dev/null
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
cat > "$D/peers.json" <<P
{"cluster":"bench","secret":"bench-secret-0123456789-abcdefgh","replicas":[
 {"id":"a","http":"127.0.0.1:5201","mesh":"127.0.0.1:6201"},
 {"id":"b","http":"127.0.0.1:5202","mesh":"127.0.0.1:6202"}]}
P
run() { # label binary
  "$2" --node a --peers "$D/peers.json" >"$D/a.log" 2>&1 & local A=$!
  "$2" --node b --peers "$D/peers.json" >"$D/b.log" 2>&1 & local B=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null http://127.0.0.1:5201/healthz && curl -s -o /dev/null http://127.0.0.1:5202/healthz && break
    sleep 0.1
  done
  echo "== $1 latency"
  "$BENCH" latency --send http://127.0.0.1:5201/chatHub --recv http://127.0.0.1:5202/chatHub --rate 1000 --seconds 8 \
    --warmup 1 2>/dev/null | grep -E "cross-replica|server code"
  for rate in "${RATES[@]}"; do
    echo "== $1 broadcast $rate msg/s"
    "$BENCH" broadcast --send http://127.0.0.1:5201/chatHub --recv http://127.0.0.1:5202/chatHub --receivers 2000 \
      --rate "$rate" --seconds 6 2>/dev/null | tail -1
  done
  kill "$A" "$B"; wait "$A" "$B" 2>/dev/null || true
}
for round in $(seq "$ROUNDS"); do run "base r$round" "$BASE"; run "new r$round" "$NEW"; done
