#!/usr/bin/env bash
# Fan-out driven by our own load client (Bench broadcast: one sender, many receivers, most of them only counting,
# so the client spends about what the server spends per message): the highest rate each side sustains, in
# interleaved rounds. For what the NIO load generator can't show, because it needs more CPU than the servers it loads.
#
#   Tests/bench/bench-fanout.sh SERVER BENCH [rounds] [receivers] [rates] [sides…]
#
# sides: oursN   our replica with --loops N (default sides: "ours1 ours2");
#        nio     the SwiftNIO/Hummingbird peer, $NIO (default ../shared/peers/hb-signalr/.build/release/HBSignalR;
#                see ../shared/peers/README.md);
#        mesh3   our three replicas (one mesh), receivers spread over the three, the sender on the first;
#        redis3  three replicas of the NIO peer on a Redis backplane (redis-server, Debian package), the same way.
# rates: one rate (msg/s), or a comma list swept upward: a side's best is the highest rate at which every message
#   reached every receiver and the p99 latency (sampled over 100 receivers) stayed within $STOP_P99 ms (default
#   500); its sweep stops at the first rate that fails. Each step starts fresh servers.
# PIN=pinned puts the servers (and Redis) on CPU 0 and Bench on CPU 1 (default unpinned). Prints each step, the CPU
# seconds the servers and Bench used, and each side's best per round. Uses ports 5291-5293, 6291-6293 and 6392.
# e.g. Tests/bench/bench-fanout.sh .build/release/Server .build/release/Bench 3 5000 5000,6000,7000,8000 ours1 ours2
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,21p' "$0"; exit 2; }
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
    ours[1-9]*|mesh3) ;;
    nio) [ -x "$NIO" ] || { echo "nio: no HBSignalR binary at $NIO (set NIO=…)" >&2; exit 2; } ;;
    redis3) [ -x "$NIO" ] || { echo "redis3: no HBSignalR binary at $NIO (set NIO=…)" >&2; exit 2; }
      command -v redis-server >/dev/null || { echo "redis3 needs redis-server (apt-get install redis-server)" >&2; exit 2; } ;;
    *) echo "unknown side '$side' (oursN, nio, mesh3 or redis3)" >&2; exit 2 ;;
  esac
done
D=$(mktemp -d)
PIDS=()
stop_servers() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
trap 'stop_servers; rm -rf "$D"' EXIT
cat > "$D/peers.json" <<P
{"cluster":"bench","secret":"bench-secret-0123456789-abcdefgh","replicas":[
 {"id":"a","http":"127.0.0.1:5291","mesh":"127.0.0.1:6291"}]}
P
cat > "$D/peers3.json" <<P
{"cluster":"bench","secret":"bench-secret-0123456789-abcdefgh","replicas":[
 {"id":"a","http":"127.0.0.1:5291","mesh":"127.0.0.1:6291"},
 {"id":"b","http":"127.0.0.1:5292","mesh":"127.0.0.1:6292"},
 {"id":"c","http":"127.0.0.1:5293","mesh":"127.0.0.1:6293"}]}
P
URL1=http://127.0.0.1:5291/chatHub
URL3="$URL1,http://127.0.0.1:5292/chatHub,http://127.0.0.1:5293/chatHub"
# utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15; the names here have no spaces).
# A process that already ended counts 0.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
servers_ticks() { local t=0 p; for p in "${PIDS[@]}"; do t=$((t + $(cpu_ticks "$p"))); done; echo "$t"; }
# Waits up to 10 s for a listener on port $1; stops the script with a message (the trap stops what started) if none.
wait_port() {
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "nothing listening on 127.0.0.1:$1 after 10 s; the servers' logs end:" >&2
  tail -n 5 "$D"/*.log >&2 2>/dev/null || true
  exit 1
}
HZ=$(getconf CLK_TCK)
TIMEFORMAT='%U %S'

# Starts side $1; sets RECV (the receivers' URLs).
start_servers() {
  local i
  RECV=$URL1
  case "$1" in
    nio)
      "${SPIN[@]}" "$NIO" --port 5291 >"$D/s1.log" 2>&1 &
      PIDS+=($!)
      wait_port 5291 ;;
    redis3)
      "${SPIN[@]}" redis-server --port 6392 --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$D/redis.log" 2>&1 &
      PIDS+=($!)
      wait_port 6392
      for i in 1 2 3; do
        "${SPIN[@]}" "$NIO" --port $((5290 + i)) --redis 127.0.0.1:6392 --replica-id "$i" >"$D/s$i.log" 2>&1 &
        PIDS+=($!)
      done
      for i in 1 2 3; do
        wait_port $((5290 + i))
        for _ in $(seq 100); do grep -q "subscribed to" "$D/s$i.log" && break; sleep 0.1; done
      done
      RECV=$URL3 ;;
    mesh3)
      for i in a b c; do
        "${SPIN[@]}" "$SERVER" --node "$i" --peers "$D/peers3.json" --max-negotiations-per-address 100000 >"$D/s$i.log" 2>&1 &
        PIDS+=($!)
      done
      for i in 1 2 3; do wait_port $((5290 + i)); done
      # every replica sees both others up
      for i in 1 2 3; do
        for _ in $(seq 200); do
          [ "$(curl -s http://127.0.0.1:$((5290 + i))/api/mesh | grep -o '"state" *: *"up"' | wc -l)" -ge 2 ] && break
          sleep 0.05
        done
      done
      RECV=$URL3 ;;
    ours*)
      "${SPIN[@]}" "$SERVER" --node a --peers "$D/peers.json" --loops "${1#ours}" \
        --max-negotiations-per-address 100000 >"$D/s1.log" 2>&1 &
      PIDS+=($!)
      wait_port 5291 ;;
  esac
}

# One step: fresh servers for side $1, Bench at $2 msg/s. Prints the step and sets FAILED (1 when a message
# failed to reach a receiver, p99 went over STOP_P99, or Bench failed).
step() {
  start_servers "$1"
  local before after user sys line p99
  before=$(servers_ticks)
  { time "${BPIN[@]}" "$BENCH" broadcast --send "$URL1" --recv "$RECV" \
      --receivers "$RECEIVERS" --rate "$2" --seconds 6 >"$D/out" 2>/dev/null; } 2>"$D/time" || true
  after=$(servers_ticks)
  stop_servers
  read -r user sys < "$D/time"
  line=$(grep -m1 'deliveries/s' "$D/out" || true)
  p99=$(sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p' "$D/out")
  printf 'round %s %s rate %s: %s\n' "$round" "$1" "$2" "${line:-Bench failed}"
  grep -E 'latency over|ended during' "$D/out" | sed 's/^/  /' || true
  awk -v s=$((after - before)) -v hz="$HZ" -v u="$user" -v k="$sys" \
    'BEGIN { printf "    CPU seconds: servers %.2f, Bench %.2f\n", s / hz, u + k }'
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
