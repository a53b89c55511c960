#!/usr/bin/env bash
# End to end: a coordinator and two replica groups of tp 2 (each its own
# mpirun job) on this machine, checked by serving_check against the
# single-rank engine; then a clean stop: every process exits on its own.
#
#   serving_test.sh BUILD_DIR WORK_DIR
set -euo pipefail
BUILD=$(readlink -f "$1")
WORK=$2
rm -rf "$WORK" && mkdir -p "$WORK"
WORK=$(readlink -f "$WORK")
TESSERA="$BUILD/client/tessera"
MODEL="$WORK/model.gguf"
"$TESSERA" model make --preset tiny --type f32 --seed 11 -o "$MODEL" >/dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# Free ports are not knowable in advance: try a few random pairs.
for attempt in 1 2 3 4 5; do
  CPORT=$((20000 + RANDOM % 20000)); WPORT=$((CPORT + 1))
  "$BUILD/coordinator/bin/tessera-coordinator" --model "$MODEL" --listen "tcp://127.0.0.1:$CPORT" \
    --workers "tcp://127.0.0.1:$WPORT" --admin "tcp://127.0.0.1:$((CPORT + 2))" --queue-limit 16 \
    >"$WORK/coordinator.log" 2>&1 &
  COORD=$!
  sleep 1
  kill -0 $COORD 2>/dev/null && break
  echo "coordinator did not start on ports $CPORT/$WPORT (attempt $attempt):"; tail -n 3 "$WORK/coordinator.log"
done
kill -0 $COORD 2>/dev/null || exit 1
pids+=($COORD)
EP="tcp://127.0.0.1:$CPORT"
for g in 0 1; do
  # Each job its own session directory: two mpirun jobs starting at the same
  # moment can collide on Open MPI's default one ("/tmp/ompi.HOST.0 File exists").
  mkdir -p "$WORK/ompi-$g"
  OMPI_MCA_orte_tmpdir_base="$WORK/ompi-$g" mpirun --oversubscribe --bind-to none -np 2 "$BUILD/worker/bin/tessera-worker" --model "$MODEL" \
    --coordinator "tcp://127.0.0.1:$WPORT" --tp 2 --name "group-$g" >"$WORK/group-$g.log" 2>&1 &
  pids+=($!)
done
GROUP_PIDS=("${pids[@]:1}")

ready=0
for _ in $(seq 1 240); do
  ready=$("$TESSERA" status --coordinator "$EP" --json 2>/dev/null | grep -o GROUP_READY | wc -l || true)
  [ "$ready" -ge 2 ] && break
  sleep 0.5
done
if [ "$ready" -lt 2 ]; then
  echo "FAILED: $ready of 2 groups ready"; tail -n 20 "$WORK"/*.log; exit 1
fi
"$TESSERA" status --coordinator "$EP"
rss_before=$(awk '/VmRSS/ {print $2}' /proc/$COORD/status)

rc=0
"$BUILD/tests/e2e/serving_check" --coordinator "$EP" --model "$MODEL" || rc=1
rss_after=$(awk '/VmRSS/ {print $2}' /proc/$COORD/status)
echo "coordinator resident memory: ${rss_before} KiB before, ${rss_after} KiB after the checks"
# Bounded memory: the overload left no queue or record growth beyond its
# limits (a few MiB of records at most on top of the baseline).
if [ "$rss_after" -gt $((rss_before + 65536)) ]; then
  echo "FAILED: the coordinator grew by $((rss_after - rss_before)) KiB"; rc=1
fi
"$TESSERA" status --coordinator "$EP"

# A clean stop: SIGTERM to the coordinator shuts every group down.
kill -TERM $COORD
for p in $COORD "${GROUP_PIDS[@]}"; do
  for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$p" 2>/dev/null; then echo "FAILED: process $p still running 20 s after the coordinator's SIGTERM"; rc=1; fi
done
for p in $COORD "${GROUP_PIDS[@]}"; do
  if wait "$p"; then :; else code=$?; echo "FAILED: process $p exited with $code"; rc=1; fi
done
if [ $rc -ne 0 ]; then
  for f in "$WORK"/*.log; do echo "== $f"; tail -n 30 "$f"; done
fi
exit $rc
