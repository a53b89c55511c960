#!/usr/bin/env bash
# Serving figures of one replica group behind a coordinator: starts
# tessera-coordinator and one group (mpirun), waits until the group is ready,
# sweeps tessera-bench over concurrency levels (TTFT, TPOT, ITL, e2e, output
# tok/s and its ratio to concurrency 1, goodput), writes bench.json and
# bench.png, prints the table, and stops everything it started.
#
# Usage: bench/serve_bench.sh BUILD_DIR MODEL.gguf [OUT_DIR]
#   OUT_DIR defaults to BUILD_DIR/serve-bench; it also gets coordinator.log
#   and worker.log.
# Environment:
#   TP, PP, THREADS   the group's shape and compute threads per rank (1, 1, 2)
#   CONCURRENCY       levels to sweep (1,2,4,8,16)
#   WARMUP            unrecorded requests before each level (2)
#   PORT              the coordinator's client port; PORT+1 is its worker port, PORT+2 its admin port (15555)
#   READY_TIMEOUT     seconds to wait for the group to load and register (300)
#   BENCH_ARGS        more tessera-bench flags, e.g. "--max-tokens 32:128 --warmup 4"
set -euo pipefail
if [ $# -lt 2 ]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
fi
BUILD=$1
MODEL=$2
OUT=${3:-$BUILD/serve-bench}
TP=${TP:-1} PP=${PP:-1} THREADS=${THREADS:-2}
CONCURRENCY=${CONCURRENCY:-1,2,4,8,16}
WARMUP=${WARMUP:-2}
PORT=${PORT:-15555}
READY_TIMEOUT=${READY_TIMEOUT:-300}
read -r -a EXTRA <<< "${BENCH_ARGS:-}"

COORDINATOR=$BUILD/coordinator/bin/tessera-coordinator
WORKER=$BUILD/worker/bin/tessera-worker
BENCH=$BUILD/bench/tessera-bench
TESSERA=$BUILD/client/tessera
for bin in "$COORDINATOR" "$WORKER" "$BENCH"; do
  [ -x "$bin" ] || { echo "error: $bin is missing (cmake --build $BUILD --target $(basename "$bin"))" >&2; exit 1; }
done
[ -f "$MODEL" ] || { echo "error: no model at $MODEL (make one: $TESSERA model make --preset small -o $MODEL)" >&2; exit 1; }
mkdir -p "$OUT"
CLIENT_EP=tcp://127.0.0.1:$PORT
WORKER_EP=tcp://127.0.0.1:$((PORT + 1))
ADMIN_EP=tcp://127.0.0.1:$((PORT + 2))

# Prompts use the model's whole vocabulary when `tessera model info` can say
# what it is; tessera-bench's default (512) is valid for every preset.
VOCAB=()
if [ -x "$TESSERA" ]; then
  v=$("$TESSERA" model info "$MODEL" 2>/dev/null | sed -n 's/^ *vocab \([0-9]*\),.*/\1/p' | head -1)
  [ -n "$v" ] && VOCAB=(--vocab "$v")
fi

COORD_PID='' MPI_PID='' BENCH_PID=''
stop() {  # stop PID NAME SECONDS: TERM, then KILL if it outlives SECONDS
  local pid=$1 name=$2 wait_s=$3
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < wait_s * 10; ++i)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  echo "$name (pid $pid) did not stop in ${wait_s} s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop "$BENCH_PID" tessera-bench 5
  # The coordinator's exit shuts the group down; mpirun gets a while to
  # notice before it is stopped itself (it takes its ranks with it).
  stop "$COORD_PID" tessera-coordinator 10
  if [ -n "$MPI_PID" ]; then
    for ((i = 0; i < 100; ++i)); do kill -0 "$MPI_PID" 2>/dev/null || break; sleep 0.1; done
    stop "$MPI_PID" mpirun 10
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$COORDINATOR" --model "$MODEL" --listen "$CLIENT_EP" --workers "$WORKER_EP" --admin "$ADMIN_EP" > "$OUT/coordinator.log" 2>&1 &
COORD_PID=$!
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
  mpirun --bind-to none --oversubscribe -np $((TP * PP)) \
  "$WORKER" --model "$MODEL" --coordinator "$WORKER_EP" --tp "$TP" --pp "$PP" --threads "$THREADS" \
  > "$OUT/worker.log" 2>&1 &
MPI_PID=$!

echo "model $MODEL; group tp=$TP pp=$PP, $THREADS threads a rank; coordinator $CLIENT_EP" >&2
echo "waiting for the group to be ready (logs in $OUT)..." >&2
start=$SECONDS
until "$BENCH" --coordinator "$CLIENT_EP" --wait-ready 2 --connect-timeout 2 --only-wait 2>/dev/null; do
  if ! kill -0 "$COORD_PID" 2>/dev/null; then
    echo "error: tessera-coordinator exited; its log:" >&2; tail -n 20 "$OUT/coordinator.log" >&2; exit 1
  fi
  if ! kill -0 "$MPI_PID" 2>/dev/null; then
    echo "error: the worker group exited; its log:" >&2; tail -n 20 "$OUT/worker.log" >&2; exit 1
  fi
  if ((SECONDS - start > READY_TIMEOUT)); then
    echo "error: no group ready after $READY_TIMEOUT s; the logs' ends:" >&2
    tail -n 5 "$OUT/coordinator.log" "$OUT/worker.log" >&2
    exit 1
  fi
done
echo "ready after $((SECONDS - start)) s" >&2

"$BENCH" --coordinator "$CLIENT_EP" --concurrency "$CONCURRENCY" --warmup "$WARMUP" "${VOCAB[@]}" \
  --label "tp=$TP pp=$PP threads=$THREADS" --json "$OUT/bench.json" --plot "$OUT/bench.png" "${EXTRA[@]}" &
BENCH_PID=$!
# In the background so a TERM or INT reaches the trap now, not after the sweep.
wait "$BENCH_PID"
