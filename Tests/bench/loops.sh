#!/usr/bin/env bash
# One replica, one sender, many receivers (Bench broadcast), the same Server binary with `--loops 1` and `--loops N`
# in interleaved rounds: fan-out deliveries/s for each, unpinned. For "what do more event loops buy here".
#
#   Tests/bench/loops.sh SERVER BENCH [rounds] [receivers] [rate] [loops…]
#
# e.g. Tests/bench/loops.sh .build/release/Server .build/release/Bench 3 4000 1500 1 2   (Bench: 5 000 receivers at most)
# Uses port 5291 / 6291.
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,8p' "$0"; exit 2; }
SERVER="$1"; BENCH="$2"; ROUNDS="${3:-3}"; RECEIVERS="${4:-4000}"; RATE="${5:-1500}"; shift $(( $# >= 5 ? 5 : $# ))
LOOPS=("${@:-1 2}")
[ ${#LOOPS[@]} -eq 1 ] && read -r -a LOOPS <<< "${LOOPS[0]}"
D=$(mktemp -d)
A=
trap '[ -n "$A" ] && kill "$A" 2>/dev/null; rm -rf "$D"' EXIT
cat > "$D/peers.json" <<P
{"cluster":"bench","secret":"bench-secret-0123456789-abcdefgh","replicas":[
 {"id":"a","http":"127.0.0.1:5291","mesh":"127.0.0.1:6291"}]}
P
for round in $(seq "$ROUNDS"); do
  for n in "${LOOPS[@]}"; do
    "$SERVER" --node a --peers "$D/peers.json" --loops "$n" --max-negotiations-per-address 100000 >"$D/a.log" 2>&1 &
    A=$!
    for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:5291/healthz && break; sleep 0.1; done
    printf 'round %s loops %s: ' "$round" "$n"
    "$BENCH" broadcast --send http://127.0.0.1:5291/chatHub --recv http://127.0.0.1:5291/chatHub \
      --receivers "$RECEIVERS" --rate "$RATE" --seconds 6 2>/dev/null | tail -1
    kill "$A"; wait "$A" 2>/dev/null || true
    A=
  done
done
