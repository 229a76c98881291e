#!/usr/bin/env bash
# Side-by-side benchmarks: this server's replicas against the SwiftNIO/Hummingbird peer (../shared/peers), both
# driven by the peer's NIO load generator, interleaved round by round (ours, theirs, theirs, ours, ...) so that the
# host's changing load falls on both sides alike. Not part of CI; the peers are never a dependency of the project.
#
#   Tests/bench/side-by-side.sh [WORKLOAD...]        # default: fan10k fan3x5k latency fan1k fan19k idle
#
# Workloads (ours = 3 mesh replicas via bench-mesh.sh; theirs = bench.sh or bench-redis.sh):
#   fan1k, fan10k, fan19k  fan-out on one replica, 1 000 / 10 000 / 19 500 receivers, one sender, rate sweep
#                          stopping at p99 > 500 ms or any loss (ours: sender and receivers on replica a)
#   fan3x5k                fan-out, 3 replicas x 5 000 receivers, sender on replica 1 (theirs: NIO + Redis)
#   latency                cross-replica latency at 1k msg/s, 64 B, sender on replica 1, receiver on 2 (NIO + Redis)
#   idle                   RSS per idle connection, 19 000 connections held (replica 1 / the one NIO server)
#
# Environment:
#   PEERS=DIR     the peers checkout (default ../shared/peers beside the project root, then /work/shared/peers).
#                 If its loadgen / HBSignalR release binaries are missing (the shared copy is read-only), it is
#                 copied to $SCRATCH/peers and built there (`swift build -c release`, a few minutes the first time).
#   BUILD=DIR     our build folder holding release/Server (default .build; e.g. BUILD=.build-me after
#                 `swift build -c release --scratch-path .build-me`)
#   ROUNDS=N      interleaved rounds (default 2)      PIN=pinned|unpinned (default pinned: servers CPU 0, loadgen CPU 1)
#   PROCS=N       loadgen --procs for the fan-out workloads (default 1; raise it unpinned when the loadgen's CPU is
#                 the limit — pinned, every loadgen process shares CPU 1, so splitting can't help there)
#   STOP_P99=MS   a sweep stops after the first step with p99 above this (default 500, the goals' limit; a higher one
#                 draws the whole curve where both sides miss 500 ms already at the lowest rate)
#   RATES=LIST    the fan-out sweeps' offered rates instead of each workload's own (e.g. RATES=1000,1400,2000)
#   SIDES="..."   who runs, in this order in odd rounds and reversed in even ones (default "ours theirs"); `oursN`
#                 is ours with `--loops N` (e.g. SIDES="ours1 ours2" for one loop against two)
#   OUT=DIR       where logs and the collected results go (default $SCRATCH/side-by-side/<UTC stamp>-<PIN>)
#   SCRATCH=DIR   scratch folder (default .build-bench)
# Output: OUT/<workload>.<side>.r<round>.log (raw, each ends with the loadgen's STEP/SUMMARY lines) and, collected
# by Tests/bench/collect.py, OUT/steps.csv (one row per rate step), OUT/summary.csv (one row per run) and
# OUT/runs.json. Exit 2 when the peers are not there.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
SCRATCH=${SCRATCH:-.build-bench}
case $SCRATCH in /*) ;; *) SCRATCH=$ROOT/$SCRATCH ;; esac
BUILD=${BUILD:-.build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
ROUNDS=${ROUNDS:-2}
PIN=${PIN:-pinned}
PROCS=${PROCS:-1}
STOP_P99=${STOP_P99:-500}
[ "$PIN" = pinned ] || [ "$PIN" = unpinned ] || { echo "PIN must be pinned or unpinned" >&2; exit 1; }

if [ -z "${PEERS:-}" ]; then
  for d in "$ROOT/../shared/peers" /work/shared/peers; do [ -d "$d/scripts" ] && { PEERS=$d; break; }; done
fi
if [ -z "${PEERS:-}" ] || [ ! -x "$PEERS/scripts/bench.sh" ]; then
  echo "side-by-side: the peers checkout (../shared/peers: scripts/, hb-signalr/, loadgen/) is not here;" >&2
  echo "  set PEERS=DIR. Nothing was measured." >&2
  exit 2
fi
PEERS=$(cd "$PEERS" && pwd)
if [ ! -x "$PEERS/loadgen/.build/release/loadgen" ] || [ ! -x "$PEERS/hb-signalr/.build/release/HBSignalR" ]; then
  if [ ! -w "$PEERS" ]; then
    mkdir -p "$SCRATCH"
    if [ ! -d "$SCRATCH/peers" ]; then cp -r "$PEERS" "$SCRATCH/peers" && chmod -R u+w "$SCRATCH/peers"; fi
    PEERS=$SCRATCH/peers
  fi
  for p in loadgen hb-signalr; do
    echo "side-by-side: building $PEERS/$p (release)" >&2
    (cd "$PEERS/$p" && swift build -c release) || { echo "side-by-side: building $p failed" >&2; exit 1; }
  done
fi
if [ ! -x "$BUILD/release/Server" ]; then
  echo "side-by-side: $BUILD/release/Server is missing: swift build -c release [--scratch-path DIR], BUILD=DIR" >&2
  exit 1
fi
command -v redis-server > /dev/null || { echo "side-by-side: redis-server is missing (apt-get install redis-server)" >&2; exit 1; }

# bench-mesh.sh runs $PROJECT/.build/release/Server and asks git for $PROJECT's commit: a shim folder inside the
# worktree (so git answers) whose .build/release/Server is our binary.
# `oursN` gets a shim of its own whose Server runs ours with `--loops N`.
SHIM=$SCRATCH/project-shim
mkdir -p "$SHIM/.build/release"
ln -sf "$BUILD/release/Server" "$SHIM/.build/release/Server"
read -r -a SIDE_LIST <<< "${SIDES:-ours theirs}"
for side in "${SIDE_LIST[@]}"; do
  case $side in
    ours|theirs) ;;
    ours[0-9]*)
      n=${side#ours}
      mkdir -p "$SHIM-$side/.build/release"
      printf '#!/bin/sh\nexec "%s" --loops %s "$@"\n' "$BUILD/release/Server" "$n" > "$SHIM-$side/.build/release/Server"
      chmod +x "$SHIM-$side/.build/release/Server" ;;
    *) echo "side-by-side: unknown side '$side' (ours, oursN, theirs)" >&2; exit 1 ;;
  esac
done

OUT=${OUT:-$SCRATCH/side-by-side/$(date -u +%Y%m%dT%H%M%SZ)-$PIN}
mkdir -p "$OUT"
export RESULTS=$OUT
S=$PEERS/scripts
WORKLOADS=("$@")
[ ${#WORKLOADS[@]} -gt 0 ] || WORKLOADS=(fan10k fan3x5k latency fan1k fan19k idle)

# The loadgen arguments of each workload; @R1 @R2 @ALL are filled in by the peers' scripts (bench.sh adds --url).
FAN="--senders 1 --duration 6 --warmup 1 --stop-p99 $STOP_P99 --procs $PROCS"
args() {
  if [ -n "${RATES:-}" ]; then
    case $1 in fan*) args_default "$1" | sed "s/--rates [0-9,]*/--rates $RATES/"; return ;; esac
  fi
  args_default "$1"
}
args_default() {
  case $1 in
    fan1k)   echo "fanout --clients 1001 $FAN --rates 500,1000,2000,3000,4000,6000,8000,12000" ;;
    fan10k)  echo "fanout --clients 10001 $FAN --rates 50,100,200,300,400,500,700,1000" ;;
    fan19k)  echo "fanout --clients 19501 $FAN --rates 25,50,100,150,200,300,400,500" ;;
    fan3x5k) echo "fanout --clients 15001 $FAN --send-url @R1 --recv-url @ALL --rates 10,20,40,80,120,160,240,320" ;;
    latency) echo "echo-latency --rate 1000 --duration 15 --warmup 2 --hist-skip-senders --send-url @R1 --recv-url @R2" ;;
    idle)    echo "connections --n 19000 --hold 3" ;;
    *) return 1 ;;
  esac
}
run_side() {   # workload side round
  local w=$1 side=$2 r=$3 name="$1.$2.r$3" a
  a=$(args "$w")
  if [ "$side" != theirs ]; then
    local shim=$SHIM
    [ "$side" = ours ] || shim=$SHIM-$side
    case $w in fan1k|fan10k|fan19k) a="$a --send-url @R1 --recv-url @R1" ;; idle) a="$a --url @R1" ;; esac
    echo "== $name: bench-mesh.sh $PIN $a" >&2
    # shellcheck disable=SC2086
    PROJECT=$shim "$S/bench-mesh.sh" "$name" "$PIN" $a > /dev/null
  else
    case $w in
      fan3x5k|latency) echo "== $name: bench-redis.sh $PIN $a" >&2
        # shellcheck disable=SC2086
        "$S/bench-redis.sh" "$name" "$PIN" $a > /dev/null ;;
      *) echo "== $name: bench.sh $PIN $a" >&2
        # shellcheck disable=SC2086
        "$S/bench.sh" "$name" "$PIN" $a > /dev/null ;;
    esac
  fi
  grep -h '^BEST\|KB/conn\|latency (n=\|^# loadgen exit' "$OUT/$name.log" | sed 's/^/   /' >&2
}

