#!/usr/bin/env bash
# Autobahn|Testsuite fuzzingclient, cases 1.*–10.*, against `Server --node a --ws-echo` on free ports.
# Needs the Autobahn install in .tools/autobahn (Tests/run.sh makes it) and the release Server binary.
# Env: SERVER_BIN (default .build/release/Server), PYTHON2 (a Python 2.7; default pyenv's 2.7.18), AUTOBAHN_CASES (JSON list, default 1.*–10.*),
#      AUTOBAHN_OUT (report folder, default reports/autobahn), LOG_DIR (server log folder, default a temp dir).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
SERVER_BIN="${SERVER_BIN:-$ROOT/.build/release/Server}"
PREFIX="$ROOT/.tools/autobahn"
OUT="${AUTOBAHN_OUT:-$ROOT/reports/autobahn}"
CASES="${AUTOBAHN_CASES:-[\"1.*\",\"2.*\",\"3.*\",\"4.*\",\"5.*\",\"6.*\",\"7.*\",\"9.*\",\"10.*\"]}"
LOG_DIR="${LOG_DIR:-$(mktemp -d /tmp/autobahn.XXXXXX)}"
mkdir -p "$LOG_DIR"

[ -x "$SERVER_BIN" ] || { echo "autobahn: no server binary at $SERVER_BIN"; exit 1; }
PYTHON2="${PYTHON2:-$(PYENV_VERSION=2.7.18 command -v python2.7 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}/versions/2.7.18/bin/python2.7")}"
SITE="$(ls -d "$PREFIX"/lib/python2.7/site-packages 2>/dev/null || true)"
[ -n "$SITE" ] || { echo "autobahn: not installed in $PREFIX (run Tests/run.sh)"; exit 1; }

read -r HTTP_PORT MESH_PORT < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
PEERS="$LOG_DIR/peers-autobahn.json"
cat > "$PEERS" <<JSON
{"cluster": "autobahn", "secret": "autobahn-secret-0123456789abcdef",
 "replicas": [{"id": "a", "http": "127.0.0.1:$HTTP_PORT", "mesh": "127.0.0.1:$MESH_PORT"}]}
JSON

SERVER_LOG="$LOG_DIR/autobahn-server.log"
SERVER_OUT="$LOG_DIR/autobahn-server.out"
"$SERVER_BIN" --node a --peers "$PEERS" --ws-echo --log-level warning >"$SERVER_OUT" 2>"$SERVER_LOG" &
SERVER_PID=$!
cleanup() {
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

for _ in $(seq 100); do
  grep -q '^ready ' "$SERVER_OUT" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q '^ready ' "$SERVER_OUT"; then
  echo "autobahn: server did not become ready; log $SERVER_LOG:"
  tail -20 "$SERVER_LOG"
  exit 1
fi

rm -rf "$OUT"
mkdir -p "$OUT"
SPEC="$LOG_DIR/fuzzingclient.json"
cat > "$SPEC" <<JSON
{"outdir": "$OUT",
 "servers": [{"agent": "SignalRMesh", "url": "ws://127.0.0.1:$HTTP_PORT/ws-echo"}],
 "cases": $CASES, "exclude-cases": [], "exclude-agent-cases": {}}
JSON

echo "autobahn: running cases $CASES against ws://127.0.0.1:$HTTP_PORT/ws-echo (log $SERVER_LOG)"
# zope's .pth files need site.addsitedir (a plain PYTHONPATH is not enough).
(cd "$LOG_DIR" && PYENV_VERSION=2.7.18 timeout 900 "$PYTHON2" -c '
import site, sys
site.addsitedir(sys.argv[1])
sys.argv = ["wstest", "-m", "fuzzingclient", "-s", sys.argv[2]]
from autobahntestsuite.wstest import run
run()' "$SITE" "$SPEC") >"$LOG_DIR/wstest.log" 2>&1 || echo "autobahn: wstest exited with $? (see $LOG_DIR/wstest.log)"

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "autobahn: the server died during the run; log $SERVER_LOG:"
  tail -20 "$SERVER_LOG"
fi
python3 "$ROOT/Tests/autobahn/judge.py" "$OUT/index.json"
