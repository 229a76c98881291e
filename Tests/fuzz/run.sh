#!/usr/bin/env bash
# Builds the libFuzzer harness (Sources/Fuzz) and runs its targets one after another; ends with one PASS/FAIL line
# per target and exits non-zero when any target failed (a crash, a broken invariant, a timeout or too much memory).
#
#   Tests/fuzz/run.sh [--smoke | --seconds S | --runs N] [--merge] [target …]
#
#   --smoke       replay the corpus, then fuzz each target for 3 s (the CI step; about 40 s of fuzzing for all thirteen)
#   --seconds S   fuzz each target for S seconds
#   --runs N      fuzz each target for N executions
#   --merge       afterwards, add the new inputs that reach new code to the committed corpus (Tests/fuzz/corpus)
#   target …      any of: http websocket hub msgpack json meshframe meshhandshake meshrecord peers jwt cluster
#                 longpoll sse (default: all)
#
# Env: FUZZ_SCRATCH (build folder, default .build-fuzz), FUZZ_NICE (nice level, default 10), FUZZ_ARGS (more
# libFuzzer flags, e.g. "-seed=1"). New inputs go to $FUZZ_SCRATCH/fuzz/work/<target>, crashes to
# $FUZZ_SCRATCH/fuzz/artifacts, logs to $FUZZ_SCRATCH/fuzz/logs. Replay one input:
#   FUZZ_TARGET=http .build-fuzz/release/Fuzz <file>
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

ALL_TARGETS=(http websocket hub msgpack json meshframe meshhandshake meshrecord peers jwt cluster longpoll sse)
MODE=(-max_total_time=6)
MODE_TEXT="smoke: 3 s per target"
MERGE=0
TARGETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) MODE=(-max_total_time=3); MODE_TEXT="smoke: 3 s per target" ;;
    --seconds) MODE=(-max_total_time="$2"); MODE_TEXT="$2 s per target"; shift ;;
    --runs) MODE=(-runs="$2"); MODE_TEXT="$2 executions per target"; shift ;;
    --merge) MERGE=1 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *)
      if [[ " ${ALL_TARGETS[*]} " != *" $1 "* ]]; then echo "unknown target $1 (have: ${ALL_TARGETS[*]})" >&2; exit 2; fi
      TARGETS+=("$1") ;;
  esac
  shift
done
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL_TARGETS[@]}")

SCRATCH="${FUZZ_SCRATCH:-$ROOT/.build-fuzz}"
NICE="${FUZZ_NICE:-10}"
OUT="$SCRATCH/fuzz"
mkdir -p "$OUT/logs" "$OUT/artifacts"

# Release (fast) but with the standard library's debug checks on (-assert-config Debug keeps the bounds checks of
# unsafe buffer pointers), ASan for memory errors, -enable-testing for `@testable import`.
# The sanitizers go in ONE -sanitize= flag: SwiftPM's `--sanitize=fuzzer --sanitize=address` reaches swiftc as two
# flags, of which swiftc keeps only the last, in an order that varies from build to build (a harness with no coverage,
# or no ASan). `--sanitize=fuzzer` is still needed so that SwiftPM links libFuzzer's `main` rather than ours.
# lld: it links faster than gold and without gold's flood of ASan symbol warnings.
BUILD=(swift build --scratch-path "$SCRATCH" -c release --product Fuzz --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address
  -Xswiftc -enable-testing -Xswiftc -assert-config -Xswiftc Debug -Xswiftc -use-ld=lld)
echo "==> building the fuzz harness: SIGNALR_FUZZ=1 ${BUILD[*]}"
T0=$(date +%s)
if ! SIGNALR_FUZZ=1 nice -n "$NICE" "${BUILD[@]}" >"$OUT/logs/build.log" 2>&1; then
  grep -v "Cannot export local symbol" "$OUT/logs/build.log" | tail -n 40
  echo "build FAILED (log: $OUT/logs/build.log)"
  exit 1
