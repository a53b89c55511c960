#!/usr/bin/env bash
# The main job on a fresh machine: install dependencies, build, make a demo
# model (the `small` preset, ~30M random parameters, F16), generate text from
# it on one rank, then serve the same request from a local group of 4 MPI
# ranks (tensor parallel 2 x pipeline parallel 2) and print its shard plan.
# Both print the same text. (With Q8_0/Q4_0 weights the activations are
# quantized to 8 bits per block, and the last-bit differences of a
# tensor-parallel sum can move one of them a step and, at a near-tie, change a
# later greedy token: see docs/architecture.md.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
bash deploy/build.sh --target tessera tessera-worker
mkdir -p models
MODEL=models/demo-small-f16.gguf
[ -f "$MODEL" ] || ./build/client/tessera model make --preset small --type f16 --seed 7 -o "$MODEL"
./build/client/tessera model info "$MODEL"
echo "== one rank"
./build/client/tessera generate --model "$MODEL" --prompt "Once upon a time" -n 48 -t 1 "$@"
echo "== a group of 4 ranks under mpirun: tp 2 x pp 2"
if [ "$(id -u)" -eq 0 ]; then
  # Open MPI refuses root unless told; a container's root is the usual case.
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
mpirun --oversubscribe -np 4 ./build/worker/bin/tessera-worker --model "$MODEL" --tp 2 --pp 2 \
  --prompt "Once upon a time" -n 48 --show-plan "$@"
