#!/usr/bin/env bash
# The whole test suite on a fresh machine: install dependencies, build
# everything and run ctest (unit, mpirun integration and e2e tests), then
# build the modules that need no MPI (model, kernels, comm's loopback,
# partition, worker, whose sharded groups run over the loopback, the
# coordinator and the client library) with
# AddressSanitizer and UndefinedBehaviorSanitizer and run their tests again,
# and last run each libFuzzer target (tests/fuzz) briefly from its seed corpus
# (FUZZ_SECONDS each, default 20; the corpus replays run in both ctest passes).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
bash deploy/install-deps.sh

echo "== release build and tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$JOBS"
ctest --test-dir build --output-on-failure -j"$JOBS"

echo "== sanitizer build (ASan + UBSan): model, kernels, comm, partition, worker, coordinator, client tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTESSERA_SANITIZE=ON -DTESSERA_ONLY_CORE=ON >/dev/null
cmake --build build-asan -j"$JOBS"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j"$JOBS"

echo "== fuzz targets (libFuzzer, clang, ASan + UBSan): GGUF reader, tokenizer, coordinator messages, ${FUZZ_SECONDS:-20} s each"
JOBS="$JOBS" bash tests/fuzz/run_fuzzers.sh
