#!/usr/bin/env bash
# Instructions per delivery of a broadcast, ours against the NIO peer, counted by valgrind's callgrind (counts
# instructions, not seconds, so the figure repeats on a loaded machine). Not part of CI.
#
#   Tests/bench/callgrind-fanout.sh ours|theirs [RECEIVERS [RATE [SECONDS_A [SECONDS_B]]]]   # defaults 10000 2 4 10
#
# Two sessions, A and B, the same but for how long the loadgen sends. Each starts one server under callgrind,
# connects RECEIVERS + 1 clients with the peers' loadgen (fanout mode, one sender, on the same server), lets the
# loadgen send RATE msg/s for SECONDS_A (or _B), waits until everything arrived, and stops. What both sessions share
# (start-up, connecting and closing the clients) cancels out of B − A; what grows with time (timers: B runs
# SECONDS_B − SECONDS_A longer) does not, and shows up as its own functions (e.g. the hub's tick):
#   instructions per delivery = (instructions B − instructions A) ÷ (deliveries B − deliveries A),
# and the same difference per function (inclusive), printed for the top functions. User-space instructions only:
# callgrind doesn't see the kernel (the writev itself).
# Environment: PEERS (a peers checkout with built loadgen + hb-signalr, as for side-by-side.sh), BUILD (our build
# folder holding release/Server, default .build), OUT (default .build-bench/callgrind).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
SIDE=${1:?ours or theirs}; N=${2:-10000}; RATE=${3:-2}; SECS_A=${4:-4}; SECS_B=${5:-10}
PEERS=${PEERS:-$ROOT/../shared/peers}
BUILD=${BUILD:-.build}
OUT=${OUT:-.build-bench/callgrind}
LOADGEN=$PEERS/loadgen/.build/release/loadgen
[ -x "$LOADGEN" ] || { echo "callgrind-fanout: no loadgen at $LOADGEN (set PEERS; see side-by-side.sh)" >&2; exit 2; }
mkdir -p "$OUT"
one_session() {   # SECONDS -> $OUT/$SIDE-$N-r$RATE-s$SECONDS.{cg,loadgen.log,fn.txt}; prints "instructions deliveries"
  local secs=$1 tag="$SIDE-$N-r$RATE-s$1" port=$((27000 + RANDOM % 500)) spid lpid
  local cg="$OUT/$tag.cg"
  rm -f "$cg"*
  local vg=(valgrind --tool=callgrind "--callgrind-out-file=$cg")
  if [ "$SIDE" = ours ]; then
    cat > "$OUT/peers-one.json" <<J
{"cluster":"cg","secret":"callgrind-secret-0123456789abcdef","replicas":[
 {"id":"a","http":"127.0.0.1:$port","mesh":"127.0.0.1:$((port + 1000))"}]}
J
    "${vg[@]}" "$BUILD/release/Server" --node a --peers "$OUT/peers-one.json" --log-level warning > "$OUT/$tag.server.log" 2>&1 &
  else
    # valgrind 3.19 gives up on this binary's DWARF ("Possibly corrupted debuginfo file"): run a copy without it
    # (function names come from the symbol table, which stays).
    objcopy --strip-debug "$PEERS/hb-signalr/.build/release/HBSignalR" "$OUT/HBSignalR.nodebug"
    "${vg[@]}" "$OUT/HBSignalR.nodebug" --port "$port" --threads 1 > "$OUT/$tag.server.log" 2>&1 &
  fi
  spid=$!
  for _ in $(seq 600); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  kill -0 "$spid" 2>/dev/null || { echo "callgrind-fanout: the server under valgrind exited: $OUT/$tag.server.log" >&2; exit 1; }
  # --warmup 0: every delivery the server makes is counted by the loadgen too.
  timeout 900 "$LOADGEN" fanout --clients $((N + 1)) --senders 1 --rate "$RATE" --duration "$secs" --warmup 0 \
    --drain 120 --ping 0 --url "http://127.0.0.1:$port/chatHub" > "$OUT/$tag.loadgen.log" 2>&1 &
  lpid=$!
  wait "$lpid"
  sleep 2
  kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
  grep -E '^connect:|deliveries:' "$OUT/$tag.loadgen.log" | sed "s/^/  [$tag] /" >&2
  callgrind_annotate --auto=no --inclusive=yes --threshold=100 "$cg" 2>/dev/null | swift demangle --simplified > "$OUT/$tag.fn.txt"
  callgrind_annotate --auto=no --threshold=100 "$cg" 2>/dev/null | swift demangle --simplified > "$OUT/$tag.self.txt"
  echo "$(grep -m1 'PROGRAM TOTALS' "$OUT/$tag.fn.txt" | awk '{gsub(",","",$1); print $1}')" \
       "$(grep -o 'received=[0-9]*' "$OUT/$tag.loadgen.log" | head -1 | cut -d= -f2)"
}
read -r IA DA < <(one_session "$SECS_A")
read -r IB DB < <(one_session "$SECS_B")
echo "$SIDE, $N receivers, $RATE msg/s: A ${SECS_A}s: $IA instructions, $DA deliveries; B ${SECS_B}s: $IB, $DB"
python3 "$ROOT/Tests/bench/callgrind-diff.py" "$OUT/$SIDE-$N-r$RATE-s$SECS_A" "$OUT/$SIDE-$N-r$RATE-s$SECS_B" "$DA" "$DB" "$SIDE" delivery 40 | tee "$OUT/$SIDE-$N-r$RATE.per-delivery.txt"
