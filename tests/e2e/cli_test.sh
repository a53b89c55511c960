#!/usr/bin/env bash
# Usage: cli_test.sh TESSERA_BINARY WORK_DIR
set -euo pipefail
BIN=$1
WORK=$2
rm -rf "$WORK" && mkdir -p "$WORK"
fail() { echo "FAIL: $*" >&2; exit 1; }

# Same seed, same bytes.
"$BIN" model make --preset tiny --type q8_0 --seed 3 -o "$WORK/a.gguf" >/dev/null
"$BIN" model make --preset tiny --type q8_0 --seed 3 -o "$WORK/b.gguf" >/dev/null
cmp -s "$WORK/a.gguf" "$WORK/b.gguf" || fail "same seed produced different files"
"$BIN" model make --preset tiny --type q8_0 --seed 4 -o "$WORK/c.gguf" >/dev/null
cmp -s "$WORK/a.gguf" "$WORK/c.gguf" && fail "different seeds produced identical files"

"$BIN" model info "$WORK/a.gguf" | grep -q "layers 2, width 128" || fail "model info shape"

# Greedy generation: text, then the statistics line; identical across thread counts.
out1=$("$BIN" generate -m "$WORK/a.gguf" -p "Hello world" -n 16 --threads 1 --ignore-eos)
out2=$("$BIN" generate -m "$WORK/a.gguf" -p "Hello world" -n 16 --threads 2 --ignore-eos)
echo "$out1"
echo "$out1" | tail -n 1 | grep -Eq '^\[prompt: [0-9]+ tokens, [0-9.]+ tok/s \| generation: 16 tokens, [0-9.]+ tok/s' \
  || fail "missing statistics line"
[ "$(echo "$out1" | head -n -1)" = "$(echo "$out2" | head -n -1)" ] || fail "text differs between 1 and 2 threads"
echo "$out1" | head -n 1 | grep -q "^Hello world" || fail "prompt not echoed"

# Broken input: a clear error and a non-zero exit, never a crash.
head -c 100 "$WORK/a.gguf" > "$WORK/truncated.gguf"
if err=$("$BIN" generate -m "$WORK/truncated.gguf" -p "x" -n 4 2>&1); then fail "truncated model accepted"; fi
echo "$err" | grep -q "^error: " || fail "no clear error for a truncated model: $err"
if err=$("$BIN" generate -m "$WORK/missing.gguf" -p "x" -n 4 2>&1); then fail "missing model accepted"; fi
echo "$err" | grep -q "missing.gguf" || fail "error does not name the file: $err"
if "$BIN" model make --preset huge -o "$WORK/x.gguf" 2>/dev/null; then fail "unknown preset accepted"; fi
if err=$("$BIN" generate -m "$WORK/a.gguf" -p "x" --temp -1 2>&1); then fail "negative temperature accepted"; fi
echo "$err" | grep -q -- "--temp" || fail "no clear error for a negative temperature: $err"
if err=$("$BIN" generate -m "$WORK/a.gguf" -p "x" --top-p 1.5 2>&1); then fail "top-p 1.5 accepted"; fi
echo "$err" | grep -q "top-p" || fail "no clear error for top-p 1.5: $err"
if err=$("$BIN" generate -m "$WORK/a.gguf" -p "x" -n 100000 2>&1); then fail "a run past the context accepted"; fi
echo "$err" | grep -q "context" || fail "no clear error for a run past the context: $err"
if "$BIN" model make --preset tiny --layers 0 -o "$WORK/x.gguf" 2>/dev/null; then fail "--layers 0 accepted"; fi
if err=$("$BIN" model make --preset tiny --vocab 1000000 --width 1000000 -o "$WORK/x.gguf" 2>&1); then fail "a huge model accepted"; fi
echo "$err" | grep -q "parameters" || fail "no clear error for a huge model: $err"
if err=$("$BIN" generate -m "$WORK/a.gguf" -p "x" --device tpu 2>&1); then fail "an unknown device accepted"; fi
echo "$err" | grep -q "unknown device 'tpu'" || fail "no clear error for an unknown device: $err"
# Without a GPU (or without the CUDA backend in this build) a GPU run is
# refused with the device and the reason.
if ! nvidia-smi -L > /dev/null 2>&1; then
  if err=$("$BIN" generate -m "$WORK/a.gguf" -p "x" --device cuda:0 2>&1); then fail "cuda:0 accepted without a GPU"; fi
  echo "$err" | grep -q "device cuda:0" || fail "no clear error for cuda:0 without a GPU: $err"
fi
echo "e2e cli: ok"
