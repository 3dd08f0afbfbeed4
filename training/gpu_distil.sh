#!/bin/bash
# The third lent-GPU session (2026-12-04, training/README.md "On a GPU, a third time"): the shipped 256-wide
# networks taught by the 512-wide ones (training/gpu.py --teacher), three runs at once on the card.
# From the repository root:  bash training/gpu_distil.sh PROSE_CORPUS CODE_CORPUS OUT MINUTES
# PROSE_CORPUS holds the six prose folders (as in gpu_runs.sh), CODE_CORPUS python-src and python-pkgs.
set -u
prose=$1 code=$2 out=$3 minutes=$4
source training/gpu_setup.sh "$prose" "$out"
smoke checkpoints/code.safetensors "$code/python-src"
run() {  # NAME ARGS...: one run in the background
  local name=$1; shift
  python3 training/gpu.py --out "$out/$name.safetensors" --minutes "$minutes" --batch-size 512 \
    --device "${DEVICE:-cuda}" --lr 0.0015 "$@" > "$out/$name.log" 2>&1 &
}
run prose-kd0.5 "${folders[@]}" --init checkpoints/prose.safetensors --teacher checkpoints/prose-large.safetensors --teacher-weight 0.5
run prose-kd0.9 "${folders[@]}" --init checkpoints/prose.safetensors --teacher checkpoints/prose-large.safetensors --teacher-weight 0.9
run code-kd0.5 --corpus "$code/python-src" --corpus "$code/python-pkgs" \
  --init checkpoints/code.safetensors --teacher checkpoints/code-large.safetensors --teacher-weight 0.5
sleep 90; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
wait
tail -n 3 "$out"/*-kd*.log
