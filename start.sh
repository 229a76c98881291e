#!/usr/bin/env bash
# Start the replicas of a peers file in the foreground; Ctrl-C (or SIGTERM) stops them all.
#
#   ./start.sh                      every replica in ./peers.json
#   ./start.sh b                    only replica b (e.g. to bring back a killed one)
#   ./start.sh --peers FILE [id…]   replicas from another peers file
#   ./start.sh [id…] -- --log-level debug    flags after -- go to every replica
#
# Builds the server once in release mode first (skipped when the binary is newer than every source).
# One log file per replica in ./logs (START_LOG_DIR to change); SERVER_BIN to use another binary.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PEERS="$ROOT/peers.json"
LOGS="${START_LOG_DIR:-$ROOT/logs}"
READY_TIMEOUT="${READY_TIMEOUT:-15}"
IDS=()
EXTRA=()

usage() { sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --peers) [ $# -ge 2 ] || { echo "error: --peers needs a file" >&2; exit 2; }; PEERS="$2"; shift 2 ;;
    --peers=*) PEERS="${1#--peers=}"; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; EXTRA=("$@"); break ;;
    -*) echo "error: unknown option $1 (flags for the replicas go after --)" >&2; exit 2 ;;
    *) IDS+=("$1"); shift ;;
  esac
done
[ -r "$PEERS" ] || { echo "error: cannot read peers file $PEERS" >&2; exit 2; }
PEERS="$(cd "$(dirname "$PEERS")" && pwd)/$(basename "$PEERS")"

# The replica ids (and page addresses) in the file, in order.
if ! ALL_IDS=$(python3 - "$PEERS" <<'PY'
import json, sys
try:
    doc = json.load(open(sys.argv[1]))
    reps = doc["replicas"]
    for r in reps:
        print(r["id"], r.get("http", "?"))
except Exception as exc:
    print(f"error: {sys.argv[1]}: {exc}", file=sys.stderr)
    sys.exit(2)
PY
); then exit 2; fi
declare -A HTTP_OF=()
ORDER=()
while read -r id http; do
  [ -n "$id" ] || continue
  HTTP_OF[$id]="$http"
  ORDER+=("$id")
