#!/bin/bash
# The second lent-GPU session (2026-12-04, training/README.md "On a GPU, again"): a 512-wide code
# network from scratch and the 512-wide prose network continued, both at once on the one card.
# From the repository root:  bash training/gpu_large.sh PROSE_CORPUS CODE_CORPUS OUT MINUTES
# PROSE_CORPUS holds the six prose folders (as in gpu_runs.sh), CODE_CORPUS python-src and
# python-pkgs; runs/prose-h512.safetensors is the network to continue. OUT gets checkpoints and logs.
set -u
prose=$1 code=$2 out=$3 minutes=$4
export PYTHONUNBUFFERED=1
export CHARCOMPLETE_DATA_DIR=${CHARCOMPLETE_DATA_DIR:-/tmp/charcomplete-data}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name(0))"
[ -d "$prose/shakespeare-again" ] || cp -r "$prose/shakespeare" "$prose/shakespeare-again"   # the plays counted twice (not again on a rerun)
folders=()
for f in shakespeare shakespeare-again python-docs tech-prose novels gov-blogs sentences; do
  folders+=(--corpus "$prose/$f")
done
python3 training/gpu.py --out /tmp/smoke.safetensors --vocab-of checkpoints/code.safetensors --hidden 64 \
  --corpus "$code/python-src" --minutes 0.1 --eval-every 50 --device "${DEVICE:-cuda}" > "$out/smoke.log" 2>&1 \
  || { cat "$out/smoke.log"; exit 1; }
tail -2 "$out/smoke.log"
python3 training/gpu.py --out "$out/code-h512.safetensors" --corpus "$code/python-src" --corpus "$code/python-pkgs" \
  --minutes "$minutes" --batch-size 512 --device "${DEVICE:-cuda}" \
  --vocab-of checkpoints/code.safetensors --hidden 512 --lr 0.002 > "$out/code-h512.log" 2>&1 &
python3 training/gpu.py --out "$out/prose-h512-more.safetensors" "${folders[@]}" \
  --minutes "$minutes" --batch-size 512 --device "${DEVICE:-cuda}" \
  --init runs/prose-h512.safetensors --lr 0.001 > "$out/prose-h512-more.log" 2>&1 &
sleep 90; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
wait
tail -n 4 "$out"/*-h512*.log
