#!/usr/bin/env bash
# The unit tests (swift test: NetKitTests, MeshTests, ServerTests) under AddressSanitizer and/or ThreadSanitizer.
#
#   Tests/sanitize.sh [address|thread|all|shim-check]      (default: all)
#
# Each sanitizer builds in its own scratch folder (.build-asan, .build-tsan), then runs the tests with
# `--skip-build`, so the two times are reported separately. The verdict fails (exit status 1) on any sanitizer
# report, any failed test, a crash, a timeout or a build error. A report does not always fail a test (TSan only
# changes the exit status at the very end), so the log is searched for reports as well.
#
# Sanitizer options (yours in ASAN_OPTIONS / TSAN_OPTIONS are appended, so they win):
#   ASan: detect_leaks=0        XCTest's own runner leaks at exit; LeakSanitizer would fail every run for it.
#   TSan: halt_on_error=0       list every report of the run, not only the first;
#         second_deadlock_stack=1   both stacks in lock-order reports.
# TSan also gets Tests/sanitize/tsan-mutex.c preloaded (built here with the toolchain's clang): the contended
# paths of Synchronization.Mutex hand the lock over in the kernel inside the uninstrumented runtime library, so
# without it TSan reports races between critical sections of one Mutex (see that file). `shim-check` shows it
# adds only those edges: a contended but correct Mutex is silent, a real race next to it is still reported.
# No TSan suppressions are used.
#
# Env: ASAN_SCRATCH / TSAN_SCRATCH other build folders; SANITIZE_TEST_ARGS extra `swift test` arguments
#      (e.g. "--filter MeshTests"); SANITIZE_LOG_DIR where logs go (default: a new folder under $TMPDIR).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

MODE="${1:-all}"
case "$MODE" in
  address | thread | all | shim-check) ;;
  *) echo "usage: $0 [address|thread|all|shim-check]" >&2; exit 2 ;;
esac

LOG_DIR="${SANITIZE_LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/sanitize.XXXXXX")}"
mkdir -p "$LOG_DIR"
ASAN_SCRATCH="${ASAN_SCRATCH:-$ROOT/.build-asan}"
TSAN_SCRATCH="${TSAN_SCRATCH:-$ROOT/.build-tsan}"
BUILD_TIMEOUT=2400
TEST_TIMEOUT=1200

SWIFT_BIN="$(readlink -f "$(command -v swift)")"
CLANG="$(dirname "$SWIFT_BIN")/clang"
[ -x "$CLANG" ] || CLANG="$(command -v clang || true)"

VERDICTS=()
FAILED=0

say() { printf '\n==> %s\n' "$*"; }
now() { date +%s; }

# build_shim SCRATCH: compiles the Mutex annotations for TSan into SCRATCH/tsan-mutex.so.
build_shim() {
  [ -n "$CLANG" ] || { echo "no clang found next to swift or on PATH" >&2; return 1; }
  mkdir -p "$1"
  "$CLANG" -O2 -fPIC -shared -Wall -Wextra -Werror -o "$1/tsan-mutex.so" "$ROOT/Tests/sanitize/tsan-mutex.c" -ldl
}

# count_reports LOG: number of sanitizer reports (one WARNING/ERROR line each).
count_reports() {
  grep -cE 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|WARNING: ThreadSanitizer' "$1" || true
}

