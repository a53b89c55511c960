#!/usr/bin/env bash
# End to end: dead and stuck workers. A coordinator with a 3 s liveness
# window and replica groups that are each their own mpirun job; each phase
# runs 100 concurrent streaming requests through reliability_check, which
# fires the phase's fault once some tokens have streamed and then checks
# every answer against the single-rank engine (tokens, text, contiguous
# chunk indexes) and the coordinator's ledger.
#
#   1. group B's leader SIGSTOPped for 1.5 s, then SIGCONT: B stays ready at
#      the same epoch (not declared dead).
#   2. kill -9 of group A's rank 1 (not its leader): the job ends, A is
#      declared dead, its requests finish on B.
#   3. group C joins at runtime (deploy/launch-group.sh): it registers,
#      becomes ready and serves.
#   4. group B's rank 1 SIGSTOPped and left stopped: B's leader gives up on
#      the step after --step-timeout-ms and ends its job; B is declared dead
#      and its requests finish on C.
#   5. group D joins; kill -9 of group C's leader: C dead, its requests
#      finish on D.
# Then a clean stop: SIGTERM to the coordinator ends every group.
#
#   reliability_test.sh BUILD_DIR WORK_DIR
set -euo pipefail
BUILD=$(readlink -f "$1")
WORK=$2
rm -rf "$WORK" && mkdir -p "$WORK"
WORK=$(readlink -f "$WORK")
SOURCE=$(readlink -f "$(dirname "$0")/../..")
TESSERA="$BUILD/client/tessera"
CHECK="$BUILD/tests/e2e/reliability_check"
MODEL="$WORK/model.gguf"
"$TESSERA" model make --preset tiny --type f32 --seed 11 -o "$MODEL" >/dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

HEARTBEAT_TIMEOUT_MS=3000
STEP_TIMEOUT_MS=3000
# Heartbeats every 250 ms: a leader stopped for 1.5 s is then silent for at
# most ~1.75 s, well inside the 3 s window even on a loaded machine.
WORKER_ARGS="--heartbeat-ms 250 --step-timeout-ms $STEP_TIMEOUT_MS"
T0=$(date +%s)

