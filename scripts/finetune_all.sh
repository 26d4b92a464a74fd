#!/usr/bin/env bash
# Fine-tunes all-MiniLM-L6-v2 on SST-2, MRPC, STS-B, RTE and CoLA with kbert (and, with --ref,
# the HF/PyTorch reference with the same recipe, concurrently on the other core).
# Results: runs/finetune/<task>/eval_results.json and runs/ref/<task>/results.json.
set -euo pipefail
cd "$(dirname "$0")/.."
K=.build/release/kbert
M=models/all-MiniLM-L6-v2
LR=${LR:-5e-5}
run_ours() {
  for spec in "rte 3" "mrpc 3" "stsb 3" "cola 3" "sst2 1"; do
    set -- $spec
    $K finetune --model $M --task $1 --out runs/finetune/$1 --epochs $2 --lr $LR --batch-size 32 --max-length 128 \
      --threads ${THREADS:-1} --resume 2> runs/finetune-$1.log || echo "kbert $1 failed" >&2
  done
}
run_ref() {
  for spec in "rte 3" "mrpc 3" "stsb 3" "cola 3" "sst2 1"; do
    set -- $spec
    python3 tools/ref_finetune.py --task $1 --out runs/ref/$1 --epochs $2 --lr $LR --batch-size 32 --max-length 128 \
      --threads 1 > runs/ref-$1.log 2>&1 || echo "reference $1 failed" >&2
  done
}
mkdir -p runs
if [ "${1:-}" = "--ref" ]; then run_ours & run_ref & wait; else run_ours; fi
