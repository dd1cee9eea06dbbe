#!/usr/bin/env bash
# Cloud TPU VM: create (or reuse) a slice, install this repository on every worker,
# and run the same training command on all of them.
#
#   launch/tpu_vm.sh [--dry-run] --name NAME --zone ZONE [--type v5litepod-16] \
#       [--version v2-alpha-tpuv5-lite] -- --config configs/paper_128k.py:youtube_mix \
#       --workdir gs://BUCKET/runs/p128
#
# Every worker runs one process; JAX detects the slice (TPU_WORKER_HOSTNAMES) and
# initializes jax.distributed itself. The workdir must be a bucket (or other storage
# all workers see); Orbax and TFDS read gs:// paths.
set -euo pipefail

name=""
zone=""
type="v5litepod-16"
version="v2-alpha-tpuv5-lite"
dry_run=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) dry_run=1; shift ;;
    --name) name="$2"; shift 2 ;;
    --zone) zone="$2"; shift 2 ;;
    --type) type="$2"; shift 2 ;;
    --version) version="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "unknown option $1 (training arguments go after --)" >&2; exit 2 ;;
  esac
done
if [[ -z "${name}" || -z "${zone}" ]]; then
  echo "usage: launch/tpu_vm.sh --name NAME --zone ZONE [--type T] -- TRAIN_ARGS" >&2
  exit 2
fi

run() {
  if [[ "${dry_run}" == 1 ]]; then
    printf '%q ' "$@"
    echo
  else
    "$@"
  fi
}

if [[ "${dry_run}" == 1 ]] || ! gcloud compute tpus tpu-vm describe "${name}" \
    --zone "${zone}" >/dev/null 2>&1; then
  run gcloud compute tpus tpu-vm create "${name}" --zone "${zone}" \
    --accelerator-type "${type}" --version "${version}"
fi

repo="$(cd "$(dirname "$0")/.." && pwd)"
run gcloud compute tpus tpu-vm scp --recurse --zone "${zone}" --worker=all \
  "${repo}" "${name}:~/audiolm_jax"
run gcloud compute tpus tpu-vm ssh "${name}" --zone "${zone}" --worker=all \
  --command "cd ~/audiolm_jax && python3 -m pip install -q -e '.[tpu]'"
train_args="$(printf '%q ' "$@")"
run gcloud compute tpus tpu-vm ssh "${name}" --zone "${zone}" --worker=all \
  --command "cd ~/audiolm_jax && python3 -m audiolm_jax.train ${train_args}"
