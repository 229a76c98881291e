#!/usr/bin/env bash
# The one test command: sets up what the tests need (idempotent, quick when already done), then runs
#   1. swift build -c release --static-swift-stdlib   (products Server and Bench)
#   2. swift test                 (unit tests: NetKitTests, MeshTests, ServerTests)
#   3. swift test in Examples/GreeterApp (an app package that depends on the SignalRMesh library by path)
#   4. pytest Tests/interop       (real replica processes with stock SignalR clients)
#   5. Tests/autobahn/run.sh      (Autobahn|Testsuite fuzzingclient, cases 1–10, against --ws-echo)
#   6. Tests/fuzz/run.sh --smoke  (every libFuzzer target: replay the corpus, then 3 s of fuzzing each)
#   7. Tests/sanitize.sh thread   (the unit tests under ThreadSanitizer; `address` by hand)
# and ends with the line "N passed, N failed" (exit status non-zero when anything failed).
#
# Env: SKIP_STEPS="docs swift-test example pytest autobahn fuzz sanitize" (any subset) to leave steps out while developing;
#      PYTEST_ARGS extra pytest arguments (e.g. "-k mesh -x"); CHAOS_SEED to replay a chaos run;
#      SWIFT_SCRATCH another build folder (swift --scratch-path; default .build), SERVER_BIN another binary.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

LOG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/signalr-tests.XXXXXX")"
export INTEROP_LOG_DIR="$LOG_DIR/interop"
SCRATCH="${SWIFT_SCRATCH:-$ROOT/.build}"
SWIFT_FLAGS=(--scratch-path "$SCRATCH")
export SERVER_BIN="${SERVER_BIN:-$SCRATCH/release/Server}"
SKIP_STEPS="${SKIP_STEPS:-}"
VENV="$ROOT/.venv"
AUTOBAHN_PREFIX="$ROOT/.tools/autobahn"
T_START=$(date +%s)

PASSED=0
FAILED=0
SKIPPED=0
SUMMARY=()

say() { printf '\n==> %s\n' "$*"; }
elapsed() { echo "$(( $(date +%s) - $1 ))s"; }
# record NAME PASSED FAILED [SKIPPED]
record() {
  PASSED=$((PASSED + $2)); FAILED=$((FAILED + $3)); SKIPPED=$((SKIPPED + ${4:-0}))
  SUMMARY+=("$(printf '%-12s %5d passed %5d failed %5d skipped' "$1" "$2" "$3" "${4:-0}")")
}
skipping() { [[ " $SKIP_STEPS " == *" $1 "* ]]; }
show_tail() { echo "---- last ${2:-40} lines of $1"; tail -n "${2:-40}" "$1" || true; echo "----"; }

