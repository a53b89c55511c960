#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, -DTESSERA_FUZZ=ON) and
# runs each for a bounded time, starting from its seed corpus in
# tests/fuzz/corpus. Fails on any crash, leak, timeout or broken invariant
# and keeps the input that caused it. deploy/run-tests.sh runs it briefly;
# for a longer hunt: FUZZ_SECONDS=600 tests/fuzz/run_fuzzers.sh
#
# Environment: FUZZ_SECONDS per target (default 20), JOBS (build, default 2),
# BUILD (default build-fuzz), FUZZ_TARGETS (default all three).
set -euo pipefail
cd "$(dirname "$0")/../.."
JOBS=${JOBS:-2}
BUILD=${BUILD:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
TARGETS=(${FUZZ_TARGETS:-gguf_fuzz tokenizer_fuzz coordinator_fuzz})

# -O1 and line tables only: what fuzzing builds use; it compiles much faster
# than -O2 -g and keeps the asserts.
cmake -S . -B "$BUILD" -DCMAKE_CXX_COMPILER=clang++ -DTESSERA_FUZZ=ON -DTESSERA_ONLY_CORE=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" >/dev/null
cmake --build "$BUILD" -j"$JOBS" --target "${TARGETS[@]}"

# The fuzzers add what they find to the corpus directory they are given:
# a copy in a temporary directory, so the repository's seeds stay as they are.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
artifacts="$BUILD/fuzz-artifacts"
mkdir -p "$artifacts"
for t in "${TARGETS[@]}"; do
  cp -r "tests/fuzz/corpus/$t" "$work/$t"
  extra=()
  # The coordinator's inputs reach tens of thousands of coverage features;
  # libFuzzer 14's entropic schedule then spends ~90% of its time updating
  # their frequencies (10x fewer runs per second), so it runs without it.
  if [ "$t" = coordinator_fuzz ]; then extra=(-entropic=0); fi
  echo "-- $t: ${FUZZ_SECONDS} s from the $(ls "$work/$t" | wc -l) seeds in tests/fuzz/corpus/$t ${extra[*]}"
  # -timeout: an input that runs for seconds is a hang (every seed runs in
  # milliseconds); -rss_limit_mb: a huge allocation is a finding too.
  if ! "$BUILD/tests/fuzz/$t" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$artifacts/$t-" -print_final_stats=1 "${extra[@]}" "$work/$t" >"$work/$t.log" 2>&1; then
    tail -n 60 "$work/$t.log"
    echo "fuzz: $t FAILED; the input is in $artifacts/ (replay: $BUILD/tests/fuzz/$t FILE;" \
         "once fixed, add it to tests/fuzz/corpus/$t/)" >&2
    exit 1
  fi
  grep -E "^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|new_units_added|peak_rss_mb)" "$work/$t.log" || true
done
echo "fuzz: ${TARGETS[*]}: no finding in ${FUZZ_SECONDS} s each"
