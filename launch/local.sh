#!/usr/bin/env bash
# N training processes on this machine, talking over 127.0.0.1 (jax.distributed + gloo).
# For testing multi-process code paths, and for users without a cluster.
#
#   launch/local.sh [--dry-run] [--processes N] [--devices D] [--port P] -- TRAIN_ARGS
#   launch/local.sh --processes 2 --devices 2 -- --config configs/default.py:tiny --workdir /tmp/run
#
# Each process sees D CPU devices (XLA's fake host devices); the mesh spans N x D.
# Ctrl-C or the failure of one process stops them all; the exit code is the first
# non-zero one.
set -euo pipefail

processes=2
devices=1
port=12355
dry_run=0
python="${PYTHON:-python3}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) dry_run=1; shift ;;
    --processes) processes="$2"; shift 2 ;;
    --devices) devices="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "unknown option $1 (training arguments go after --)" >&2; exit 2 ;;
  esac
done

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

for ((i = 0; i < processes; i++)); do
  cmd=(env "XLA_FLAGS=--xla_force_host_platform_device_count=${devices}"
       "AUDIOLM_COORDINATOR_ADDRESS=127.0.0.1:${port}"
       "AUDIOLM_NUM_PROCESSES=${processes}" "AUDIOLM_PROCESS_ID=${i}"
       "${python}" -m audiolm_jax.train "$@")
  if [[ "${dry_run}" == 1 ]]; then
    printf '%q ' "${cmd[@]}"
    echo
  else
    "${cmd[@]}" &
    pids+=("$!")
  fi
done

status=0
for pid in "${pids[@]}"; do
  code=0
  wait "$pid" || code=$?
  if [[ "${code}" != 0 && "${status}" == 0 ]]; then
    status="${code}"
    cleanup
  fi
done
exit "${status}"
