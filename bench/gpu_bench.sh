#!/usr/bin/env bash
# The GPU issue's figures: makes a ~1B and an ~8B Llama-shaped BF16 model
# (random weights: speed does not depend on them) with `tessera model make`,
# runs gpu_bench on each, and prints both tables together.
#   llama-1b: Llama 3.2 1B's shape (16 x 2048, FFN 8192, 32/8 heads, vocab
#             128256, tied output), ~2.5 GB
#   llama-8b: Llama 3 8B's shape (32 x 4096, FFN 14336, 32/8 heads, vocab
#             128256), ~16 GB (model make builds it in memory: ~35 GB of RAM)
# Models already in MODELS_DIR are reused. Exits 2, before making anything,
# where the GPU is not visible.
#
# Usage: bench/gpu_bench.sh MODELS_DIR [BUILD_DIR] [DEVICE]
#   (GPU_BENCH_FLAGS="--decode 256 ..." passes more flags to gpu_bench)
set -euo pipefail
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
MODELS=$1
BUILD=${2:-build}
DEVICE=${3:-cuda:0}
read -r -a EXTRA <<< "${GPU_BENCH_FLAGS:-}"
BENCH="$BUILD/bench/gpu_bench"
TESSERA="$BUILD/client/tessera"
for bin in "$BENCH" "$TESSERA"; do
  [ -x "$bin" ] || { echo "gpu_bench.sh: $bin is missing (build gpu_bench and tessera in $BUILD)" >&2; exit 2; }
done

rc=0
"$BENCH" --probe --device "$DEVICE" || rc=$?
[ "$rc" -eq 0 ] || exit "$rc"

mkdir -p "$MODELS"
LOG=$(mktemp -d)
for preset in llama-1b llama-8b; do
  model="$MODELS/$preset-bf16.gguf"
  if [ ! -f "$model" ]; then
    echo "making $model..."
    "$TESSERA" model make --preset "$preset" --type bf16 -o "$model"
  fi
  echo
  echo "=== $preset (BF16) on $DEVICE"
  "$BENCH" --model "$model" --device "$DEVICE" "${EXTRA[@]}" | tee "$LOG/$preset.txt"
done

echo
echo "=== summary ($DEVICE)"
for preset in llama-1b llama-8b; do
  echo
  echo "$preset BF16:"
  grep -E '^(measured|nominal|weight bytes|decode batch)' "$LOG/$preset.txt" | sed 's/^/  /'
  grep -E '^\|' "$LOG/$preset.txt"
done
echo
echo "target: decode ratio >= 0.80 of the HBM bound"
rm -rf "$LOG"
