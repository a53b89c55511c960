#!/usr/bin/env bash
# tessera-worker's standalone mode under mpirun: for each group shape its text
# equals `tessera generate`'s on the same model (F32 and Q8_0, 32 greedy
# tokens), and startup failures stop every rank fast with the rank and cause.
# Usage: worker_cli_test.sh TESSERA TESSERA_WORKER MPIEXEC WORKDIR
set -euo pipefail
TESSERA=$1 WORKER=$2 MPIEXEC=$3 WORK=$4
rm -rf "$WORK" && mkdir -p "$WORK"
fail() { echo "FAIL: $*" >&2; exit 1; }
MPI=("$MPIEXEC" --oversubscribe)
PROMPT="Once upon a time"

text_of() { sed '$d' "$1"; }  # the generated text: all but the last line, the figures

for type in f32 q8_0; do
  model="$WORK/tiny5-$type.gguf"
  "$TESSERA" model make --preset tiny --layers 5 --type "$type" -o "$model" >/dev/null
  "$TESSERA" generate -m "$model" -p "$PROMPT" -n 32 -t 1 --ignore-eos > "$WORK/single-$type.txt" 2>/dev/null
  for shape in "2 1" "1 2" "2 2" "3 1" "1 3" "3 2" "4 1"; do
    read -r tp pp <<<"$shape"
    out="$WORK/tp${tp}pp${pp}-$type.txt"
    "${MPI[@]}" -np $((tp * pp)) "$WORKER" -m "$model" --tp "$tp" --pp "$pp" -p "$PROMPT" -n 32 --ignore-eos \
      > "$out" 2>"$out.err" || { cat "$out.err" >&2; fail "tp $tp pp $pp ($type) exited non-zero"; }
    [ "$(text_of "$out")" == "$(text_of "$WORK/single-$type.txt")" ] || {
      diff <(text_of "$WORK/single-$type.txt") <(text_of "$out") >&2 || true
      fail "tp $tp pp $pp ($type): text differs from tessera generate"; }
    grep -q "generation: 32 tokens" "$out" || fail "tp $tp pp $pp ($type): no figures line"
    grep -q "tp $tp x pp $pp" "$out" || fail "tp $tp pp $pp ($type): figures line lacks the shape"
  done
  echo "ok: $type text of 7 group shapes equals tessera generate's"
done
model="$WORK/tiny5-f32.gguf"

# Startup failures: every case must end with a clear message within 30 s.
expect_failure() {  # expect_failure NAME PATTERN -- command...
  local name=$1 pattern=$2; shift 3
  local start=$SECONDS
  if timeout 60 "$@" > "$WORK/$name.out" 2>&1; then fail "$name: exited 0"; fi
  (( SECONDS - start < 30 )) || fail "$name: took $((SECONDS - start)) s to stop"
  grep -q -- "$pattern" "$WORK/$name.out" || { cat "$WORK/$name.out" >&2; fail "$name: no '$pattern' in the output"; }
  echo "ok: $name stops with: $(grep -m1 -- "$pattern" "$WORK/$name.out")"
}

# One rank of four gets a path that does not exist (an MPMD launch).
expect_failure bad-path "rank 3 (stage 1, tp 1) could not load the model" -- \
  "${MPI[@]}" -np 3 "$WORKER" -m "$model" --tp 2 --pp 2 -p hi : -np 1 "$WORKER" -m "$WORK/missing.gguf" --tp 2 --pp 2 -p hi
# A rank whose device cannot hold its share.
cat > "$WORK/small-memory.json" <<'JSON'
{"ranks": [{"name": "roomy", "memory_gib": 8, "compute_gflops": 100, "bandwidth_gbs": 10},
           {"name": "cramped", "memory_bytes": 200000, "compute_gflops": 100, "bandwidth_gbs": 10}]}
JSON
expect_failure too-big "short" -- \
  "${MPI[@]}" -np 2 "$WORKER" -m "$model" --tp 2 -p hi --profiles "$WORK/small-memory.json"
expect_failure no-profiles "cannot read the profiles file" -- \
  "${MPI[@]}" -np 2 "$WORKER" -m "$model" --tp 2 -p hi --profiles "$WORK/none.json"
expect_failure not-a-multiple "not a multiple of a group's tp x pp" -- \
  "${MPI[@]}" -np 3 "$WORKER" -m "$model" --tp 2 -p hi
expect_failure corrupt-model "could not load the model" -- \
  bash -c "head -c 5000 '$model' > '$WORK/cut.gguf' && $MPIEXEC --oversubscribe -np 2 '$WORKER' -m '$WORK/cut.gguf' --tp 2 -p hi"
expect_failure bad-flag "--tp" -- "${MPI[@]}" -np 1 "$WORKER" -m "$model" --tp 0 -p hi
# A device name nobody knows, on one rank of two: both stop, naming it.
expect_failure bad-device "rank 1 (stage 0, tp 1) could not use its device: unknown device 'tpu:0'" -- \
  "${MPI[@]}" -np 1 "$WORKER" -m "$model" --tp 2 -p hi : -np 1 "$WORKER" -m "$model" --tp 2 -p hi --device tpu:0
# A GPU rank where there is no GPU (or the build has no CUDA backend): the
# whole group stops at start with the device and the reason.
if ! nvidia-smi -L > /dev/null 2>&1; then
  expect_failure no-gpu "rank 1 (stage 0, tp 1) could not use its device: device cuda:0" -- \
    "${MPI[@]}" -np 1 "$WORKER" -m "$model" --tp 2 -p hi : -np 1 "$WORKER" -m "$model" --tp 2 -p hi --device cuda:0
fi

# Two groups in one job: both run, group 0 prints the text.
"${MPI[@]}" -np 4 "$WORKER" -m "$model" --tp 2 -p "$PROMPT" -n 32 --ignore-eos > "$WORK/two-groups.txt" 2>"$WORK/two-groups.err"
[ "$(text_of "$WORK/two-groups.txt")" == "$(text_of "$WORK/single-f32.txt")" ] || fail "two groups: text differs"
grep -q "2 groups" "$WORK/two-groups.txt" || fail "two groups: figures line lacks the group count"
grep -q "group 1:" "$WORK/two-groups.err" || fail "two groups: group 1 did not report"
echo "ok: two groups of tp 2 in one job"
echo "PASS"
