#!/usr/bin/env bash
# Start the replicas of a peers file in the foreground; Ctrl-C (or SIGTERM) stops them all.
#
#   ./start.sh                      every replica in ./peers.json (those already running are left alone)
#   ./start.sh b                    only replica b (e.g. to bring back a killed one, or to add a new one)
#   ./start.sh --peers FILE [id…]   replicas from another peers file
#   ./start.sh [id…] -- --log-level debug    flags after -- go to every replica
#   ./start.sh reload [--peers FILE]  SIGHUP to the running replicas of FILE (they reload it); says which replicas
#                                   of the file are not running and which running ones are no longer in it
#   ./start.sh stop [id…]           stop running replicas (all of them without ids), wherever they were started
#
# Builds the server once in release mode first (skipped when the binary is newer than every source).
# One log file and one pid file per replica in ./logs (START_LOG_DIR to change); SERVER_BIN to use another binary.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PEERS="$ROOT/peers.json"
PEERS_GIVEN=0
LOGS="${START_LOG_DIR:-$ROOT/logs}"
READY_TIMEOUT="${READY_TIMEOUT:-15}"
COMMAND=start
IDS=()
EXTRA=()

usage() { sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

case "${1:-}" in
  start|reload|stop) COMMAND="$1"; shift ;;
esac
while [ $# -gt 0 ]; do
  case "$1" in
    --peers) [ $# -ge 2 ] || { echo "error: --peers needs a file" >&2; exit 2; }; PEERS="$2"; PEERS_GIVEN=1; shift 2 ;;
    --peers=*) PEERS="${1#--peers=}"; PEERS_GIVEN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) [ "$COMMAND" = start ] || { echo "error: flags after -- are for starting replicas" >&2; exit 2; }
        shift; EXTRA=("$@"); break ;;
    -*) echo "error: unknown option $1 (flags for the replicas go after --)" >&2; exit 2 ;;
    *) IDS+=("$1"); shift ;;
  esac
