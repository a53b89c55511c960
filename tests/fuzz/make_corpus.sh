#!/usr/bin/env bash
# Regenerates the fuzz seed corpus in tests/fuzz/corpus with the
# fuzz_corpus_maker tool of a build directory (default: build). Seeds the
# tool does not write (reproducers of fixed findings) are left alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
cmake --build "$BUILD" --target fuzz_corpus_maker -j"${JOBS:-2}"
"$BUILD/tests/fuzz/fuzz_corpus_maker" tests/fuzz/corpus
