#!/usr/bin/env bash
# Usage: admin_cli_test.sh TESSERA_BINARY COORDINATOR_BINARY WORK_DIR
# `tessera admin`: usage errors exit 2 with a clear message, silence exits 3
# within the timeout, and against a coordinator with no groups status
# answers (table and JSON) while a request about a group it lacks is
# refused (exit 1). No workers: the rebalance itself is tested in
# tests/unit/coordinator.
set -uo pipefail
BIN=$1
COORD=$2
WORK=$3
rm -rf "$WORK" && mkdir -p "$WORK"
fail() { echo "FAIL: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
NOBODY=tcp://127.0.0.1:$(free_port)

expect() {  # expect CODE PATTERN CMD...: exit code CODE and PATTERN in stderr
  local code=$1 pattern=$2
  shift 2
  "$@" >"$WORK/out" 2>"$WORK/err"
  local rc=$?
  [ "$rc" = "$code" ] || fail "exit $rc, not $code: $* ($(cat "$WORK/err"))"
  grep -q -- "$pattern" "$WORK/err" || fail "no '$pattern' in the error of: $* ($(cat "$WORK/err"))"
}

# Usage errors: checked before anything is sent.
expect 2 "subcommand is required" "$BIN" admin
expect 2 "subcommand is required" "$BIN" admin plan
expect 2 "give --group N" "$BIN" admin drain -c "$NOBODY"
expect 2 "give --group N" "$BIN" admin remove -c "$NOBODY" --group 0
expect 2 "give --layers" "$BIN" admin rebalance -c "$NOBODY" --group 1
expect 2 "give --layers" "$BIN" admin plan preview -c "$NOBODY" --group 1
expect 2 "excludes" "$BIN" admin plan diff -c "$NOBODY" --group 1 --auto --layers 0,1,2
expect 2 "must be > 0" "$BIN" admin rebalance -c "$NOBODY" --group 1 --shares 0.5,0
expect 2 "Could not convert" "$BIN" admin rebalance -c "$NOBODY" --group 1 --layers 0,x,2
expect 2 "not expected" "$BIN" admin status --colour red
expect 2 "expected tcp://HOST:PORT" "$BIN" admin status -c "localhost:5557"
expect 2 "without --server-key" "$BIN" admin status -c "$NOBODY" --key "$WORK/none.key_secret"

# Nobody answers: exit 3, bounded by the timeout.
start=$(date +%s)
expect 3 "no answer within" "$BIN" admin status -c "$NOBODY" --timeout-ms 200
expect 3 "no answer within" "$BIN" admin drain -c "$NOBODY" --group 1 --timeout-ms 200
[ $(( $(date +%s) - start )) -lt 20 ] || fail "gave up too slowly"

# A coordinator without groups.
"$BIN" model make --preset tiny --seed 3 -o "$WORK/tiny.gguf" >/dev/null || fail "model make"
# An empty key path (an unset variable in a script) is an error, never
# "authentication off".
expect 1 "--curve-key was given an empty path" "$COORD" --model "$WORK/tiny.gguf" \
  --listen "tcp://127.0.0.1:$(free_port)" --workers "tcp://127.0.0.1:$(free_port)" --curve-key ""

ADMIN=tcp://127.0.0.1:$(free_port)
"$COORD" --model "$WORK/tiny.gguf" --listen "tcp://127.0.0.1:$(free_port)" --workers "tcp://127.0.0.1:$(free_port)" \
  --admin "$ADMIN" >"$WORK/coordinator.log" 2>&1 &
COORD_PID=$!
trap 'kill "$COORD_PID" 2>/dev/null; wait "$COORD_PID" 2>/dev/null' EXIT
for _ in $(seq 1 100); do
  "$BIN" admin status -c "$ADMIN" --timeout-ms 200 >"$WORK/out" 2>/dev/null && break
  kill -0 "$COORD_PID" 2>/dev/null || fail "the coordinator exited: $(cat "$WORK/coordinator.log")"
done
grep -q "groups: none registered" "$WORK/out" || fail "status: $(cat "$WORK/out")"
"$BIN" admin -c "$ADMIN" status --json >"$WORK/status.json" || fail "status --json"
python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); assert s["groups"] == [] and s["queue_limit"] > 0, s' \
  "$WORK/status.json" || fail "status --json: $(cat "$WORK/status.json")"
expect 1 "no group 7" "$BIN" admin drain -c "$ADMIN" --group 7
expect 1 "NOT_FOUND" "$BIN" admin rebalance -c "$ADMIN" --group 7 --layers 0,2 --wait
expect 1 "no group 7" "$BIN" admin plan diff -c "$ADMIN" --group 7 --shares 1,1
echo "e2e admin cli: ok"