fi
echo "built in $(( $(date +%s) - T0 ))s"
BIN="$SCRATCH/release/Fuzz"
# A harness without coverage counters still "passes" while fuzzing blind: refuse it.
COUNTERS="$(FUZZ_TARGET=http "$BIN" -runs=0 2>&1 | sed -nE 's/.*Loaded [0-9]+ modules +\(([0-9]+) inline 8-bit counters.*/\1/p' | head -n 1)"
if [ "${COUNTERS:-0}" -lt 5000 ]; then
  echo "the harness has ${COUNTERS:-no} coverage counters: the Swift modules were not instrumented (build FAILED)"
  exit 1
fi
echo "coverage counters: $COUNTERS"

# Per target: longest input, and a dictionary if it has one.
max_len() { case "$1" in meshhandshake) echo 1024 ;; *) echo 4096 ;; esac; }
dict() {
  case "$1" in
    http) echo "$ROOT/Tests/fuzz/dict/http.dict" ;;
    hub|json) echo "$ROOT/Tests/fuzz/dict/json.dict" ;;
    jwt) echo "$ROOT/Tests/fuzz/dict/jwt.dict" ;;
    peers) echo "$ROOT/Tests/fuzz/dict/peers.dict" ;;
  esac
}

FAILED=0
SUMMARY=()
for t in "${TARGETS[@]}"; do
  corpus="$ROOT/Tests/fuzz/corpus/$t"
  work="$OUT/work/$t"
  log="$OUT/logs/$t.log"
  mkdir -p "$corpus" "$work"
  args=("$work" "$corpus" -max_len="$(max_len "$t")" -timeout=5 -rss_limit_mb=2048 -malloc_limit_mb=64
    -artifact_prefix="$OUT/artifacts/$t-" -print_final_stats=1 "${MODE[@]}")
  d="$(dict "$t")"
  [ -n "$d" ] && args+=(-dict="$d")
  # shellcheck disable=SC2206
  args+=(${FUZZ_ARGS:-})
  echo
  echo "==> $t ($MODE_TEXT): FUZZ_TARGET=$t nice -n $NICE $BIN ${args[*]}"
  T0=$(date +%s)
  FUZZ_TARGET="$t" SWIFT_BACKTRACE=enable=no nice -n "$NICE" "$BIN" "${args[@]}" >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - T0 ))
  last="$(grep -E '^#[0-9]+.*(DONE|INITED|NEW|REDUCE|pulse)' "$log" | tail -n 1)"
  field() { sed -nE "s/.*$1: ([0-9]+[a-zA-Z]*).*/\1/p" <<<"$last"; }
  execs="$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n 1)"
  rate="$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$log" | tail -n 1)"
  corp="$(sed -nE 's/.*corp: ([0-9]+)\/.*/\1/p' <<<"$last")"
  line="$(printf '%-14s %%s  execs %10s  exec/s %7s  cov %5s  ft %6s  corpus %5s  %4ss' "$t" "${execs:-?}" "${rate:-?}" \
    "$(field cov)" "$(field ft)" "${corp:-?}" "$secs")"
  if [ "$rc" -eq 0 ] && grep -q "^Done [0-9]* runs" "$log"; then
    SUMMARY+=("$(printf "$line" PASS)")
    echo "${SUMMARY[-1]}"
  else
    FAILED=$((FAILED + 1))
    SUMMARY+=("$(printf "$line" FAIL)")
    grep -E "FUZZ INVARIANT|ERROR: |SUMMARY: |Fatal error|Test unit written|^artifact_prefix|Seed:" "$log" | head -n 12
    echo "---- last lines of $log"; tail -n 25 "$log"; echo "----"
    echo "${SUMMARY[-1]}"
  fi
  if [ "$MERGE" -eq 1 ]; then
    FUZZ_TARGET="$t" SWIFT_BACKTRACE=enable=no nice -n "$NICE" "$BIN" -merge=1 "$corpus" "$work" \
      -max_len="$(max_len "$t")" -timeout=5 >"$OUT/logs/$t-merge.log" 2>&1 &&
      echo "merged into $corpus: $(ls "$corpus" | wc -l) files"
  fi
done

echo
echo "==> fuzz summary ($MODE_TEXT; logs in $OUT/logs)"
for line in "${SUMMARY[@]}"; do echo "  $line"; done
echo "$(( ${#TARGETS[@]} - FAILED )) passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