finish() {
  say "summary (logs in $LOG_DIR, $(elapsed "$T_START") in all)"
  for line in "${SUMMARY[@]}"; do echo "  $line"; done
  if [ "$FAILED" -gt 0 ]; then echo "  logs: $LOG_DIR"; fi
  echo
  if [ "$SKIPPED" -gt 0 ]; then
    echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
  else
    echo "$PASSED passed, $FAILED failed"
  fi
  [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
  exit $?
}

# ------------------------------------------------------------------------------------------------ setup

apt_install() {
  echo "installing Debian packages: $*"
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq >/dev/null; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pick_python() {
  local cand
  for cand in python3.11 python3.12 python3.10 python3.13 python3; do
    if command -v "$cand" >/dev/null 2>&1 &&
       "$cand" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1; then
      echo "$cand"; return 0
    fi
  done
  return 1
}

setup_python() {
  local py req_hash want
  py="$(pick_python || true)"
  if [ -z "$py" ]; then
    apt_install python3 python3-venv
    py="$(pick_python)" || { echo "no Python >= 3.10 with venv"; return 1; }
  fi
  req_hash="$(cat "$ROOT/Tests/interop/requirements.txt" | sha256sum | cut -c1-16)"
  want="$req_hash $("$py" -c 'import sys; print(sys.version.split()[0])')"
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.interop-stamp" 2>/dev/null)" = "$want" ] &&
     "$VENV/bin/python" -c 'import signalrcore, pysignalr, pytest, pytest_timeout, requests, websocket, selenium' 2>/dev/null; then
    return 0
  fi
  echo "creating $VENV with $py"
  rm -rf "$VENV"
  "$py" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$ROOT/Tests/interop/requirements.txt"
  echo "$want" > "$VENV/.interop-stamp"
}

# The browser tests (Tests/interop/test_browser_failover.py, test_webclient_transports.py) drive Debian's Chromium
# through its chromedriver; without them they are skipped with the reason.
setup_browser() {
  if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then return 0; fi
  apt_install chromium chromium-driver || echo "could not install chromium and chromium-driver: the browser tests will be skipped"
}

AUTOBAHN_PINS=(txaio==2.1.0 incremental==16.10.1 pyOpenSSL==19.1.0 cryptography==3.3.2 Twisted==19.10.0
  zope.interface==4.6.0 jinja2==2.11.3 markupsafe==1.1.1 Werkzeug==1.0.1 klein==17.10.0
  service_identity==18.1.0 unittest2==1.1.0 six==1.16.0 'autobahn[twisted,accelerate]==0.10.9'
  autobahntestsuite==25.10.1)

# Autobahn|Testsuite is Python 2 code: it runs under pyenv's 2.7.18 (Debian 12 has no Python 2).
find_python2() {
  local cand
  for cand in "$(PYENV_VERSION=2.7.18 command -v python2.7 2>/dev/null || true)" \
              "${PYENV_ROOT:-$HOME/.pyenv}/versions/2.7.18/bin/python2.7" "$(command -v python2.7 || true)"; do
    if [ -n "$cand" ] && PYENV_VERSION=2.7.18 "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (2, 7))' >/dev/null 2>&1; then
      echo "$cand"; return 0
    fi
  done
  return 1
}

setup_autobahn() {
  local site="$AUTOBAHN_PREFIX/lib/python2.7/site-packages"
  if ! PYTHON2="$(find_python2)"; then
    echo "Python 2.7 (pyenv 2.7.18) is not available: Autobahn|Testsuite cannot run"
    return 1
  fi
  export PYTHON2
  if [ "$(cat "$AUTOBAHN_PREFIX/.stamp" 2>/dev/null)" = "${AUTOBAHN_PINS[*]}" ] &&
     PYENV_VERSION=2.7.18 "$PYTHON2" -c "import site; site.addsitedir('$site'); import autobahntestsuite.wstest, autobahn, twisted, zope.interface" >/dev/null 2>&1; then
    return 0
  fi
  echo "installing Autobahn|Testsuite into $AUTOBAHN_PREFIX"
  rm -rf "$AUTOBAHN_PREFIX"
  mkdir -p "$AUTOBAHN_PREFIX"
  # The prefix must be absolute: sdists are built in a temporary folder.
  PYENV_VERSION=2.7.18 "$PYTHON2" -m pip install -q --disable-pip-version-check --no-warn-script-location \
    --prefix "$AUTOBAHN_PREFIX" "${AUTOBAHN_PINS[@]}" >"$LOG_DIR/autobahn-install.log" 2>&1 ||
    { show_tail "$LOG_DIR/autobahn-install.log" 20; return 1; }
  echo "${AUTOBAHN_PINS[*]}" > "$AUTOBAHN_PREFIX/.stamp"
}

say "setup"
command -v swift >/dev/null || { echo "swift is not on PATH"; record setup 0 1; finish; }
command -v timeout >/dev/null || apt_install coreutils
if ! setup_python; then record setup 0 1; finish; fi
if ! skipping pytest; then setup_browser; fi
AUTOBAHN_OK=1
if ! skipping autobahn; then setup_autobahn || AUTOBAHN_OK=0; fi
echo "python venv: $VENV; logs: $LOG_DIR"

# ------------------------------------------------------------------------------------------------ build

say "swift build -c release --static-swift-stdlib"
T=$(date +%s)
BUILD_OK=1
# The runtime linked in, as start.sh builds it (README, Benchmarks: it shortens every message's path).
if timeout 2400 swift build "${SWIFT_FLAGS[@]}" -c release --static-swift-stdlib >"$LOG_DIR/build-release.log" 2>&1; then
  grep -E "^(Build complete|Compiling|warning: )" "$LOG_DIR/build-release.log" | tail -n 3 || true
  echo "built in $(elapsed "$T")"
  record build 1 0
else
  BUILD_OK=0
  show_tail "$LOG_DIR/build-release.log" 60
  record build 0 1
fi

# The load client's own parsers (frames split at every byte, stamps, the borrowed-view path against the copying one).
if [ "$BUILD_OK" = 1 ]; then
  say "Bench selftest"
  if "$SCRATCH/release/Bench" selftest; then record bench-selftest 1 0; else record bench-selftest 0 1; fi
fi

# ------------------------------------------------------------------------------------------- swift test

count_xunit() {  # prints "passed failed skipped" summed over the given JUnit/xUnit files
  "$VENV/bin/python" - "$@" <<'PY'
import sys, xml.etree.ElementTree as ET
p = f = s = 0
for path in sys.argv[1:]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        continue
    for case in root.iter("testcase"):
        kids = {c.tag for c in case}
        if kids & {"failure", "error"}:
            f += 1
        elif "skipped" in kids:
            s += 1
        else:
            p += 1
print(p, f, s)
PY
}

if skipping docs; then
  say "doc links (skipped by SKIP_STEPS)"
else
  say "doc links: every relative link and #anchor in the Markdown files"
  if python3 "$ROOT/Tests/check-doc-links.py"; then record docs 1 0; else record docs 0 1; fi
fi

if skipping swift-test; then
  say "swift test (skipped by SKIP_STEPS)"
else
  say "swift test"
  T=$(date +%s)
  rm -f "$LOG_DIR"/swift-tests*.xml
  set +e
  timeout 2400 swift test "${SWIFT_FLAGS[@]}" --xunit-output "$LOG_DIR/swift-tests.xml" >"$LOG_DIR/swift-test.log" 2>&1
  RC=$?
  set -e
  read -r P F S < <(count_xunit "$LOG_DIR"/swift-tests*.xml)
  grep -E "Executed [0-9]+ tests?, with [1-9]|^. Test run with|^✘ Test .*failed|(^|: )error: " "$LOG_DIR/swift-test.log" | tail -n 30 || true
  echo "swift test: exit $RC, $P passed, $F failed, $S skipped, $(elapsed "$T")"
  if [ "$RC" -ne 0 ] && [ "$F" -eq 0 ]; then
    F=1  # build error, crash or timeout: no per-test result says so
    show_tail "$LOG_DIR/swift-test.log" 60
  elif [ "$F" -gt 0 ]; then
    show_tail "$LOG_DIR/swift-test.log" 40
  fi
  record swift-test "$P" "$F" "$S"
fi

# --------------------------------------------------------------------------------------------- example

if skipping example; then
  say "example package (skipped by SKIP_STEPS)"
else
  say "example package: swift test in Examples/GreeterApp"
  T=$(date +%s)
  rm -f "$LOG_DIR"/example-tests*.xml
  set +e
  timeout 1200 swift test --package-path "$ROOT/Examples/GreeterApp" --scratch-path "$SCRATCH-example" \
    --xunit-output "$LOG_DIR/example-tests.xml" >"$LOG_DIR/example-test.log" 2>&1
  RC=$?
  set -e
  read -r P F S < <(count_xunit "$LOG_DIR"/example-tests*.xml)
  echo "example: exit $RC, $P passed, $F failed, $S skipped, $(elapsed "$T")"
  if [ "$RC" -ne 0 ] && [ "$F" -eq 0 ]; then F=1; fi
  [ "$F" -gt 0 ] && show_tail "$LOG_DIR/example-test.log" 40
  record example "$P" "$F" "$S"
fi

# --------------------------------------------------------------------------------------------- interop

if skipping pytest; then
  say "pytest Tests/interop (skipped by SKIP_STEPS)"
elif [ "$BUILD_OK" -ne 1 ] || [ ! -x "$SERVER_BIN" ]; then
  say "pytest Tests/interop: not run (no server binary)"
  record pytest 0 1
else
  say "pytest Tests/interop"
  T=$(date +%s)
  mkdir -p "$INTEROP_LOG_DIR"
  set +e
  # shellcheck disable=SC2086
  timeout 1500 "$VENV/bin/python" -m pytest "$ROOT/Tests/interop" -q -rfEs -p no:cacheprovider \
    --junitxml "$LOG_DIR/pytest.xml" ${PYTEST_ARGS:-} 2>&1 | tee "$LOG_DIR/pytest.log"
  RC=${PIPESTATUS[0]}
  set -e
  read -r P F S < <(count_xunit "$LOG_DIR/pytest.xml")
  echo "pytest: exit $RC, $P passed, $F failed, $S skipped, $(elapsed "$T") (replica logs in $INTEROP_LOG_DIR)"
  if [ "$RC" -ne 0 ] && [ "$F" -eq 0 ]; then F=1; fi  # collection error, timeout, no tests (exit 5)
  record pytest "$P" "$F" "$S"
fi

# -------------------------------------------------------------------------------------------- autobahn

if skipping autobahn; then
  say "autobahn (skipped by SKIP_STEPS)"
elif [ "$AUTOBAHN_OK" -ne 1 ]; then
  say "autobahn: not run (setup failed)"
  record autobahn 0 1
elif [ "$BUILD_OK" -ne 1 ] || [ ! -x "$SERVER_BIN" ]; then
  say "autobahn: not run (no server binary)"
  record autobahn 0 1
else
  say "autobahn fuzzingclient 1–10"
  T=$(date +%s)
  if LOG_DIR="$LOG_DIR/autobahn" bash "$ROOT/Tests/autobahn/run.sh"; then
    record autobahn 1 0
  else
    show_tail "$LOG_DIR/autobahn/autobahn-server.log" 20
    record autobahn 0 1
  fi
  echo "autobahn: $(elapsed "$T"), report in $ROOT/reports/autobahn/index.html"
fi

# ------------------------------------------------------------------------------------------------ fuzz

if skipping fuzz; then
  say "fuzz smoke (skipped by SKIP_STEPS)"
else
  say "fuzz smoke: every libFuzzer target"
  T=$(date +%s)
  set +e
  FUZZ_SCRATCH="$ROOT/.build-fuzz" timeout 1200 bash "$ROOT/Tests/fuzz/run.sh" --smoke >"$LOG_DIR/fuzz.log" 2>&1
  RC=$?
  set -e
  sed -n '/==> fuzz summary/,$p' "$LOG_DIR/fuzz.log" | grep -vE '^[0-9]+ passed, [0-9]+ failed$' || true
  P=$(grep -cE '^  [a-z]+ +PASS' "$LOG_DIR/fuzz.log" || true)
  F=$(grep -cE '^  [a-z]+ +FAIL' "$LOG_DIR/fuzz.log" || true)
  if [ "$RC" -ne 0 ] && [ "$F" -eq 0 ]; then F=1; show_tail "$LOG_DIR/fuzz.log" 40; fi
  [ "$F" -gt 0 ] && show_tail "$LOG_DIR/fuzz.log" 60
  record fuzz "$P" "$F"
  echo "fuzz: $(elapsed "$T")"
fi

# ------------------------------------------------------------------------------------------- sanitizer

if skipping sanitize; then
  say "sanitizer (skipped by SKIP_STEPS)"
else
  say "swift test under ThreadSanitizer"
  T=$(date +%s)
  if SANITIZE_LOG_DIR="$LOG_DIR/sanitize" timeout 1500 bash "$ROOT/Tests/sanitize.sh" thread; then
    record tsan 1 0
  else
    record tsan 0 1
  fi
  echo "tsan: $(elapsed "$T")"
fi

finish