declare -A JOB        # group name -> its mpirun's pid
declare -A RANK_PIDS  # group name -> "pid of rank 0, pid of rank 1, ..."
COORD=''
rc=0
fail() { echo "FAILED: $*"; rc=1; }
# Running: it exists and is no zombie (a job started by launch-group.sh is
# not this shell's child, and whoever reaps it may take a while).
alive() { [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

cleanup() {
  local survivors=''
  for name in "${!JOB[@]}"; do
    for p in ${RANK_PIDS[$name]:-}; do
      if kill -0 "$p" 2>/dev/null; then
        survivors+=" $name:$p"
        kill -CONT "$p" 2>/dev/null || true
        kill -KILL "$p" 2>/dev/null || true
      fi
    done
    kill -KILL "${JOB[$name]}" 2>/dev/null || true
  done
  [ -n "$COORD" ] && kill -KILL "$COORD" 2>/dev/null || true
  [ -n "$survivors" ] && echo "cleanup: killed worker ranks still running:$survivors"
  if [ $rc -ne 0 ]; then
    for f in "$WORK"/*.log "$WORK"/run/*.log; do [ -f "$f" ] && { echo "== $f"; tail -n 25 "$f"; }; done
  fi
}
trap cleanup EXIT

# The pids of a job's ranks, in rank order (its mpirun's children).
find_ranks() {
  local name=$1 n=$2 pids=()
  for _ in $(seq 1 100); do
    pids=()
    for p in $(pgrep -P "${JOB[$name]}" || true); do
      local r
      r=$(tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | sed -n 's/^OMPI_COMM_WORLD_RANK=//p')
      [ -n "$r" ] && pids[$r]=$p
    done
    [ ${#pids[@]} -eq "$n" ] && break
    sleep 0.1
  done
  [ ${#pids[@]} -eq "$n" ] || { fail "group $name: found ${#pids[@]} of $n ranks"; exit 1; }
  RANK_PIDS[$name]="${pids[*]}"
}
rank_pid() { local a; read -r -a a <<< "${RANK_PIDS[$1]}"; echo "${a[$2]}"; }

launch() {  # launch NAME TP PP: its own mpirun job, like serving_test.sh
  local name=$1 tp=$2 pp=$3
  mkdir -p "$WORK/ompi-$name"
  # shellcheck disable=SC2086
  OMPI_MCA_orte_tmpdir_base="$WORK/ompi-$name" mpirun --oversubscribe --bind-to none -np $((tp * pp)) \
    "$BUILD/worker/bin/tessera-worker" --model "$MODEL" --coordinator "tcp://127.0.0.1:$WPORT" --tp "$tp" \
    --pp "$pp" --name "$name" $WORKER_ARGS >"$WORK/group-$name.log" 2>&1 &
  JOB[$name]=$!
}

wait_state() {  # wait_state NAME ready|dead SECONDS [EPOCH]: prints the epoch
  "$CHECK" wait --coordinator "$EP" --group "$1" --state "$2" --timeout-s "$3" ${4:+--epoch "$4"}
}

# A job whose rank died must end, every rank with it (Open MPI aborts it).
expect_job_ends() {
  local name=$1
  for _ in $(seq 1 150); do alive "${JOB[$name]}" || break; sleep 0.1; done
  if alive "${JOB[$name]}"; then fail "group $name: mpirun still running 15 s after the fault"; fi
  wait "${JOB[$name]}" 2>/dev/null || true
  for p in ${RANK_PIDS[$name]}; do
    if alive "$p"; then fail "group $name: rank pid $p survived its job's end"; fi
  done
  echo "group $name: its mpirun job ended with every rank"
}

run_check() {  # run_check SEED [reliability_check run flags...]
  local seed=$1; shift
  "$CHECK" run --coordinator "$EP" --model "$MODEL" --requests 100 --tokens 24:40 --seed "$seed" "$@" || fail "reliability_check run (seed $seed)"
}

# Free ports are not knowable in advance: try a few random pairs.
for attempt in 1 2 3 4 5; do
  CPORT=$((20000 + RANDOM % 20000)); WPORT=$((CPORT + 1))
  "$BUILD/coordinator/bin/tessera-coordinator" --model "$MODEL" --listen "tcp://127.0.0.1:$CPORT" \
    --workers "tcp://127.0.0.1:$WPORT" --admin "tcp://127.0.0.1:$((CPORT + 2))" --queue-limit 256 --heartbeat-timeout-ms $HEARTBEAT_TIMEOUT_MS \
    >"$WORK/coordinator.log" 2>&1 &
  COORD=$!
  sleep 1
  kill -0 $COORD 2>/dev/null && break
  echo "coordinator did not start on ports $CPORT/$WPORT (attempt $attempt):"; tail -n 3 "$WORK/coordinator.log"
  COORD=''
done
[ -n "$COORD" ] || exit 1
EP="tcp://127.0.0.1:$CPORT"

launch A 2 1
launch B 1 2
wait_state A ready 120 >/dev/null || exit 1
EPOCH_B=$(wait_state B ready 120) || exit 1
find_ranks A 2
find_ranks B 2
echo "== groups A (tp 2) and B (tp 1 x pp 2) ready after $(( $(date +%s) - T0 )) s"

echo "== 1. B's leader stopped for 1.5 s (less than the ${HEARTBEAT_TIMEOUT_MS} ms window)"
B0=$(rank_pid B 0)
run_check 1 --fault-after-tokens 300 --fault-cmd "kill -STOP $B0 && sleep 1.5 && kill -CONT $B0" \
  --expect-served-by A --expect-served-by B
wait_state B ready 0 "$EPOCH_B" >/dev/null || fail "group B was declared dead or changed epoch"
if grep -E "group B \(id [0-9]+\) dead" "$WORK/coordinator.log"; then fail "the coordinator declared B dead"; fi

echo "== 1b. A rebalanced under load: its tensor shares go from even to 3:1; what still runs after 0.5 s moves to B"
ADMIN="$TESSERA admin --coordinator tcp://127.0.0.1:$((CPORT + 2))"
A_ID=$($ADMIN status | awk '$1 == "group" && $3 == "A" { print $2 }')
[ -n "$A_ID" ] || { fail "admin status does not list group A"; exit 1; }
run_check 6 --fault-after-tokens 300 \
  --fault-cmd "$ADMIN rebalance --group $A_ID --shares 3,1 --drain-timeout-ms 500 --wait > $WORK/rebalance.txt 2>&1" \
  --expect-served-by B
cat "$WORK/rebalance.txt"
grep -q "switched" "$WORK/rebalance.txt" || fail "group A's rebalance did not switch plans"
$ADMIN status | awk -v id="$A_ID" '$1 == "group" { mine = ($2 == id) } mine'
$ADMIN status | grep -E "^group $A_ID  A  ready  epoch 2 .* plan generation 2" >/dev/null \
  || fail "group A is not ready at epoch 2 with plan generation 2 after its rebalance"

echo "== 2. kill -9 of A's rank 1 (not its leader) mid-stream"
A1=$(rank_pid A 1)
run_check 2 --fault-after-tokens 300 --fault-cmd "kill -KILL $A1" --expect-served-by B
wait_state A dead 10 >/dev/null || fail "group A not declared dead"
grep -E "group A \(id [0-9]+\) dead" "$WORK/coordinator.log" || true
expect_job_ends A

echo "== 3. group C joins at runtime (deploy/launch-group.sh)"
bash "$SOURCE/deploy/launch-group.sh" --model "$MODEL" --coordinator "tcp://127.0.0.1:$WPORT" --name C --tp 2 \
  --build "$BUILD" --run-dir "$WORK/run" --worker-args "$WORKER_ARGS"
JOB[C]=$(cat "$WORK/run/C.pid")
wait_state C ready 120 >/dev/null || exit 1
find_ranks C 2
run_check 3 --expect-served-by C --expect-served-by B

echo "== 4. B's rank 1 stopped for good: B's leader gives up after ${STEP_TIMEOUT_MS} ms and ends its job"
B1=$(rank_pid B 1)
rm -f "$WORK/stopped_at"
run_check 4 --fault-after-tokens 300 --fault-cmd "kill -STOP $B1 && date +%s.%N > $WORK/stopped_at" \
  --expect-served-by C &
RUN4=$!
for _ in $(seq 1 600); do [ -s "$WORK/stopped_at" ] && break; sleep 0.1; done
if [ -s "$WORK/stopped_at" ]; then
  if wait_state B dead 60 >/dev/null; then
    secs=$(awk -v a="$(cat "$WORK/stopped_at")" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    echo "group B declared dead ${secs} s after its rank 1 stopped (step timeout $((STEP_TIMEOUT_MS / 1000)) s + liveness window $((HEARTBEAT_TIMEOUT_MS / 1000)) s)"
    awk -v s="$secs" 'BEGIN { exit !(s <= 15) }' || fail "group B took ${secs} s to be declared dead"
  else
    fail "group B not declared dead within 60 s of its rank 1 stopping"
  fi
else
  fail "the fault of phase 4 never fired"
fi
wait $RUN4 || fail "reliability_check run (seed 4)"
grep -m1 "no answer to step" "$WORK/group-B.log" || fail "group B's log does not name the step it timed out on"
expect_job_ends B

echo "== 5. group D joins; kill -9 of C's leader mid-stream"
launch D 2 1
wait_state D ready 120 >/dev/null || exit 1
find_ranks D 2
C0=$(rank_pid C 0)
run_check 5 --fault-after-tokens 300 --fault-cmd "kill -KILL $C0" --expect-served-by D
wait_state C dead 10 >/dev/null || fail "group C not declared dead"
expect_job_ends C

"$TESSERA" status --coordinator "$EP"

# A clean stop: SIGTERM to the coordinator shuts the live group down.
kill -TERM "$COORD"
for p in "$COORD" "${JOB[D]}"; do
  for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$p" 2>/dev/null; then fail "process $p still running 20 s after the coordinator's SIGTERM"; fi
done
wait "$COORD" || fail "the coordinator exited with $?"
wait "${JOB[D]}" || fail "group D's mpirun exited with $?"
COORD=''
echo "reliability test: $([ $rc -eq 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - T0 )) s"
exit $rc
