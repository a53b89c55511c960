#!/usr/bin/env bash
# The sharding issue's figures on the medium model: decode tok/s of
#   tp=2 (2 ranks x 1 thread) / tp=1 (1 rank x 2 threads), one sequence, and
#   pp=2 (2 ranks x 1 thread) / pp=1 (1 rank x 2 threads), two sequences,
# with bytes exchanged per token per layer, the share of time each rank spends
# communicating, and resident memory against the plan.
#
# The host's memory bandwidth swings by 2x within seconds, so the shapes run
# alternately, ROUNDS times each, and the ratio is the median of the paired
# ratios (each pair ran back to back). Ranks are not pinned (--bind-to none):
# on this 2-vCPU VM pinning made runs erratic.
#
# Usage: bench/group_bench.sh [BUILD_DIR] [MODEL] [ROUNDS] [TOKENS]
set -euo pipefail
BUILD=${1:-build}
MODEL=${2:-$BUILD/bench-models/medium-q8_0.gguf}
ROUNDS=${3:-7}
TOKENS=${4:-64}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
if [ ! -f "$MODEL" ]; then
  mkdir -p "$(dirname "$MODEL")"
  "$BUILD/client/tessera" model make --preset medium --type q8_0 -o "$MODEL"
fi
BENCH=("$BUILD/bench/group_bench" -m "$MODEL" -n "$TOKENS")
MPI=(mpirun --bind-to none)
LOG=$(mktemp)
run() {  # run NP ARGS... -> prints decode tok/s; keeps the full output in $LOG
  local np=$1; shift
  "${MPI[@]}" -np "$np" "${BENCH[@]}" "$@" > "$LOG.last" 2>&1 || { cat "$LOG.last" >&2; exit 1; }
  cat "$LOG.last" >> "$LOG"
  sed -n 's/^RESULT .*decode_tok_s=\([0-9.]*\).*/\1/p' "$LOG.last"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

compare() {  # compare NAME "NP ARGS of A" "NP ARGS of B"
  local name=$1 a=$2 b=$3 ratios=() as=() bs=()
  for ((i = 0; i < ROUNDS; ++i)); do
    local x y
    x=$(run $a) y=$(run $b)
    as+=("$x") bs+=("$y") ratios+=("$(awk -v x="$x" -v y="$y" 'BEGIN {print x / y}')")
  done
  printf '%s\n' "$name"
  printf '  A (%s) decode tok/s: %s  median %s\n' "$a" "${as[*]}" "$(printf '%s\n' "${as[@]}" | median)"
  printf '  B (%s) decode tok/s: %s  median %s\n' "$b" "${bs[*]}" "$(printf '%s\n' "${bs[@]}" | median)"
  printf '  A/B per round: %s\n  median A/B = %s\n' "${ratios[*]}" "$(printf '%s\n' "${ratios[@]}" | median)"
}

echo "model: $MODEL, $TOKENS tokens a sequence, $ROUNDS rounds"
compare "tensor parallel, 1 sequence" "2 --tp 2 -t 1" "1 --tp 1 -t 2"
compare "pipeline parallel, 2 sequences in flight vs pp=1 running both as one batch" \
  "2 --pp 2 -t 1 --sequences 2" "1 --pp 1 -t 2 --sequences 2"
compare "pipeline parallel, 1 sequence vs pp=1" "2 --pp 2 -t 1" "1 --pp 1 -t 2"
compare "pipeline fill: pp=2, 2 sequences with 2 steps in flight vs 1" \
  "2 --pp 2 -t 1 --sequences 2" "2 --pp 2 -t 1 --sequences 2 --in-flight 1"

echo
echo "communication and memory, tp=2 (one run):"
"${MPI[@]}" -np 2 "${BENCH[@]}" --tp 2 -t 1 --memory | grep -E "^  rank|resident|^ +[0-9]"
echo "communication and memory, pp=2, 2 sequences (one run):"
"${MPI[@]}" -np 2 "${BENCH[@]}" --pp 2 -t 1 --sequences 2 --memory | grep -E "^  rank|resident|^ +[0-9]"
rm -f "$LOG" "$LOG.last"
