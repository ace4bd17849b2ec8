#!/usr/bin/env bash
# Multi-process train through torch.distributed (one process per GPU), as in MMDetection:
#   bash tools/dist_train.sh CONFIG GPUS [extra tools/train.py args]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node.
# SIGTERM / SIGUSR1 sent to this script go to the training processes (not to torchrun,
# which would kill them 30 s later): they finish the iteration, checkpoint it, and this
# script exits with status 75; continue with --resume (docs/user_guides/fault_tolerance.md).
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
EXIT_PREEMPTED=75  # mmsniper.engine.EXIT_PREEMPTED

PYTHONPATH="$(dirname $0)/..":$PYTHONPATH \
python -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    $(dirname "$0")/train.py $CONFIG \
    --launcher pytorch ${@:3} &
PID=$!
GOT_SIGNAL=""
forward() {
    GOT_SIGNAL=$1
    pkill -"$1" -P "$PID" 2>/dev/null || kill -"$1" "$PID"
}
trap 'forward TERM' TERM
trap 'forward USR1' USR1
while kill -0 "$PID" 2>/dev/null; do
    wait "$PID"  # returns early when a trapped signal arrives
done
wait "$PID"
STATUS=$?
if [ -n "$GOT_SIGNAL" ] && [ "$STATUS" -ne 0 ]; then
    STATUS=$EXIT_PREEMPTED  # torchrun reports 1 for the ranks' 75
fi
exit "$STATUS"
