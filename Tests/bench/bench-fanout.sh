#!/usr/bin/env bash
# Fan-out driven by our own load client (Bench broadcast: one sender, many receivers, most of them only counting,
# so the client spends less CPU per message than the server): the highest rate each side sustains, in interleaved
# rounds. For what the NIO load generator can't show, because it needs more CPU than the servers it loads.
#
#   Tests/bench/bench-fanout.sh SERVER BENCH [rounds] [receivers] [rates] [sides…]
#
# sides: oursN (our replica with --loops N; default "ours1 ours2") or nio (the SwiftNIO/Hummingbird peer, $NIO,
#   default ../shared/peers/hb-signalr/.build/release/HBSignalR; see ../shared/peers/README.md).
# rates: one rate (msg/s), or a comma list swept upward: a side's best is the highest rate at which every message
#   reached every receiver and the p99 latency (sampled over 100 receivers) stayed within $STOP_P99 ms (default
#   500); its sweep stops at the first rate that fails. Each step starts a fresh server.
# PIN=pinned puts the server on CPU 0 and Bench on CPU 1 (default unpinned). Prints each step, the CPU seconds the
# server and Bench used, and each side's best per round. Uses port 5291 / 6291.
# e.g. Tests/bench/bench-fanout.sh .build/release/Server .build/release/Bench 3 5000 5000,6000,7000,8000 ours1 ours2
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,16p' "$0"; exit 2; }
SERVER="$1"; BENCH="$2"; ROUNDS="${3:-3}"; RECEIVERS="${4:-4000}"; RATES="${5:-1500}"; shift $(( $# >= 5 ? 5 : $# ))
SIDES=("${@:-ours1 ours2}")
[ ${#SIDES[@]} -eq 1 ] && read -r -a SIDES <<< "${SIDES[0]}"
IFS=, read -r -a RATE_LIST <<< "$RATES"
NIO="${NIO:-$(cd "$(dirname "$0")/../.." && pwd)/../shared/peers/hb-signalr/.build/release/HBSignalR}"
STOP_P99="${STOP_P99:-500}"
PIN="${PIN:-unpinned}"
case "$PIN" in
  pinned) SPIN=(taskset -c 0); BPIN=(taskset -c 1) ;;
  unpinned) SPIN=(); BPIN=() ;;
  *) echo "PIN must be pinned or unpinned, got '$PIN'" >&2; exit 2 ;;
esac
for side in "${SIDES[@]}"; do
  case "$side" in
    ours[1-9]*) ;;
    nio) [ -x "$NIO" ] || { echo "nio: no HBSignalR binary at $NIO (set NIO=…)" >&2; exit 2; } ;;
    *) echo "unknown side '$side' (oursN or nio)" >&2; exit 2 ;;
  esac
done
D=$(mktemp -d)
A=
trap '[ -n "$A" ] && kill "$A" 2>/dev/null; rm -rf "$D"' EXIT
cat > "$D/peers.json" <<P
{"cluster":"bench","secret":"bench-secret-0123456789-abcdefgh","replicas":[
 {"id":"a","http":"127.0.0.1:5291","mesh":"127.0.0.1:6291"}]}
P
# utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15; the name in field 2 has no spaces).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
TIMEFORMAT='%U %S'

# One step: a fresh server for side $1, Bench at $2 msg/s. Prints the step and sets FAILED (1 when a message
# failed to reach a receiver, p99 went over STOP_P99, or Bench failed).
step() {
  case "$1" in
    nio) "${SPIN[@]}" "$NIO" --port 5291 >"$D/a.log" 2>&1 & ;;
    *) "${SPIN[@]}" "$SERVER" --node a --peers "$D/peers.json" --loops "${1#ours}" \
         --max-negotiations-per-address 100000 >"$D/a.log" 2>&1 & ;;
  esac
  A=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/5291) 2>/dev/null && break; sleep 0.1; done
  local before after user sys line p99
  before=$(cpu_ticks "$A")
  { time "${BPIN[@]}" "$BENCH" broadcast --send http://127.0.0.1:5291/chatHub --recv http://127.0.0.1:5291/chatHub \
      --receivers "$RECEIVERS" --rate "$2" --seconds 6 >"$D/out" 2>/dev/null; } 2>"$D/time" || true
  after=$(cpu_ticks "$A")
  kill "$A"; wait "$A" 2>/dev/null || true
  A=
  read -r user sys < "$D/time"
  line=$(grep -m1 'deliveries/s' "$D/out" || true)
  p99=$(sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p' "$D/out")
  printf 'round %s %s rate %s: %s\n' "$round" "$1" "$2" "${line:-Bench failed}"
  grep -E 'latency over|ended during' "$D/out" | sed 's/^/  /' || true
  awk -v s=$((after - before)) -v hz="$HZ" -v u="$user" -v k="$sys" \
    'BEGIN { printf "    CPU seconds: server %.2f, Bench %.2f\n", s / hz, u + k }'
  FAILED=1
  if [[ "$line" == *"(100.00%)"* ]] && [ -n "$p99" ] && awk -v p="$p99" -v m="$STOP_P99" 'BEGIN { exit !(p <= m) }'; then
    FAILED=0
  fi
  return 0
}

for round in $(seq "$ROUNDS"); do
  for side in "${SIDES[@]}"; do
    best=0
    for rate in "${RATE_LIST[@]}"; do
      step "$side" "$rate"
      [ "$FAILED" = 1 ] && break
      best=$rate
    done
    [ ${#RATE_LIST[@]} -gt 1 ] && printf 'round %s %s: best %s msg/s (nothing lost, p99 ≤ %s ms)\n' "$round" "$side" "$best" "$STOP_P99"
  done
done
