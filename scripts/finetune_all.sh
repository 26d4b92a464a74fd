#!/usr/bin/env bash
# Fine-tunes all-MiniLM-L6-v2 on SST-2 (300 steps, 9,600 examples, on this machine's budget),
# MRPC, STS-B, RTE and CoLA (3 epochs) with kbert (and, with --ref,
# the HF/PyTorch reference with the same recipe, concurrently on the other core).
# TASKS="rte stsb" limits the run to those tasks (default: all five); a finished task resumes to
# its end at once, so re-running is cheap.
# Results: runs/finetune/<task>/eval_results.json (DONE beside it once the run has ended; the
# distillation lanes wait for it) and runs/ref/<task>/results.json. Plain shuffled
# batches, as the published teachers (GROUP=50: batches grouped by length, kbert's default since session 20).
set -euo pipefail
cd "$(dirname "$0")/.."
K=${KBERT:-.build/release/kbert}
M=models/all-MiniLM-L6-v2
LR=${LR:-5e-5}
SPECS=()
for spec in "rte 3" "mrpc 3" "stsb 3" "cola 3" "sst2 1 --max-steps 300"; do
  [[ " ${TASKS:-rte mrpc stsb cola sst2} " == *" ${spec%% *} "* ]] && SPECS+=("$spec")
done
run_ours() {
  for spec in "${SPECS[@]}"; do
    set -- $spec; t=$1; e=$2; shift 2
    $K finetune --model $M --task $t --out runs/finetune/$t --epochs $e --lr $LR --batch-size 32 --max-length 128 \
      --threads ${THREADS:-1} --group-by-length ${GROUP:-0} --resume "$@" 2>> runs/finetune-$t.log \
      && touch runs/finetune/$t/DONE || echo "kbert $t failed" >&2
  done
}
run_ref() {
  for spec in "${SPECS[@]}"; do
    set -- $spec; t=$1; e=$2; shift 2
    python3 tools/ref_finetune.py --task $t --out runs/ref/$t --epochs $e --lr $LR --batch-size 32 --max-length 128 \
      --threads 1 "$@" > runs/ref-$t.log 2>&1 || echo "reference $t failed" >&2
  done
}
mkdir -p runs
if [ "${1:-}" = "--ref" ]; then run_ours & run_ref & wait; else run_ours; fi
