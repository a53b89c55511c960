#!/usr/bin/env bash
# Starts a tessera cluster: one coordinator on this machine and N replica
# groups, each its own `mpirun` job (a dead group then costs only its own
# work: see docs/architecture.md). Returns once every group is ready; stop it
# with deploy/stop-cluster.sh.
#
#   deploy/launch-cluster.sh --model models/m.gguf [--groups 2] [--tp 2] [--pp 1]
#       [--threads 1] [--hostfile hosts] [--host ADDR] [--client-port 5555]
#       [--worker-port 5556] [--admin-port 5557] [--run-dir run/cluster] [--build build]
#       [--coordinator-args "..."] [--worker-args "..."]
#
# With --hostfile every group's mpirun places its ranks on those hosts (the
# model file and the build must be at the same paths there), and --host is
# the address of this machine the leaders connect to (default: the first of
# `hostname -I`; 127.0.0.1 without a hostfile).
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL="" GROUPS_N=2 TP=1 PP=1 THREADS=1 HOSTFILE="" HOST="" CLIENT_PORT=5555 WORKER_PORT=5556 ADMIN_PORT=5557
RUN_DIR=run/cluster BUILD=build COORD_ARGS="" WORKER_ARGS="" READY_TIMEOUT=${READY_TIMEOUT:-600}
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --model) MODEL=$2; shift 2 ;;
    --groups) GROUPS_N=$2; shift 2 ;;
    --tp) TP=$2; shift 2 ;;
    --pp) PP=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --hostfile) HOSTFILE=$2; shift 2 ;;
    --host) HOST=$2; shift 2 ;;
    --client-port) CLIENT_PORT=$2; shift 2 ;;
    --worker-port) WORKER_PORT=$2; shift 2 ;;
    --admin-port) ADMIN_PORT=$2; shift 2 ;;
    --run-dir) RUN_DIR=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --coordinator-args) COORD_ARGS=$2; shift 2 ;;
    --worker-args) WORKER_ARGS=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "launch-cluster: unknown argument '$1'" >&2; usage ;;
  esac
done
[ -n "$MODEL" ] || { echo "launch-cluster: --model is required" >&2; usage; }
[ -f "$MODEL" ] || { echo "launch-cluster: no model file at '$MODEL'" >&2; exit 1; }
for exe in "$BUILD/coordinator/bin/tessera-coordinator" "$BUILD/worker/bin/tessera-worker" "$BUILD/client/tessera"; do
  [ -x "$exe" ] || { echo "launch-cluster: $exe is missing (bash deploy/build.sh first)" >&2; exit 1; }
done
if [ -z "$HOST" ]; then
  if [ -n "$HOSTFILE" ]; then HOST=$(hostname -I | awk '{print $1}'); else HOST=127.0.0.1; fi
fi
mkdir -p "$RUN_DIR"
if [ -f "$RUN_DIR/coordinator.pid" ] && kill -0 "$(cat "$RUN_DIR/coordinator.pid")" 2>/dev/null; then
  echo "launch-cluster: a cluster is already running from $RUN_DIR (deploy/stop-cluster.sh --run-dir $RUN_DIR)" >&2
  exit 1
fi
rm -f "$RUN_DIR"/*.pid
CLIENT_EP="tcp://$HOST:$CLIENT_PORT"
MODEL_ABS=$(readlink -f "$MODEL")

# shellcheck disable=SC2086  # the extra arguments are meant to split
"$BUILD/coordinator/bin/tessera-coordinator" --model "$MODEL_ABS" --listen "tcp://*:$CLIENT_PORT" \
  --workers "tcp://*:$WORKER_PORT" --admin "tcp://127.0.0.1:$ADMIN_PORT" $COORD_ARGS >"$RUN_DIR/coordinator.log" 2>&1 &
echo $! >"$RUN_DIR/coordinator.pid"
echo "launch-cluster: coordinator (pid $!) on $CLIENT_EP, workers on tcp://$HOST:$WORKER_PORT, admin on tcp://127.0.0.1:$ADMIN_PORT (this host only); log $RUN_DIR/coordinator.log"

for g in $(seq 0 $((GROUPS_N - 1))); do
  bash deploy/launch-group.sh --model "$MODEL_ABS" --coordinator "tcp://$HOST:$WORKER_PORT" --name "group-$g" \
    --tp "$TP" --pp "$PP" --threads "$THREADS" --run-dir "$RUN_DIR" --build "$BUILD" \
    ${HOSTFILE:+--hostfile "$HOSTFILE"} --worker-args "$WORKER_ARGS"
done

# Ready when the coordinator reports every group serving.
deadline=$((SECONDS + READY_TIMEOUT))
while true; do
  if ! kill -0 "$(cat "$RUN_DIR/coordinator.pid")" 2>/dev/null; then
    echo "launch-cluster: the coordinator exited:" >&2; tail -n 20 "$RUN_DIR/coordinator.log" >&2; exit 1
  fi
  for g in $(seq 0 $((GROUPS_N - 1))); do
    if ! kill -0 "$(cat "$RUN_DIR/group-$g.pid")" 2>/dev/null; then
      echo "launch-cluster: group-$g exited:" >&2; tail -n 20 "$RUN_DIR/group-$g.log" >&2
      bash deploy/stop-cluster.sh --run-dir "$RUN_DIR" >/dev/null 2>&1 || true
      exit 1
    fi
  done
  ready=$("$BUILD/client/tessera" status --coordinator "$CLIENT_EP" --json 2>/dev/null | grep -o 'GROUP_READY' | wc -l || true)
  [ "$ready" -ge "$GROUPS_N" ] && break
  if [ $SECONDS -ge $deadline ]; then
    echo "launch-cluster: only $ready of $GROUPS_N groups ready after ${READY_TIMEOUT}s; logs in $RUN_DIR" >&2
    bash deploy/stop-cluster.sh --run-dir "$RUN_DIR" >/dev/null 2>&1 || true
    exit 1
  fi
  sleep 1
done
echo "$CLIENT_EP" >"$RUN_DIR/endpoint"
echo "launch-cluster: $GROUPS_N group(s) ready; clients connect to $CLIENT_EP"
