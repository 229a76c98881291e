#!/usr/bin/env bash
# Instructions per message on one clear mesh link (`Bench link`), counted by valgrind's callgrind: instructions, not
# seconds, so the figure repeats on a loaded machine. Not part of CI.
#
#   Tests/bench/callgrind-link.sh receiver|sender [SECONDS_A [SECONDS_B]]   # defaults 2 5
#
# Runs the two `Bench link-node` children of `Bench link` by hand, the chosen side under callgrind and the other
# natively, twice: the sender publishing for SECONDS_A + 1, then SECONDS_B + 1 seconds. What both sessions share
# (start-up, handshake, the idle tail) cancels out of B − A:
#   instructions per message = (instructions B − instructions A) ÷ (delivered B − delivered A),
# and the same difference per function (inclusive and self), for the top functions. User-space instructions only.
# Environment: BENCH (the Bench binary, default .build/release/Bench), OUT (default .build-bench/callgrind-link),
# ENCRYPT (on|off, default off).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
SIDE=${1:?receiver or sender}; SECS_A=${2:-2}; SECS_B=${3:-5}
BENCH=${BENCH:-.build/release/Bench}
OUT=${OUT:-.build-bench/callgrind-link}
ENCRYPT=${ENCRYPT:-off}
[ -x "$BENCH" ] || { echo "callgrind-link: no Bench at $BENCH" >&2; exit 2; }
case "$SIDE" in receiver|sender) ;; *) echo "callgrind-link: receiver or sender" >&2; exit 2 ;; esac
mkdir -p "$OUT"
# valgrind 3.19 gives up on the Swift binary's DWARF ("Possibly corrupted debuginfo file"): run a copy without it
# (function names come from the symbol table, which stays).
objcopy --strip-debug "$BENCH" "$OUT/Bench.nodebug" || exit 1
BENCH=$OUT/Bench.nodebug
one_session() {   # SECONDS -> $OUT/$SIDE-s$SECONDS.{cg,fn.txt,self.txt}; prints "instructions delivered"
  local secs=$1 tag="$SIDE-s$1" base=$((28000 + RANDOM % 2000)) rpid spid
  local cg="$OUT/$tag.cg" peers="$OUT/peers-$tag.json"
  rm -f "$cg"*
  cat > "$peers" <<J
{"cluster":"cg-link","secret":"callgrind-link-secret-0123456789ab","encryption":"$ENCRYPT","replicas":[
 {"id":"r","http":"127.0.0.1:$base","mesh":"127.0.0.1:$((base + 1))"},
 {"id":"s","http":"127.0.0.1:$((base + 2))","mesh":"127.0.0.1:$((base + 3))"}]}
J
  local common=(--peers "$peers" --seconds "$secs" --size 64 --log-count 100000)
  local rcmd=("$BENCH" link-node --role receiver "${common[@]}")
  local scmd=("$BENCH" link-node --role sender --batch 2048 --window 50000 "${common[@]}")
  local vg=(valgrind --tool=callgrind "--callgrind-out-file=$cg")
  if [ "$SIDE" = receiver ]; then rcmd=("${vg[@]}" "${rcmd[@]}"); else scmd=("${vg[@]}" "${scmd[@]}"); fi
  "${rcmd[@]}" > "$OUT/$tag.receiver.log" 2> "$OUT/$tag.receiver.err" &
  rpid=$!
  "${scmd[@]}" > "$OUT/$tag.sender.log" 2> "$OUT/$tag.sender.err" &
  spid=$!
  wait "$rpid" "$spid"
  grep -h '^final' "$OUT/$tag.receiver.log" "$OUT/$tag.sender.log" | sed "s/^/  [$tag] /" >&2
  callgrind_annotate --auto=no --inclusive=yes --threshold=100 "$cg" 2>/dev/null | swift demangle --simplified > "$OUT/$tag.fn.txt"
  callgrind_annotate --auto=no --threshold=100 "$cg" 2>/dev/null | swift demangle --simplified > "$OUT/$tag.self.txt"
  echo "$(grep -m1 'PROGRAM TOTALS' "$OUT/$tag.fn.txt" | awk '{gsub(",","",$1); print $1}')" \
       "$(grep -o 'delivered=[0-9]*' "$OUT/$tag.receiver.log" | head -1 | cut -d= -f2)"
}
read -r IA DA < <(one_session "$SECS_A")
read -r IB DB < <(one_session "$SECS_B")
echo "$SIDE: A ${SECS_A}s: $IA instructions, $DA delivered; B ${SECS_B}s: $IB, $DB"
python3 "$ROOT/Tests/bench/callgrind-diff.py" "$OUT/$SIDE-s$SECS_A" "$OUT/$SIDE-s$SECS_B" "$DA" "$DB" "$SIDE" message 30 | tee "$OUT/$SIDE.per-message.txt"
