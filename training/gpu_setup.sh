# Sourced by training/gpu_runs.sh and gpu_large.sh:  source training/gpu_setup.sh PROSE_CORPUS OUT
# The environment of a lent GPU machine, the device printed, the prose folders as `--corpus`
# arguments in $folders (the plays counted twice), and `smoke VOCAB_OF FOLDER`: a 6-second run
# first, so that a broken CUDA path shows in seconds, not after the budget.
export PYTHONUNBUFFERED=1
# the trainer asks for the data dir (platformdirs, missing on the lent machine): a scratch one
export CHARCOMPLETE_DATA_DIR=${CHARCOMPLETE_DATA_DIR:-/tmp/charcomplete-data}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name(0))"
# the plays counted twice (a rerun on a warm machine used to copy them a third time)
[ -d "$1/shakespeare-again" ] || cp -r "$1/shakespeare" "$1/shakespeare-again"
folders=()
for f in shakespeare shakespeare-again python-docs tech-prose novels gov-blogs sentences; do
  folders+=(--corpus "$1/$f")
done
smoke() {  # VOCAB_OF FOLDER: a tiny network for 6 seconds; its log in $2's OUT/smoke.log
  python3 training/gpu.py --out /tmp/smoke.safetensors --vocab-of "$1" --hidden 64 --corpus "$2" \
    --minutes 0.1 --eval-every 50 --device "${DEVICE:-cuda}" > "$out/smoke.log" 2>&1 \
    || { cat "$out/smoke.log"; exit 1; }
  tail -2 "$out/smoke.log"
}