done <<< "$ALL_IDS"
if [ ${#IDS[@]} -eq 0 ]; then IDS=("${ORDER[@]}"); fi
for id in "${IDS[@]}"; do
  [ -n "${HTTP_OF[$id]+x}" ] || { echo "error: no replica '$id' in $PEERS (it has: ${ORDER[*]})" >&2; exit 2; }
done

# Build once (release). `swift build` is incremental, but even a no-op costs seconds: skip it when the binary
# is newer than every source file.
if [ -z "${SERVER_BIN:-}" ]; then
  SERVER_BIN="$ROOT/.build/release/Server"
  if [ ! -x "$SERVER_BIN" ] || [ -n "$(find "$ROOT/Sources" "$ROOT/Package.swift" -newer "$SERVER_BIN" -print -quit)" ]; then
    mkdir -p "$LOGS"
    echo "building the server (swift build -c release --static-swift-stdlib)…"
    if ! (cd "$ROOT" && swift build -c release --static-swift-stdlib --product Server) >"$LOGS/build.log" 2>&1; then
      tail -n 30 "$LOGS/build.log"
      echo "error: build failed (full output in $LOGS/build.log)" >&2
      exit 1
    fi
  fi
fi
mkdir -p "$LOGS"

declare -A PID_OF=()
declare -A OFFSET_OF=()
STOPPING=0

last_line() {  # last non-empty line a replica wrote in this run
  local id="$1"
  tail -c +"$((OFFSET_OF[$id] + 1))" "$LOGS/$id.log" 2>/dev/null | grep -v '^[[:space:]]*$' | tail -n 1
}

running_ids() {  # in peers-file order
  local id out=()
  for id in "${IDS[@]}"; do [ -n "${PID_OF[$id]+x}" ] && out+=("$id"); done
  echo "${out[*]}"
}

stop_all() {
  STOPPING=1
  trap '' INT TERM
  local id pid
  for id in "${!PID_OF[@]}"; do kill -TERM "${PID_OF[$id]}" 2>/dev/null || true; done
  for _ in $(seq 60); do
    local alive=0
    for pid in "${PID_OF[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && break
    sleep 0.1
  done
  for id in "${!PID_OF[@]}"; do
    if kill -0 "${PID_OF[$id]}" 2>/dev/null; then
      echo "replica $id did not stop within 6 s: killing it"
      kill -KILL "${PID_OF[$id]}" 2>/dev/null || true
    fi
  done
  wait 2>/dev/null || true
  echo "stopped: $(running_ids)"
  exit 0
}
trap stop_all INT TERM

for id in "${IDS[@]}"; do
  log="$LOGS/$id.log"
  touch "$log"
  OFFSET_OF[$id]=$(stat -c %s "$log")
  echo "===== $(date '+%F %T') start.sh: $SERVER_BIN --node $id --peers $PEERS ${EXTRA[*]:-}" >>"$log"
  OFFSET_OF[$id]=$(stat -c %s "$log")
  # Own session: Ctrl-C reaches only this script, which then stops the replicas with SIGTERM (graceful).
  setsid "$SERVER_BIN" --node "$id" --peers "$PEERS" "${EXTRA[@]}" </dev/null >>"$log" 2>&1 &
  PID_OF[$id]=$!
done

# Wait for each replica's ready line (or its death).
FAILED=()
declare -A READY=()
deadline=$(( $(date +%s) + READY_TIMEOUT ))
while :; do
  pending=0
  for id in "${IDS[@]}"; do
    [ -n "${READY[$id]:-}" ] && continue
    line=$(tail -c +"$((OFFSET_OF[$id] + 1))" "$LOGS/$id.log" 2>/dev/null | grep -m1 '^ready ' || true)
    if [ -n "$line" ]; then
      READY[$id]=1
      page=$(sed -n 's/.*page=\([^ ]*\).*/\1/p' <<< "$line")
      echo "replica $id ready: ${page:-http://${HTTP_OF[$id]}/}  (pid ${PID_OF[$id]}, log $LOGS/$id.log)"
    elif ! kill -0 "${PID_OF[$id]}" 2>/dev/null; then
      READY[$id]=failed
      wait "${PID_OF[$id]}" 2>/dev/null && rc=0 || rc=$?
      echo "replica $id failed to start (exit $rc): $(last_line "$id")" >&2
      FAILED+=("$id")
      unset "PID_OF[$id]"
    else
      pending=1
    fi
  done
  [ $pending -eq 0 ] && break
  if [ "$(date +%s)" -ge "$deadline" ]; then
    for id in "${IDS[@]}"; do
      if [ -z "${READY[$id]:-}" ]; then
        echo "replica $id: no ready line after ${READY_TIMEOUT}s; last log line: $(last_line "$id")" >&2
      fi
    done
    break
  fi
  sleep 0.1
done

if [ ${#PID_OF[@]} -eq 0 ]; then
  echo "error: no replica is running (logs in $LOGS)" >&2
  exit 1
fi
echo "running: $(running_ids) — Ctrl-C stops them"

# Foreground: report replicas that exit on their own (a kill -9 in the demo, a crash) and keep the others.
# Polled rather than `wait -n`: bash's `wait -n` never returns for a child that died before it was called
# (e.g. between its ready line and this loop), which would hide that replica's exit.
while [ ${#PID_OF[@]} -gt 0 ]; do
  for id in "${IDS[@]}"; do
    [ -n "${PID_OF[$id]+x}" ] || continue
    pid="${PID_OF[$id]}"
    kill -0 "$pid" 2>/dev/null && continue
    wait "$pid" 2>/dev/null && rc=0 || rc=$?
    if [ $rc -gt 128 ]; then how="killed by signal $((rc - 128))"; else how="exit $rc"; fi
    echo "replica $id stopped ($how): $(last_line "$id")"
    unset "PID_OF[$id]"
  done
  # A short sleep we `wait` for, so Ctrl-C/SIGTERM run the trap at once rather than after the sleep.
  sleep 0.2 &
  wait $! 2>/dev/null || true
done
echo "all replicas have stopped"
exit 1
