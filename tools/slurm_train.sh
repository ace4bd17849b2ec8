#!/usr/bin/env bash
# Train on a Slurm cluster, one task per GPU, surviving time limits and preemption:
#   GPUS=16 bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [tools/train.py args]
# submits a batch job (sbatch returns at once; its output goes to WORK_DIR/slurm-<jobid>.out)
# that runs tools/train.py through srun. Slurm sends SIGUSR1 to the training processes
# SIGNAL_SECONDS before the time limit (sbatch --signal=USR1@N); training finishes its
# iteration, checkpoints it and exits with status 75; the job then requeues itself
# (scontrol requeue) and, restarted, continues with --resume. SIGTERM (preemption) stops
# training the same way; the job is requeued unless it is being cancelled (scancel also
# sends SIGTERM to this script). docs/user_guides/fault_tolerance.md.
# Environment: GPUS (8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS, SBATCH_ARGS (for
# example "--time=24:00:00"), SIGNAL_SECONDS (300: time to finish an iteration and save),
# MAX_REQUEUES (20). REQUEUE=0: MMDetection's behaviour (srun in the foreground, no signal,
# no requeue).
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
shift 4
PY_ARGS=("$@")
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
SBATCH_ARGS=${SBATCH_ARGS:-""}
SIGNAL_SECONDS=${SIGNAL_SECONDS:-300}
MAX_REQUEUES=${MAX_REQUEUES:-20}
EXIT_PREEMPTED=75  # mmsniper.engine.EXIT_PREEMPTED
TOOLS=$(cd "$(dirname "$0")" && pwd)

srun_train() {
    PYTHONPATH="$TOOLS/..":$PYTHONPATH \
    srun -p "${PARTITION}" \
        --job-name="${JOB_NAME}" \
        --gres=gpu:"${GPUS_PER_NODE}" \
        --ntasks="${GPUS}" \
        --ntasks-per-node="${GPUS_PER_NODE}" \
        --cpus-per-task="${CPUS_PER_TASK}" \
        --kill-on-bad-exit=1 \
        ${SRUN_ARGS} \
        python -u "$TOOLS/train.py" "${CONFIG}" --work-dir="${WORK_DIR}" --launcher="slurm" "$@"
}

if [ "${REQUEUE:-1}" = 0 ]; then
    set -x
    srun_train "${PY_ARGS[@]}"
    exit $?
fi

if [ -z "${MMSNIPER_SLURM_JOB:-}" ]; then
    # submit this script as the batch job
    mkdir -p "${WORK_DIR}"
    set -x
    exec sbatch -p "${PARTITION}" --job-name="${JOB_NAME}" \
        --nodes=$(((GPUS + GPUS_PER_NODE - 1) / GPUS_PER_NODE)) \
        --ntasks="${GPUS}" --ntasks-per-node="${GPUS_PER_NODE}" \
        --gres=gpu:"${GPUS_PER_NODE}" --cpus-per-task="${CPUS_PER_TASK}" \
        --signal=USR1@"${SIGNAL_SECONDS}" --requeue --open-mode=append \
        --output="${WORK_DIR}/slurm-%j.out" --export=ALL,MMSNIPER_SLURM_JOB=1 \
        ${SBATCH_ARGS} "$0" "${PARTITION}" "${JOB_NAME}" "${CONFIG}" "${WORK_DIR}" "${PY_ARGS[@]}"
fi

# Inside the batch job. This shell gets SIGTERM only when the job itself ends (scancel,
# hard time limit); the training processes get their own signals from Slurm.
CANCELLED=0
trap 'CANCELLED=1' TERM
trap ':' USR1  # a handler, not SIG_IGN: children would inherit an ignored signal
RESTARTS=${SLURM_RESTART_COUNT:-0}
if [ "${RESTARTS}" -gt 0 ]; then
    PY_ARGS+=(--resume)  # a requeued job continues from the newest readable checkpoint
fi
set -x
srun_train "${PY_ARGS[@]}" &
PID=$!
while kill -0 "${PID}" 2>/dev/null; do
    wait "${PID}"  # returns early when a trapped signal arrives
done
wait "${PID}"
STATUS=$?
set +x
if [ "${STATUS}" -eq "${EXIT_PREEMPTED}" ] && [ "${CANCELLED}" -eq 0 ]; then
    if [ "${RESTARTS}" -lt "${MAX_REQUEUES}" ]; then
        echo "slurm_train.sh: training stopped with a checkpoint (status ${STATUS}); requeueing job ${SLURM_JOB_ID} (restart $((RESTARTS + 1)) of at most ${MAX_REQUEUES})"
        scontrol requeue "${SLURM_JOB_ID}"
    else
        echo "slurm_train.sh: ${MAX_REQUEUES} requeues done (MAX_REQUEUES); not requeueing. Resubmit with --resume to continue."
    fi
fi
exit "${STATUS}"
