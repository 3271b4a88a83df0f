#!/usr/bin/env bash
# Starts a TensorFlow cluster on this machine: 1 parameter server and
# NUM_WORKERS (2) worker servers on 127.0.0.1, on ports that are free now.
# It prints the train_image_classifier.py command of each worker (run each in
# its own terminal; task 0 is the chief) and keeps the servers running until
# Ctrl-C, which stops them all.
#
# Every setting is an environment variable:
#   PYTHON (python)  NUM_WORKERS (2)  LOG_DIR (a new temporary directory)
#   TRAIN_DIR (/tmp/cluster_train)  DATASET_NAME (digits)
#   DATASET_DIR (/tmp/digits)  MODEL_NAME (lenet)  MAX_STEPS (1000)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python}
NUM_WORKERS=${NUM_WORKERS:-2}
LOG_DIR=${LOG_DIR:-$(mktemp -d -t tf_cluster.XXXXXX)}
TRAIN_DIR=${TRAIN_DIR:-/tmp/cluster_train}
DATASET_NAME=${DATASET_NAME:-digits}
DATASET_DIR=${DATASET_DIR:-/tmp/digits}
MODEL_NAME=${MODEL_NAME:-lenet}
MAX_STEPS=${MAX_STEPS:-1000}

if ! [[ "${NUM_WORKERS}" =~ ^[1-9][0-9]*$ ]]; then
  echo "ERROR: NUM_WORKERS=${NUM_WORKERS} is not a positive integer." >&2
  exit 2
fi
mkdir -p "${LOG_DIR}"

# Ask the kernel for free ports: bind to port 0, read the port, release it.
read -r -a PORTS <<< "$("${PYTHON}" - "$((NUM_WORKERS + 1))" <<'EOF'
import socket
import sys
socks = []
for _ in range(int(sys.argv[1])):
  s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
  s.bind(('127.0.0.1', 0))
  socks.append(s)
print(' '.join(str(s.getsockname()[1]) for s in socks))
EOF
)"
PS_HOSTS="127.0.0.1:${PORTS[0]}"
WORKER_PORTS=("${PORTS[@]:1}")
WORKER_HOSTS=$(printf '127.0.0.1:%s,' "${WORKER_PORTS[@]}")
WORKER_HOSTS=${WORKER_HOSTS%,}

PIDS=()
stop_all() {
  trap - EXIT INT TERM
  if ((${#PIDS[@]})); then
    echo "Stopping the cluster (pids ${PIDS[*]})."
    kill "${PIDS[@]}" 2>/dev/null || true
    wait "${PIDS[@]}" 2>/dev/null || true
  fi
}
trap stop_all EXIT
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM

start_server() {  # job task
  local log="${LOG_DIR}/$1$2.log"
  "${PYTHON}" start_tf_server.py --ps_hosts="${PS_HOSTS}" \
    --worker_hosts="${WORKER_HOSTS}" --job_name="$1" --task="$2" \
    > "${log}" 2>&1 &
  PIDS+=($!)
}

start_server ps 0
for ((i = 0; i < NUM_WORKERS; i++)); do
  start_server worker "${i}"
done

# Wait until every server printed its "Started" line.
for ((n = 0; n < ${#PIDS[@]}; n++)); do
  if ((n == 0)); then log="${LOG_DIR}/ps0.log"; else
    log="${LOG_DIR}/worker$((n - 1)).log"; fi
  for ((t = 0; t < 600; t++)); do
    grep -q '^Started /job:' "${log}" 2>/dev/null && break
    if ! kill -0 "${PIDS[n]}" 2>/dev/null; then
      echo "ERROR: the server logging to ${log} exited:" >&2
      tail -n 5 "${log}" >&2
      exit 1
    fi
    sleep 0.2
  done
  if ! grep -q '^Started /job:' "${log}"; then
    echo "ERROR: the server logging to ${log} did not start in 120s." >&2
    exit 1
  fi
done

echo "Cluster up: ps ${PS_HOSTS}; workers ${WORKER_HOSTS}; logs in ${LOG_DIR}"
echo "Run one trainer per worker, each in its own terminal (task 0 is the chief):"
for ((i = 0; i < NUM_WORKERS; i++)); do
  sync_flag=""
  if ((NUM_WORKERS > 1)); then sync_flag=" --sync_replicas"; fi
  echo "  ${PYTHON} train_image_classifier.py" \
    "--master=grpc://127.0.0.1:${WORKER_PORTS[i]} --task=${i}" \
    "--worker_replicas=${NUM_WORKERS} --num_ps_tasks=1${sync_flag}" \
    "--train_dir=${TRAIN_DIR} --dataset_name=${DATASET_NAME}" \
    "--dataset_dir=${DATASET_DIR} --model_name=${MODEL_NAME}" \
    "--max_number_of_steps=${MAX_STEPS}"
done
echo "Press Ctrl-C to stop the cluster."
# Returns when a server dies (then everything is stopped) or on Ctrl-C.
wait -n "${PIDS[@]}" || true
echo "A server exited; see ${LOG_DIR}." >&2
exit 1
