#!/bin/bash
# The candidate prose networks trained on a lent GPU (training/README.md, "On a GPU"), all at
# once on the one card, from the repository root:  bash training/gpu_runs.sh CORPUS OUT MINUTES
# CORPUS holds the prose folders (shakespeare, python-docs, tech-prose, novels, gov-blogs,
# sentences); OUT gets each run's checkpoint and log.
set -u
corpus=$1 out=$2 minutes=$3
source training/gpu_setup.sh "$corpus" "$out"
smoke checkpoints/prose.safetensors "$corpus/shakespeare"
run() {  # NAME ARGS...: one candidate in the background
  local name=$1; shift
  python3 training/gpu.py --out "$out/$name.safetensors" "${folders[@]}" --minutes "$minutes" --batch-size 512 --device "${DEVICE:-cuda}" "$@" \
    > "$out/$name.log" 2>&1 &
}
run prose-h512 --vocab-of checkpoints/prose.safetensors --hidden 512 --lr 0.002
run prose-h384 --vocab-of checkpoints/prose.safetensors --hidden 384 --lr 0.003
run prose-h256x2 --vocab-of checkpoints/prose.safetensors --hidden 256 --layers 2 --lr 0.003
sleep 90; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
wait
tail -n 4 "$out"/prose-*.log