# run_sanitizer NAME FLAG SCRATCH
run_sanitizer() {
  local name="$1" flag="$2" scratch="$3"
  local build_log="$LOG_DIR/$name-build.log" test_log="$LOG_DIR/$name-test.log"
  local t rc build_s test_s reports tests_line verdict
  local -a env_vars=()

  say "$name: swift build --build-tests --sanitize=$flag (scratch $scratch)"
  t=$(now)
  set +e
  timeout -k 10 "$BUILD_TIMEOUT" swift build --build-tests --scratch-path "$scratch" --sanitize="$flag" >"$build_log" 2>&1
  rc=$?
  set -e
  build_s=$(( $(now) - t ))
  if [ "$rc" -ne 0 ]; then
    grep -E "error:" "$build_log" | head -n 20 || true
    tail -n 20 "$build_log"
    VERDICTS+=("$(printf '%-8s FAIL  build failed (exit %d) after %ds; log %s' "$name" "$rc" "$build_s" "$build_log")")
    FAILED=1
    return 0
  fi
  echo "built in ${build_s}s"

  case "$flag" in
    address)
      env_vars=(ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}") ;;
    thread)
      build_shim "$scratch"
      env_vars=(TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
                LD_PRELOAD="$scratch/tsan-mutex.so${LD_PRELOAD:+:$LD_PRELOAD}" TSAN_MUTEX_VERBOSE=1) ;;
  esac

  say "$name: swift test --skip-build --sanitize=$flag ${SANITIZE_TEST_ARGS:-}"
  echo "env: ${env_vars[*]}"
  t=$(now)
  set +e
  # shellcheck disable=SC2086
  env "${env_vars[@]}" timeout -k 10 "$TEST_TIMEOUT" swift test --skip-build --scratch-path "$scratch" \
    --sanitize="$flag" ${SANITIZE_TEST_ARGS:-} >"$test_log" 2>&1
  rc=$?
  set -e
  test_s=$(( $(now) - t ))

  reports=$(count_reports "$test_log")
  tests_line="$(grep -E 'Test run with [0-9]+ tests?' "$test_log" | tail -n 1 || true)"
  grep -E "Executed [0-9]+ tests?, with [1-9]|✘ Test .*failed|Fatal error|(^|: )error: " "$test_log" | head -n 20 || true
  if [ "$reports" -gt 0 ]; then
    echo "---- sanitizer reports ($reports), by summary line:"
    grep -E '^SUMMARY: ' "$test_log" | sort | uniq -c | sort -rn | head -n 20 || true
    echo "---- first report:"
    grep -m1 -n -A60 -E 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|WARNING: ThreadSanitizer' "$test_log" || true
    echo "----"
  fi
  echo "${tests_line:-no Swift Testing summary line}"
  echo "tests ran in ${test_s}s, exit $rc, $reports sanitizer reports; log $test_log"

  verdict="PASS"
  local why=""
  if [ "$reports" -gt 0 ]; then verdict="FAIL"; why+=" $reports sanitizer report(s);"; fi
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then verdict="FAIL"; why+=" timed out after ${TEST_TIMEOUT}s;"
  elif [ "$rc" -ne 0 ]; then verdict="FAIL"; why+=" swift test exit $rc;"; fi
  if [[ "$tests_line" != *" passed after "* ]]; then verdict="FAIL"; why+=" no passing test run;"; fi
  if [ "$flag" = thread ] && ! grep -q "tsan-mutex: annotating" "$test_log"; then
    verdict="FAIL"; why+=" Mutex annotations were not loaded;"
  fi
  [ "$verdict" = PASS ] || FAILED=1
  local count
  count="$(sed -nE 's/.*Test run with ([0-9]+) tests?.*/\1/p' <<<"$tests_line")"
  VERDICTS+=("$(printf '%-8s %s  %s tests, %d reports, build %ds, test %ds;%s log %s' \
    "$name" "$verdict" "${count:-?}" "$reports" "$build_s" "$test_s" "$why" "$test_log")")
}

# shim_check: builds MutexCanary.swift with TSan and checks the shim against it (see tsan-mutex.c).
shim_check() {
  local dir="$TSAN_SCRATCH/shim-check" n_plain n_correct n_racy
  say "shim-check: Tests/sanitize/MutexCanary.swift under TSan, with and without tsan-mutex.so"
  mkdir -p "$dir"
  build_shim "$TSAN_SCRATCH"
  swiftc -sanitize=thread -g -Onone "$ROOT/Tests/sanitize/MutexCanary.swift" -o "$dir/canary" >"$LOG_DIR/canary-build.log" 2>&1 ||
    { tail -n 20 "$LOG_DIR/canary-build.log"; VERDICTS+=("shim     FAIL  canary did not build"); FAILED=1; return 0; }
  local opts="halt_on_error=0:exitcode=0"
  TSAN_OPTIONS="$opts" "$dir/canary" correct >"$LOG_DIR/canary-plain.log" 2>&1 || true
  TSAN_OPTIONS="$opts" LD_PRELOAD="$TSAN_SCRATCH/tsan-mutex.so" "$dir/canary" correct >"$LOG_DIR/canary-correct.log" 2>&1 || true
  TSAN_OPTIONS="$opts" LD_PRELOAD="$TSAN_SCRATCH/tsan-mutex.so" "$dir/canary" racy >"$LOG_DIR/canary-racy.log" 2>&1 || true
  n_plain=$(count_reports "$LOG_DIR/canary-plain.log")
  n_correct=$(count_reports "$LOG_DIR/canary-correct.log")
  n_racy=$(count_reports "$LOG_DIR/canary-racy.log")
  echo "correct code, no shim:   $n_plain reports (the false positives the shim is for; 0 would mean Mutex is TSan-aware now)"
  echo "correct code, with shim: $n_correct reports (must be 0)"
  echo "racy code, with shim:    $n_racy reports (must be > 0)"
  if [ "$n_correct" -eq 0 ] && [ "$n_racy" -gt 0 ] && grep -q "canary done" "$LOG_DIR/canary-correct.log"; then
    VERDICTS+=("shim     PASS  contended Mutex silent, real race still reported ($n_plain false reports without the shim)")
  else
    VERDICTS+=("shim     FAIL  correct: $n_correct reports, racy: $n_racy reports; logs in $LOG_DIR")
    FAILED=1
  fi
}

T_START=$(now)
echo "logs in $LOG_DIR"
case "$MODE" in
  address) run_sanitizer asan address "$ASAN_SCRATCH" ;;
  thread) run_sanitizer tsan thread "$TSAN_SCRATCH" ;;
  all)
    run_sanitizer asan address "$ASAN_SCRATCH"
    run_sanitizer tsan thread "$TSAN_SCRATCH" ;;
  shim-check) shim_check ;;
esac

say "sanitizer verdict ($(( $(now) - T_START ))s in all)"
for line in "${VERDICTS[@]}"; do echo "  $line"; done
if [ "$FAILED" -ne 0 ]; then
  echo "FAILED"
  exit 1
fi
echo "OK: every step passed (no sanitizer report, no failed test)"
