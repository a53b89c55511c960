#!/usr/bin/env bash
# Usage: plan_test.sh TESSERA_BINARY WORK_DIR
# `tessera plan`: a table and JSON naming every rank of a tp x pp group, and a
# clear error with exit 1 for a group that cannot hold the model or a bad
# profiles file.
set -euo pipefail
BIN=$1
WORK=$2
rm -rf "$WORK" && mkdir -p "$WORK"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$BIN" model make --preset tiny --layers 4 -o "$WORK/tiny.gguf" >/dev/null
"$BIN" model make --preset tiny --type q8_0 -o "$WORK/tiny_q8.gguf" >/dev/null

# This machine probed for every rank.
out=$("$BIN" plan --model "$WORK/tiny.gguf" --tp 3 --pp 2)
echo "$out"
for r in 0 1 2 3 4 5; do
  echo "$out" | grep -Eq "^$r +$((r / 3)) +$((r % 3)) " || fail "table has no line for rank $r"
done
echo "$out" | grep -q "tp 3 x pp 2 = 6 ranks" || fail "no summary line"

# Given profiles, as JSON.
cat > "$WORK/mixed.json" <<'JSON'
{"ranks": [{"name": "big", "memory_gib": 4, "compute_gflops": 200, "bandwidth_gbs": 40},
           {"name": "small", "memory_bytes": 536870912, "compute_gflops": 50, "bandwidth_gbs": 10}]}
JSON
json=$("$BIN" plan -m "$WORK/tiny_q8.gguf" --tp 2 --pp 1 --profiles "$WORK/mixed.json" --json)
for r in 0 1; do
  echo "$json" | grep -q "\"rank\": $r," || fail "JSON has no rank $r: $json"
done
echo "$json" | grep -q '"tp": 2' || fail "JSON has no tp"
echo "$json" | grep -q '"name": "small"' || fail "JSON has no device names"
json=$("$BIN" plan -m "$WORK/tiny.gguf" --tp 3 --pp 2 --kv-tokens 64 --batch 4 --json)
for r in 0 1 2 3 4 5; do
  echo "$json" | grep -q "\"rank\": $r," || fail "JSON has no rank $r"
done

# Too little memory: the rank and the shortfall, exit 1.
cat > "$WORK/tiny_mem.json" <<'JSON'
{"ranks": [{"name": "toaster", "memory_bytes": 100000, "compute_gflops": 1, "bandwidth_gbs": 1}]}
JSON
set +e
err=$("$BIN" plan -m "$WORK/tiny.gguf" --tp 3 --pp 2 --profiles "$WORK/tiny_mem.json" 2>&1); rc=$?
set -e
[ "$rc" = 1 ] || fail "an infeasible plan exited $rc: $err"
echo "$err" | grep -q "short" || fail "no shortfall in: $err"
echo "$err" | grep -Eq "rank [0-9] \(stage [0-9], tp [0-9], toaster\)" || fail "no rank named in: $err"

# Bad input: exit 1 and a message naming the problem.
echo '{"ranks": [{"name": "x", "memory_gib": 1, "compute_gflops": -5, "bandwidth_gbs": 1}]}' > "$WORK/neg.json"
if err=$("$BIN" plan -m "$WORK/tiny.gguf" --tp 2 --profiles "$WORK/neg.json" 2>&1); then fail "negative compute accepted"; fi
echo "$err" | grep -q 'compute_gflops' || fail "no field named in: $err"
echo '{"ranks": [' > "$WORK/broken.json"
if err=$("$BIN" plan -m "$WORK/tiny.gguf" --profiles "$WORK/broken.json" 2>&1); then fail "broken JSON accepted"; fi
echo "$err" | grep -q 'broken.json' || fail "no file named in: $err"
if err=$("$BIN" plan -m "$WORK/tiny.gguf" --profiles "$WORK/none.json" 2>&1); then fail "missing profiles accepted"; fi
echo "$err" | grep -q 'none.json' || fail "no file named in: $err"
if err=$("$BIN" plan -m "$WORK/tiny.gguf" --pp 5 2>&1); then fail "pp > layers accepted"; fi
echo "$err" | grep -q 'exceeds' || fail "no clear error for pp > layers: $err"
if err=$("$BIN" plan -m "$WORK/missing.gguf" 2>&1); then fail "missing model accepted"; fi
echo "$err" | grep -q 'missing.gguf' || fail "no model named in: $err"
echo "e2e plan: ok"
