#!/usr/bin/env bash
# Soak: a coordinator and two replica groups (each its own mpirun job) under
# ~70% of their measured capacity for a while, with a random worker rank of
# a random group killed (kill -9) every so often. A supervisor loop here
# relaunches a group whose job ended, as systemd or Slurm would. Every 30 s
# it prints the coordinator's resident memory and open file descriptors and
# the request ledger; at the end it checks that the ledger balances
# (accepted = completed + failed + cancelled; BUSY answers are counted apart,
# never accepted) and that memory and descriptors stayed flat (last quarter
# of the samples against the first), and exits non-zero if not.
#
# Usage: bench/soak.sh BUILD_DIR MODEL.gguf OUT_DIR [--minutes 20] [--kill-every-s 300]
#   OUT_DIR gets coordinator.log, the groups' logs, capacity.log, bench.log,
#   bench.json and samples.tsv.
# Environment:
#   TP, PP, THREADS   each group's shape and compute threads per rank (2, 1, 1)
#   LOAD              share of the measured capacity to drive (0.7)
#   CAPACITY_CONCURRENCY  requests in flight in the capacity run (16)
#   PORT              the coordinator's client port; PORT+1 its worker port, PORT+2 its admin port (16555)
#   RECORD_LIMIT      the coordinator's --record-limit (2000): its answer record
#                     fills within the first minutes, so a full record's
#                     legitimate growth does not read as a leak
#   BENCH_ARGS        tessera-bench's workload (default "--prompt-len 8:64 --max-tokens 8:48")
set -euo pipefail
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 3 ] || usage
BUILD=$(readlink -f "$1") MODEL=$(readlink -f "$2") OUT=$3
shift 3
MINUTES=20 KILL_EVERY_S=300
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) MINUTES=$2; shift 2 ;;
    --kill-every-s) KILL_EVERY_S=$2; shift 2 ;;
    *) echo "soak: unknown argument '$1'" >&2; usage ;;
  esac
done
TP=${TP:-2} PP=${PP:-1} THREADS=${THREADS:-1} LOAD=${LOAD:-0.7} PORT=${PORT:-16555} RECORD_LIMIT=${RECORD_LIMIT:-2000}
CAP_C=${CAPACITY_CONCURRENCY:-16}
read -r -a WORKLOAD <<< "${BENCH_ARGS:---prompt-len 8:64 --max-tokens 8:48}"

COORDINATOR=$BUILD/coordinator/bin/tessera-coordinator
WORKER=$BUILD/worker/bin/tessera-worker
BENCH=$BUILD/bench/tessera-bench
TESSERA=$BUILD/client/tessera
for bin in "$COORDINATOR" "$WORKER" "$BENCH" "$TESSERA"; do
  [ -x "$bin" ] || { echo "soak: $bin is missing (cmake --build $BUILD --target $(basename "$bin"))" >&2; exit 1; }
done
[ -f "$MODEL" ] || { echo "soak: no model at $MODEL" >&2; exit 1; }
mkdir -p "$OUT"
OUT=$(readlink -f "$OUT")
CLIENT_EP=tcp://127.0.0.1:$PORT
WORKER_EP=tcp://127.0.0.1:$((PORT + 1))
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
VOCAB=()
v=$("$TESSERA" model info "$MODEL" 2>/dev/null | sed -n 's/^ *vocab \([0-9]*\),.*/\1/p' | head -1)
[ -n "$v" ] && VOCAB=(--vocab "$v")

