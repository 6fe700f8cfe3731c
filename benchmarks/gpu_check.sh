#!/usr/bin/env bash
# The GPU check (issue 11), for a machine with one CUDA GPU; at most 8 minutes.
# 1) the `gpu` tests; 2) benchmarks/gpu_check.py: GPU shares (0.5 → 2 trials at once), memory
# back to baseline after each trial, MiniLM full fine-tuning with bf16 and fp16, and one fp32
# epoch on the GPU against the CPU. Output: benchmarks/results/gpu_check.{md,json,log}.
# Run from the repository root: bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
[ -x "$PY" ] || PY=python
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mkdir -p benchmarks/results
LOG=benchmarks/results/gpu_check.log
{
  echo "== $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader)"
  echo "== gpu tests"
  timeout 180 "$PY" -m pytest -q -p no:cacheprovider -m gpu tests
  echo "== gpu tests exit $?"
  echo "== gpu_check.py"
  timeout 270 "$PY" benchmarks/gpu_check.py --samples 1000
  echo "== gpu_check.py exit $?"
} 2>&1 | tee "$LOG"
