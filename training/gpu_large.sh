#!/bin/bash
# The second lent-GPU session (2026-12-04, training/README.md "On a GPU, again"): a 512-wide code
# network from scratch and the 512-wide prose network continued, both at once on the one card.
# From the repository root:  bash training/gpu_large.sh PROSE_CORPUS CODE_CORPUS OUT MINUTES
# PROSE_CORPUS holds the six prose folders (as in gpu_runs.sh), CODE_CORPUS python-src and
# python-pkgs; runs/prose-h512.safetensors is the network to continue. OUT gets checkpoints and logs.
set -u
prose=$1 code=$2 out=$3 minutes=$4
source training/gpu_setup.sh "$prose" "$out"
smoke checkpoints/code.safetensors "$code/python-src"
python3 training/gpu.py --out "$out/code-h512.safetensors" --corpus "$code/python-src" --corpus "$code/python-pkgs" \
  --minutes "$minutes" --batch-size 512 --device "${DEVICE:-cuda}" \
  --vocab-of checkpoints/code.safetensors --hidden 512 --lr 0.002 > "$out/code-h512.log" 2>&1 &
python3 training/gpu.py --out "$out/prose-h512-more.safetensors" "${folders[@]}" \
  --minutes "$minutes" --batch-size 512 --device "${DEVICE:-cuda}" \
  --init runs/prose-h512.safetensors --lr 0.001 > "$out/prose-h512-more.log" 2>&1 &
sleep 90; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
wait
tail -n 4 "$out"/*-h512*.log
