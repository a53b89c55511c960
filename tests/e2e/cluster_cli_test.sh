#!/usr/bin/env bash
# Usage: cluster_cli_test.sh TESSERA_BINARY WORK_DIR
# The cluster subcommands' error paths, with no coordinator running: each
# ends with a clear message and the documented exit code, never a hang.
set -uo pipefail
BIN=$1
WORK=$2
rm -rf "$WORK" && mkdir -p "$WORK"
fail() { echo "FAIL: $*" >&2; exit 1; }
# A port nothing listens on: bind one, note it, let it go.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
NOBODY=tcp://127.0.0.1:$PORT

expect() {  # expect CODE PATTERN CMD...: exit code CODE and PATTERN in stderr
  local code=$1 pattern=$2
  shift 2
  "$@" >"$WORK/out" 2>"$WORK/err"
  local rc=$?
  [ "$rc" = "$code" ] || fail "exit $rc, not $code: $* ($(cat "$WORK/err"))"
  grep -q -- "$pattern" "$WORK/err" || fail "no '$pattern' in the error of: $* ($(cat "$WORK/err"))"
}

# generate: exactly one of --model and --coordinator; local-only flags stay local.
expect 2 "give --model FILE" "$BIN" generate -p "x"
if "$BIN" generate -m "$WORK/m.gguf" -c "$NOBODY" -p x >/dev/null 2>"$WORK/err"; then fail "--model with --coordinator accepted"; fi
grep -q "excludes" "$WORK/err" || fail "no clear error for --model with --coordinator: $(cat "$WORK/err")"
if "$BIN" generate -c "$NOBODY" -p x --threads 2 >/dev/null 2>"$WORK/err"; then fail "--threads with --coordinator accepted"; fi
grep -q -- "--threads requires --model" "$WORK/err" || fail "no clear error for --threads: $(cat "$WORK/err")"
if "$BIN" generate -m "$WORK/m.gguf" -p x --no-stream >/dev/null 2>"$WORK/err"; then fail "--no-stream with --model accepted"; fi

# Sampling values are checked before anything is sent.
expect 2 "top-p" "$BIN" generate -c "$NOBODY" -p x --top-p 1.5
expect 2 "tcp://HOST:PORT" "$BIN" generate -c "localhost:$PORT" -p x

# Nobody answers: the prompt was echoed, then a bounded wait and a clear error.
start=$(date +%s)
expect 1 "coordinator $NOBODY: no answer after 4 tries" "$BIN" generate -c "$NOBODY" -p "Hello" -n 4 --timeout-ms 100
grep -q "is tessera-coordinator running?" "$WORK/err" || fail "no hint in: $(cat "$WORK/err")"
[ "$(cat "$WORK/out")" = "Hello" ] || fail "stdout is not the prompt: $(cat "$WORK/out")"
[ $(( $(date +%s) - start )) -lt 20 ] || fail "gave up too slowly"
expect 1 "coordinator $NOBODY: no answer after 2 tries" "$BIN" status -c "$NOBODY" --timeout-ms 100

# submit: unreadable input, output over input.
expect 1 "cannot read $WORK/missing.jsonl" "$BIN" submit -c "$NOBODY" -f "$WORK/missing.jsonl" -o "$WORK/r.jsonl"
echo '{"prompt": "x"}' > "$WORK/same.jsonl"
expect 2 "is the input file" "$BIN" submit -c "$NOBODY" -f "$WORK/same.jsonl" -o "$WORK/same.jsonl"

# submit: every bad line is reported with its number and becomes an error
# result in its place; a good line nobody answers fails as NO_ANSWER.
cat > "$WORK/jobs.jsonl" <<'JOBS'
{"prompt": "fine", "max_tokens": 2}
not json

{"prompt": "x", "max_tokens": 0}
{"id": "a", "prompt": "x", "temperature": -1}
{"id": "b", "prompt": "x", "colour": "red"}
{"prompt": "x", "prompt_tokens": [1]}
{"id": "a", "prompt": "again"}
JOBS
expect 1 "jobs.jsonl:2: not JSON" "$BIN" submit -c "$NOBODY" -f "$WORK/jobs.jsonl" -o "$WORK/results.jsonl" \
  --timeout-ms 100
for pattern in "jobs.jsonl:4: \"max_tokens\" must be" "jobs.jsonl:5: temperature" 'jobs.jsonl:6: unknown field "colour"' \
               "jobs.jsonl:7: give exactly one" 'jobs.jsonl:8: id "a" repeats line 5'; do
  grep -q -- "$pattern" "$WORK/err" || fail "no '$pattern' in: $(cat "$WORK/err")"
done
expected='jobs-1 NO_ANSWER
jobs-2 INVALID_ARGUMENT line 2:
jobs-4 INVALID_ARGUMENT line 4:
a INVALID_ARGUMENT line 5:
b INVALID_ARGUMENT line 6:
jobs-7 INVALID_ARGUMENT line 7:
a INVALID_ARGUMENT line 8:'
# A line without an id gets <stem>-<line>-<FNV-1a 32 of the line's bytes>;
# the check prints <stem>-<line> once the hash is verified.
got=$(python3 -c '
import json, re, sys
inputs = open(sys.argv[2], "rb").read().split(b"\n")
def fnv1a32(data):
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xffffffff
    return "%08x" % h
for line in open(sys.argv[1]):
    r = json.loads(line)
    e = r["error"]
    rid = r["id"]
    m = re.fullmatch(r"(jobs-([0-9]+))-([0-9a-f]{8})", rid)
    if m:
        want = fnv1a32(inputs[int(m.group(2)) - 1])
        rid = m.group(1) if m.group(3) == want else rid + " (hash should be " + want + ")"
    words = [rid, e["code"]] + ([" ".join(e["message"].split()[:2])] if e["code"] == "INVALID_ARGUMENT" else [])
    print(" ".join(words))' "$WORK/results.jsonl" "$WORK/jobs.jsonl") || fail "results are not JSON lines"
[ "$got" = "$expected" ] || fail "results file:
$got
expected:
$expected"
grep -q "requests: 0 ok, 7 failed" "$WORK/out" || fail "no summary: $(cat "$WORK/out")"
echo "e2e cluster cli: ok"