for w in "${WORKLOADS[@]}"; do args "$w" > /dev/null || { echo "unknown workload $w" >&2; exit 1; }; done
{
  echo "# side-by-side $(date -u +%FT%TZ) sides=${SIDE_LIST[*]} rates=${RATES:-default} pin=$PIN rounds=$ROUNDS procs=$PROCS stop-p99=$STOP_P99 workloads=${WORKLOADS[*]}"
  echo "# ours: $BUILD/release/Server at $(git rev-parse --short HEAD); peers: $PEERS"
  echo "# machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/README.txt" >&2
for r in $(seq "$ROUNDS"); do
  for w in "${WORKLOADS[@]}"; do
    # alternate who goes first, so a drift in the host's load doesn't always favour the same side
    order=("${SIDE_LIST[@]}")
    if [ $((r % 2)) -eq 0 ]; then
      order=(); for ((k=${#SIDE_LIST[@]}-1; k>=0; k--)); do order+=("${SIDE_LIST[k]}"); done
    fi
    for side in "${order[@]}"; do run_side "$w" "$side" "$r"; done
  done
done
python3 "$ROOT/Tests/bench/collect.py" "$OUT"
echo "results: $OUT (steps.csv, summary.csv, runs.json); plots: python Tests/bench/plot.py side-by-side $OUT" >&2
