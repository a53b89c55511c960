#!/usr/bin/env bash
# Stops a cluster started by deploy/launch-cluster.sh: the coordinator gets
# SIGTERM and tells every group to shut down; the groups' mpirun jobs then
# exit on their own. Whatever is still running after the grace period is
# terminated, then killed.
#
#   deploy/stop-cluster.sh [--run-dir run/cluster] [--grace 30]
set -uo pipefail
cd "$(dirname "$0")/.."
RUN_DIR=run/cluster GRACE=30
while [ $# -gt 0 ]; do
  case "$1" in
    --run-dir) RUN_DIR=$2; shift 2 ;;
    --grace) GRACE=$2; shift 2 ;;
    *) echo "stop-cluster: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
[ -f "$RUN_DIR/coordinator.pid" ] && alive "$RUN_DIR/coordinator.pid" && kill -TERM "$(cat "$RUN_DIR/coordinator.pid")"
deadline=$((SECONDS + GRACE))
for f in "$RUN_DIR"/*.pid; do
  [ -e "$f" ] || continue
  while alive "$f" && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
  if alive "$f"; then
    echo "stop-cluster: $(basename "$f" .pid) still running after ${GRACE}s; terminating it" >&2
    kill -TERM "$(cat "$f")" 2>/dev/null; sleep 2
    alive "$f" && kill -KILL "$(cat "$f")" 2>/dev/null
  fi
  rm -f "$f"
done
echo "stop-cluster: stopped"