done
if [ "$COMMAND" = reload ] && [ ${#IDS[@]} -gt 0 ]; then
  echo "error: reload takes no replica ids (it signals every running replica of the peers file)" >&2
  exit 2
fi

# ---------------------------------------------------------------------------------------------- pid files
# $LOGS/<id>.pid: the replica's pid, then the absolute path of the peers file it was started with.

pid_file() { echo "$LOGS/$1.pid"; }

# Prints "pid peers" for a replica started by a start.sh that is still running; removes a stale pid file.
live_replica() {
  local id="$1" file pid peers
  file="$(pid_file "$id")"
  [ -f "$file" ] || return 1
  { read -r pid; read -r peers; } <"$file" || true
  # The pid may have been reused since: it counts only while it is a replica with this id (`--node <id>`).
  if [ -n "${pid:-}" ] && kill -0 "$pid" 2>/dev/null \
      && [ "$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -A1 -xF -- --node | sed -n 2p)" = "$id" ]; then
    echo "$pid ${peers:-?}"
    return 0
  fi
  rm -f "$file"
  return 1
}

# Ids of every replica with a live pid file, sorted.
running_anywhere() {
  local file id
  [ -d "$LOGS" ] || return 0
  for file in "$LOGS"/*.pid; do
    [ -e "$file" ] || continue
    id="$(basename "$file" .pid)"
    live_replica "$id" >/dev/null && echo "$id"
  done | sort
}

# ---------------------------------------------------------------------------------------------- stop

if [ "$COMMAND" = stop ]; then
  if [ ${#IDS[@]} -eq 0 ]; then mapfile -t IDS < <(running_anywhere); fi
  if [ ${#IDS[@]} -eq 0 ]; then echo "no replica is running (no live pid file in $LOGS)"; exit 0; fi
  declare -A STOP_PID=()
  for id in "${IDS[@]}"; do
    if info="$(live_replica "$id")"; then
      STOP_PID[$id]="${info%% *}"
      kill -TERM "${STOP_PID[$id]}" 2>/dev/null || true
    else
      echo "replica $id is not running"
    fi
  done
  for _ in $(seq 60); do
    alive=0
    for pid in "${STOP_PID[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && break
    sleep 0.1
  done
  stopped=()
  for id in "${IDS[@]}"; do
    [ -n "${STOP_PID[$id]+x}" ] || continue
    if kill -0 "${STOP_PID[$id]}" 2>/dev/null; then
      echo "replica $id did not stop within 6 s: killing it"
      kill -KILL "${STOP_PID[$id]}" 2>/dev/null || true
    fi
    rm -f "$(pid_file "$id")"
    stopped+=("$id")
  done
  [ ${#stopped[@]} -gt 0 ] && echo "stopped: ${stopped[*]}"
  exit 0
fi

# ---------------------------------------------------------------------------------------------- the file

[ -r "$PEERS" ] || { echo "error: cannot read peers file $PEERS" >&2; exit 2; }
PEERS="$(cd "$(dirname "$PEERS")" && pwd)/$(basename "$PEERS")"

# Build once (release). `swift build` is incremental, but even a no-op costs seconds: skip it when the binary
# is newer than every source file. `reload` uses the binary there is (it only reads the file with it).
if [ -z "${SERVER_BIN:-}" ]; then
  SERVER_BIN="$ROOT/.build/release/Server"
  if [ ! -x "$SERVER_BIN" ] || { [ "$COMMAND" = start ] \
      && [ -n "$(find "$ROOT/Sources" "$ROOT/Package.swift" -newer "$SERVER_BIN" -print -quit)" ]; }; then
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

# The replica ids (and page addresses) in the file, in order: the server reads and checks it (one-line errors).
if ! ALL_IDS=$("$SERVER_BIN" --list-replicas --peers "$PEERS"); then exit 2; fi
declare -A HTTP_OF=()
ORDER=()
while read -r id http _; do
  [ -n "$id" ] || continue
  HTTP_OF[$id]="$http"
  ORDER+=("$id")
done <<< "$ALL_IDS"

# The command that starts `ids` from this file.
start_command() {
  local cmd="./start.sh"
  [ $PEERS_GIVEN -eq 1 ] && cmd+=" --peers $PEERS"
  echo "$cmd $*"
}

# ---------------------------------------------------------------------------------------------- reload

if [ "$COMMAND" = reload ]; then
  signalled=() other=()
  declare -A LOG_OFFSET=()
  mapfile -t RUNNING < <(running_anywhere)
  for id in "${RUNNING[@]}"; do
    info="$(live_replica "$id")" || continue
    pid="${info%% *}" peers="${info#* }"
    if [ "$peers" = "$PEERS" ]; then
      LOG_OFFSET[$id]=$(stat -c %s "$LOGS/$id.log" 2>/dev/null || echo 0)
      kill -HUP "$pid" 2>/dev/null && signalled+=("$id")
    else
      other+=("$id ($peers)")
    fi
  done
  # Each replica logs one line about the reload: show it.
  for id in "${signalled[@]}"; do
    line=""
    for _ in $(seq 50); do
      line=$(tail -c +"$((LOG_OFFSET[$id] + 1))" "$LOGS/$id.log" 2>/dev/null | grep -m1 -E 'peers file .* (reloaded|refused) \(' || true)
      [ -n "$line" ] && break
      sleep 0.1
    done
    echo "replica $id: ${line:-sent SIGHUP (no reload line in $LOGS/$id.log yet)}"
  done
  [ ${#signalled[@]} -eq 0 ] && echo "no running replica was started with $PEERS"
  missing=() extra=()
  for id in "${ORDER[@]}"; do
    [[ " ${RUNNING[*]} " == *" $id "* ]] || missing+=("$id")
  done
  for id in "${RUNNING[@]}"; do
    [ -n "${HTTP_OF[$id]+x}" ] || extra+=("$id")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "not running (in $(basename "$PEERS")): ${missing[*]} — start them with: $(start_command "${missing[@]}")"
  fi
  if [ ${#extra[@]} -gt 0 ]; then
    echo "running but no longer in $(basename "$PEERS"): ${extra[*]} — stop them with: ./start.sh stop ${extra[*]}"
  fi
  if [ ${#other[@]} -gt 0 ]; then
    echo "running with another peers file (not signalled): ${other[*]}"
  fi
  exit 0
fi

# ---------------------------------------------------------------------------------------------- start

if [ ${#IDS[@]} -eq 0 ]; then IDS=("${ORDER[@]}"); fi
for id in "${IDS[@]}"; do
  [ -n "${HTTP_OF[$id]+x}" ] || { echo "error: no replica '$id' in $PEERS (it has: ${ORDER[*]})" >&2; exit 2; }
done
# Replicas another start.sh runs are left alone (`./start.sh d e` next to a running a, b, c).
TO_START=()
for id in "${IDS[@]}"; do
  if info="$(live_replica "$id")"; then
    echo "replica $id is already running (pid ${info%% *}): left alone"
  else
    TO_START+=("$id")
  fi
done
if [ ${#TO_START[@]} -eq 0 ]; then
  echo "error: nothing to start (every replica named is already running; ./start.sh stop to stop them)" >&2
  exit 1
fi
IDS=("${TO_START[@]}")

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

# Forgets a replica of ours that exited (its pid file goes, unless another one already replaced it).
forget() {
  local id="$1" file pid
  file="$(pid_file "$id")"
  if [ -f "$file" ] && read -r pid <"$file" && [ "$pid" = "${PID_OF[$id]}" ]; then rm -f "$file"; fi
  unset "PID_OF[$id]"
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
  local ids
  ids="$(running_ids)"
  for id in "${!PID_OF[@]}"; do forget "$id"; done
  echo "stopped: $ids"
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
  printf '%s\n%s\n' "${PID_OF[$id]}" "$PEERS" >"$(pid_file "$id")"
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
      forget "$id"
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

# Foreground: report replicas that exit on their own (a kill -9 in the demo, a crash, ./start.sh stop) and keep the
# others. Polled rather than `wait -n`: bash's `wait -n` never returns for a child that died before it was called
# (e.g. between its ready line and this loop), which would hide that replica's exit.
while [ ${#PID_OF[@]} -gt 0 ]; do
  for id in "${IDS[@]}"; do
    [ -n "${PID_OF[$id]+x}" ] || continue
    pid="${PID_OF[$id]}"
    kill -0 "$pid" 2>/dev/null && continue
    wait "$pid" 2>/dev/null && rc=0 || rc=$?
    if [ $rc -gt 128 ]; then how="killed by signal $((rc - 128))"; else how="exit $rc"; fi
    echo "replica $id stopped ($how): $(last_line "$id")"
    forget "$id"
  done
  # A short sleep we `wait` for, so Ctrl-C/SIGTERM run the trap at once rather than after the sleep.
  sleep 0.2 &
  wait $! 2>/dev/null || true
done
echo "all replicas have stopped"
exit 1
