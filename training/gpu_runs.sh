#!/bin/bash
# The candidate prose networks trained on a lent GPU (training/README.md, "On a GPU"), all at
# once on the one card, from the repository root:  bash training/gpu_runs.sh CORPUS OUT MINUTES
# CORPUS holds the prose folders (shakespeare, python-docs, tech-prose, novels, gov-blogs,
# sentences); OUT gets each run's checkpoint and log.
set -u
corpus=$1 out=$2 minutes=$3
export PYTHONUNBUFFERED=1
# the trainer asks for the data dir (platformdirs, missing on the lent machine): a scratch one
export CHARCOMPLETE_DATA_DIR=${CHARCOMPLETE_DATA_DIR:-/tmp/charcomplete-data}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name(0))"
[ -d "$corpus/shakespeare-again" ] || cp -r "$corpus/shakespeare" "$corpus/shakespeare-again"   # the plays counted twice (a rerun on a warm machine used to copy them a third time)
folders=()
for f in shakespeare shakespeare-again python-docs tech-prose novels gov-blogs sentences; do
  folders+=(--corpus "$corpus/$f")
done
# a smoke run first: a broken CUDA path shows in seconds, not after the budget
python3 training/gpu.py --out /tmp/smoke.safetensors --vocab-of checkpoints/prose.safetensors --hidden 64 \
  --corpus "$corpus/shakespeare" --minutes 0.1 --eval-every 50 --device "${DEVICE:-cuda}" > "$out/smoke.log" 2>&1 \
  || { cat "$out/smoke.log"; exit 1; }
tail -2 "$out/smoke.log"
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
