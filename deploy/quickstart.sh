#!/usr/bin/env bash
# The main job on a fresh machine: install dependencies, build, make a demo
# model (the `small` preset, ~30M random parameters, F16), then start a local
# cluster: a coordinator and two replica groups, each its own mpirun job (one
# tensor parallel over 2 ranks, one pipeline parallel over 2 stages). Send it
# prompts through the ZeroMQ client, print the streamed answers and the
# cluster's status, rebalance the pipeline group live (move its layer cut
# while the cluster serves: `tessera admin`), and stop everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
bash deploy/build.sh --target tessera tessera-worker tessera-coordinator
mkdir -p models
MODEL=models/demo-small-f16.gguf
[ -f "$MODEL" ] || ./build/client/tessera model make --preset small --type f16 --seed 7 -o "$MODEL"
./build/client/tessera model info "$MODEL"

RUN_DIR=run/quickstart
CLIENT_PORT=${CLIENT_PORT:-5555} WORKER_PORT=${WORKER_PORT:-5556} ADMIN_PORT=${ADMIN_PORT:-5557}
EP="tcp://127.0.0.1:$CLIENT_PORT"
ADMIN="./build/client/tessera admin --coordinator tcp://127.0.0.1:$ADMIN_PORT"
trap 'echo "== stopping the cluster"; bash deploy/stop-cluster.sh --run-dir "$RUN_DIR"' EXIT
echo "== a coordinator and two replica groups: tp 2 x pp 1, and tp 1 x pp 2 (each its own mpirun job)"
bash deploy/launch-cluster.sh --model "$MODEL" --groups 1 --tp 2 --pp 1 --run-dir "$RUN_DIR" \
  --client-port "$CLIENT_PORT" --worker-port "$WORKER_PORT" --admin-port "$ADMIN_PORT"
# A second group joins the running coordinator.
bash deploy/launch-group.sh --model "$MODEL" --coordinator "tcp://127.0.0.1:$WORKER_PORT" --name group-pp2 \
  --tp 1 --pp 2 --run-dir "$RUN_DIR"
for _ in $(seq 1 300); do
  [ "$(./build/client/tessera status --coordinator "$EP" --json 2>/dev/null | grep -o GROUP_READY | wc -l)" -ge 2 ] && break
  kill -0 "$(cat "$RUN_DIR/group-pp2.pid")" 2>/dev/null || { cat "$RUN_DIR/group-pp2.log" >&2; exit 1; }
  sleep 1
done
./build/client/tessera status --coordinator "$EP"

echo "== three prompts, streamed through the coordinator (the same text as \`tessera generate --model\` gives)"
for prompt in "Once upon a time" "The little robot" "In a quiet village"; do
  ./build/client/tessera generate --coordinator "$EP" --prompt "$prompt" -n 48 "$@"
done
echo "== four at once, seeded sampling"
for i in 1 2 3 4; do
  ./build/client/tessera generate --coordinator "$EP" --prompt "Story $i:" -n 32 --temp 0.8 --top-k 40 \
    --seed "$i" --no-stream >"$RUN_DIR/answer-$i.txt" 2>&1 &
done
wait
cat "$RUN_DIR"/answer-*.txt
./build/client/tessera status --coordinator "$EP"

echo "== admin status: plans, per-stage step times, memory per rank"
$ADMIN status
PP2=$($ADMIN status | awk '$1 == "group" && $3 == "group-pp2" { print $2 }')
# Stage 1's first layer under the running plan ("  1      [4,8)  ..."): move it by one.
CUT=$($ADMIN status | awk '$1 == "group" { mine = ($3 == "group-pp2") } mine && $1 == "1" && $2 ~ /^\[/ { sub(/\[/, "", $2); sub(/,.*/, "", $2); print $2; exit }')
NEW_CUT=$((CUT > 4 ? CUT - 1 : CUT + 1))
echo "== live rebalance of group $PP2 (group-pp2): its layer cut moves from $CUT to $NEW_CUT while the cluster serves"
./build/client/tessera generate --coordinator "$EP" --prompt "While it moves" -n 48 --no-stream \
  >"$RUN_DIR/during-rebalance.txt" 2>&1 &
$ADMIN plan diff --group "$PP2" --layers "0,$NEW_CUT,8"
$ADMIN rebalance --group "$PP2" --layers "0,$NEW_CUT,8" --wait
wait
cat "$RUN_DIR/during-rebalance.txt"
$ADMIN status