COORD='' BENCH_PID=''
declare -a JOB GEN   # per group slot: its mpirun's pid, and how many times it was launched
alive() { [ -n "$1" ] && [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
cleanup() {
  [ -n "$BENCH_PID" ] && kill -TERM "$BENCH_PID" 2>/dev/null || true
  [ -n "$COORD" ] && kill -TERM "$COORD" 2>/dev/null || true
  # The coordinator's shutdown stops the groups; mpirun gets a while, then
  # its ranks and it are killed.
  for _ in $(seq 1 50); do
    local any=0
    for p in "${JOB[@]}"; do alive "$p" && any=1; done
    [ $any -eq 0 ] && break
    sleep 0.2
  done
  for p in "${JOB[@]}"; do
    if alive "$p"; then
      for c in $(pgrep -P "$p" || true); do kill -KILL "$c" 2>/dev/null || true; done
      kill -KILL "$p" 2>/dev/null || true
    fi
  done
  [ -n "$COORD" ] && kill -KILL "$COORD" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

launch() {  # launch SLOT
  local slot=$1 gen=$(( ${GEN[$1]:-0} + 1 ))
  GEN[$slot]=$gen
  local name=soak-$slot.$gen
  mkdir -p "$OUT/ompi-$name"
  OMPI_MCA_orte_tmpdir_base="$OUT/ompi-$name" mpirun --oversubscribe --bind-to none -np $((TP * PP)) "$WORKER" \
    --model "$MODEL" --coordinator "$WORKER_EP" --tp "$TP" --pp "$PP" --threads "$THREADS" --name "$name" \
    >"$OUT/$name.log" 2>&1 &
  JOB[$slot]=$!
}

STATUS_JSON=''
refresh_status() { STATUS_JSON=$("$TESSERA" status --coordinator "$CLIENT_EP" --json --timeout-ms 2000 2>/dev/null || true); }
# A top-level number of the status JSON (one field a line, nested objects
# deeper): accepted, completed, failed, rejected_busy, cancelled, in_flight, ...
field() {
  awk -v k="\"$1\":" 'depth == 1 && $1 == k { gsub(/[",]/, "", $2); v = $2 }
                      { depth += gsub(/[{[]/, "&") - gsub(/[}\]]/, "&") }
                      END { print (v == "" ? -1 : v) }' <<< "$STATUS_JSON"
}
groups_ready() { grep -c '"state": "GROUP_READY"' <<< "$STATUS_JSON" || true; }

wait_ready() {  # wait_ready N SECONDS
  for _ in $(seq 1 $(($2 * 2))); do
    refresh_status
    [ "$(groups_ready)" -ge "$1" ] && return 0
    sleep 0.5
  done
  echo "soak: fewer than $1 groups ready after $2 s" >&2
  return 1
}

"$COORDINATOR" --model "$MODEL" --listen "$CLIENT_EP" --workers "$WORKER_EP" --admin "tcp://127.0.0.1:$((PORT + 2))" --queue-limit 4096 \
  --record-limit "$RECORD_LIMIT" > "$OUT/coordinator.log" 2>&1 &
COORD=$!
sleep 1
alive "$COORD" || { echo "soak: the coordinator did not start:" >&2; tail -n 5 "$OUT/coordinator.log" >&2; exit 1; }
launch 0
launch 1
wait_ready 2 300

# Capacity: a short closed loop at a concurrency both groups batch well.
"$BENCH" --coordinator "$CLIENT_EP" --concurrency "$CAP_C" --requests $((CAP_C * 6)) --warmup 8 "${VOCAB[@]}" "${WORKLOAD[@]}" \
  --seed 1 > "$OUT/capacity.log" 2>&1 || { echo "soak: the capacity run failed:" >&2; tail "$OUT/capacity.log" >&2; exit 1; }
read -r CAP_REQ CAP_S <<< "$(sed -n "s/^concurrency $CAP_C: \([0-9]*\) requests ([0-9]* failed) in \([0-9.]*\) s.*/\1 \2/p" "$OUT/capacity.log")"
[ -n "${CAP_REQ:-}" ] || { echo "soak: no figures in capacity.log" >&2; exit 1; }
RATE=$(awk -v n="$CAP_REQ" -v s="$CAP_S" -v l="$LOAD" 'BEGIN { printf "%.2f", l * n / s }')
REQUESTS=$(awk -v r="$RATE" -v m="$MINUTES" 'BEGIN { printf "%d", r * m * 60 }')
echo "soak: capacity $(awk -v n="$CAP_REQ" -v s="$CAP_S" 'BEGIN { printf "%.2f", n / s }') requests/s (closed loop, $CAP_C in flight); driving $RATE/s (Poisson) for $MINUTES min: $REQUESTS requests, a rank killed every $KILL_EVERY_S s"

"$BENCH" --coordinator "$CLIENT_EP" --concurrency 256 --rate "$RATE" --requests "$REQUESTS" --warmup 0 \
  "${VOCAB[@]}" "${WORKLOAD[@]}" --seed 2 --timeout 120 --json "$OUT/bench.json" > "$OUT/bench.log" 2>&1 &
BENCH_PID=$!

START=$(date +%s)
NEXT_KILL=$((START + KILL_EVERY_S)) NEXT_PRINT=$START NEXT_SAMPLE=$START KILLS=0 RELAUNCHES=0
printf "%-7s %-8s %-5s %-9s %-9s %-6s %-5s %-9s %s\n" time rss_mib fds accepted completed failed busy cancelled groups_ready
: > "$OUT/samples.tsv"
while alive "$BENCH_PID"; do
  now=$(date +%s)
  # The supervisor: a group whose job ended is started again.
  for slot in 0 1; do
    if ! alive "${JOB[$slot]}"; then
      wait "${JOB[$slot]}" 2>/dev/null || true
      launch "$slot"
      RELAUNCHES=$((RELAUNCHES + 1))
      echo "soak: $((now - START)) s: group slot $slot's job ended; relaunched as soak-$slot.${GEN[$slot]}"
    fi
  done
  if [ "$now" -ge "$NEXT_KILL" ]; then
    NEXT_KILL=$((NEXT_KILL + KILL_EVERY_S))
    slot=$((RANDOM % 2))
    mapfile -t ranks < <(pgrep -P "${JOB[$slot]}" || true)
    if [ ${#ranks[@]} -gt 0 ]; then
      victim=${ranks[$((RANDOM % ${#ranks[@]}))]}
      r=$(tr '\0' '\n' < "/proc/$victim/environ" 2>/dev/null | sed -n 's/^OMPI_COMM_WORLD_RANK=//p')
      kill -KILL "$victim" 2>/dev/null && KILLS=$((KILLS + 1))
      echo "soak: $((now - START)) s: kill -9 rank ${r:-?} (pid $victim) of soak-$slot.${GEN[$slot]}"
    else
      echo "soak: $((now - START)) s: soak-$slot.${GEN[$slot]} has no ranks yet (starting); no kill this time"
    fi
  fi
  if [ "$now" -ge "$NEXT_SAMPLE" ]; then
    NEXT_SAMPLE=$((NEXT_SAMPLE + 5))
    rss=$(awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$COORD/status")
    fds=$(ls "/proc/$COORD/fd" | wc -l)
    printf "%d\t%s\t%s\n" "$((now - START))" "$rss" "$fds" >> "$OUT/samples.tsv"
    if [ "$now" -ge "$NEXT_PRINT" ]; then
      NEXT_PRINT=$((NEXT_PRINT + 30))
      refresh_status
      printf "%-7s %-8s %-5s %-9s %-9s %-6s %-5s %-9s %s\n" "$((now - START))s" "$rss" "$fds" "$(field accepted)" \
        "$(field completed)" "$(field failed)" "$(field rejected_busy)" "$(field cancelled)" "$(groups_ready)"
    fi
  fi
  sleep 1
done
BENCH_RC=0
wait "$BENCH_PID" || BENCH_RC=$?
BENCH_PID=''
echo "soak: load ended after $(( $(date +%s) - START )) s (tessera-bench exit $BENCH_RC); $KILLS ranks killed, $RELAUNCHES jobs relaunched"

# Client side: what tessera-bench saw of every request.
grep -E '^(concurrency|errors at)' "$OUT/bench.log" | sed 's/^/tessera-bench: /' || true

rc=0
for _ in $(seq 1 120); do
  refresh_status
  [ "$(field in_flight)" = 0 ] && [ "$(field queue_depth)" = 0 ] && break
  sleep 0.5
done
A=$(field accepted) C=$(field completed) F=$(field failed) X=$(field cancelled) B=$(field rejected_busy)
echo "ledger: accepted $A = completed $C + failed $F + cancelled $X ? (rejected busy $B, never accepted;" \
  "in flight $(field in_flight), queued $(field queue_depth))"
if [ "$A" -ge 0 ] && [ "$A" -eq $((C + F + X)) ]; then
  echo "ledger: balanced"
else
  echo "FAILED: the ledger does not balance"; rc=1
fi

# Flat: the last quarter of the samples against the first.
read -r RSS1 RSS4 FD1 FD4 N <<< "$(awk '{ t[NR] = $1; r[NR] = $2; f[NR] = $3 }
  END { q = int(NR / 4); if (q < 1) q = 1
        for (i = 1; i <= q; ++i) { r1 += r[i]; f1 += f[i]; r4 += r[NR - q + i]; f4 += f[NR - q + i] }
        printf "%.1f %.1f %.1f %.1f %d", r1 / q, r4 / q, f1 / q, f4 / q, NR }' "$OUT/samples.tsv")"
echo "coordinator resident memory: ${RSS1} MiB (first quarter of $N samples) -> ${RSS4} MiB (last quarter)"
echo "coordinator open descriptors: ${FD1} -> ${FD4}"
# Allowed: 10% + 16 MiB of memory (allocator noise, a record filling its
# bound), 8 descriptors (a relaunched group's connection not yet reaped).
if awk -v a="$RSS1" -v b="$RSS4" 'BEGIN { exit !(b <= a * 1.10 + 16) }'; then echo "memory: flat"; else
  echo "FAILED: the coordinator's memory grew from $RSS1 to $RSS4 MiB"; rc=1; fi
if awk -v a="$FD1" -v b="$FD4" 'BEGIN { exit !(b <= a + 8) }'; then echo "descriptors: flat"; else
  echo "FAILED: the coordinator's open descriptors grew from $FD1 to $FD4"; rc=1; fi
echo "soak: $([ $rc -eq 0 ] && echo passed || echo FAILED)"
exit $rc
