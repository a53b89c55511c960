#!/usr/bin/env bash
# Configures and builds tessera (Release) into ./build. Extra arguments go to
# the build step (e.g. a target name: deploy/build.sh --target tessera).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$JOBS" "$@"
