#!/usr/bin/env bash
# The main job on a fresh machine: install dependencies, build, make a demo
# model (the `small` preset, ~30M random parameters, Q8_0) and generate text
# from it on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
bash deploy/build.sh --target tessera
mkdir -p models
MODEL=models/demo-small-q8_0.gguf
[ -f "$MODEL" ] || ./build/client/tessera model make --preset small --type q8_0 --seed 7 -o "$MODEL"
./build/client/tessera model info "$MODEL"
./build/client/tessera generate --model "$MODEL" --prompt "Once upon a time" -n 48 "$@"
