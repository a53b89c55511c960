#!/usr/bin/env bash
# Starts one replica group as its own mpirun job, in the background, joining
# a running coordinator (groups may join at any time: each registers, gets a
# plan, loads its shards and serves). Its pid and log go to the run dir, where
# deploy/stop-cluster.sh finds them.
#
#   deploy/launch-group.sh --model M --coordinator tcp://HOST:5556 --name NAME
#       [--tp 1] [--pp 1] [--threads 1] [--hostfile hosts] [--run-dir run/cluster]
#       [--build build] [--worker-args "..."]
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL="" COORD="" NAME="" TP=1 PP=1 THREADS=1 HOSTFILE="" RUN_DIR=run/cluster BUILD=build WORKER_ARGS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --model) MODEL=$2; shift 2 ;;
    --coordinator) COORD=$2; shift 2 ;;
    --name) NAME=$2; shift 2 ;;
    --tp) TP=$2; shift 2 ;;
    --pp) PP=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --hostfile) HOSTFILE=$2; shift 2 ;;
    --run-dir) RUN_DIR=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --worker-args) WORKER_ARGS=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "launch-group: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ -n "$MODEL" ] && [ -n "$COORD" ] && [ -n "$NAME" ] || { echo "launch-group: --model, --coordinator and --name are required" >&2; exit 2; }
[ -f "$MODEL" ] || { echo "launch-group: no model file at '$MODEL'" >&2; exit 1; }
[ -x "$BUILD/worker/bin/tessera-worker" ] || { echo "launch-group: $BUILD/worker/bin/tessera-worker is missing (bash deploy/build.sh first)" >&2; exit 1; }
if [ "$(id -u)" -eq 0 ]; then
  # Open MPI refuses root unless told; a container's root is the usual case.
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
mkdir -p "$RUN_DIR"
# Local groups share this machine's cores: no binding (two jobs would both
# bind their rank 0 to core 0), and more ranks than cores are allowed.
PLACE=(--oversubscribe --bind-to none)
if [ -n "$HOSTFILE" ]; then
  PLACE=(--hostfile "$HOSTFILE")
else
  # Local jobs get a session directory each: two mpirun jobs starting at the
  # same moment can collide on Open MPI's default one.
  mkdir -p "$RUN_DIR/ompi-$NAME"
  export OMPI_MCA_orte_tmpdir_base
  OMPI_MCA_orte_tmpdir_base=$(readlink -f "$RUN_DIR/ompi-$NAME")
fi
# shellcheck disable=SC2086  # the extra arguments are meant to split
mpirun "${PLACE[@]}" -np $((TP * PP)) "$(readlink -f "$BUILD/worker/bin/tessera-worker")" \
  --model "$(readlink -f "$MODEL")" --coordinator "$COORD" --tp "$TP" --pp "$PP" --threads "$THREADS" \
  --name "$NAME" $WORKER_ARGS >"$RUN_DIR/$NAME.log" 2>&1 &
echo $! >"$RUN_DIR/$NAME.pid"
echo "launch-group: $NAME: mpirun -np $((TP * PP)) (tp $TP x pp $PP), pid $!; log $RUN_DIR/$NAME.log"
