#!/usr/bin/env bash
# Experiment: the ratio-8 student of scripts/kd_full.sh with the intermediate terms balanced by the
# teacher's scale. With weight 1 each, the attention-score MSE (teacher scores have mean square
# 2-13 per layer on SST-2 text) outweighs the hidden-state MSE (teacher mean square ~0.3) by ~3x in
# the loss, and stage 1 ended with hidden states at ~0.8 of the teacher's mean square (scores at
# ~0.12). Weights ~ 1 / teacher mean square: embedding 4, attention 0.2, hidden 3.
# Same budgets as kd_full.sh otherwise. Results: runs/kd/r8-bal/<task>/eval_results.json
set -euo pipefail
cd "$(dirname "$0")/.."
K=${KBERT:-.build/release/kbert}
M=models/all-MiniLM-L6-v2
R=runs/kd/r8-bal
W="--w-embedding 4 --w-attention 0.2 --w-hidden 3"
mkdir -p $R
[ -f runs/kd/r8/init/model.safetensors ] || $K compress --model $M --out runs/kd/r8/init --attention 192x192 --ffn 8x4 --embedding 8
if [ ! -f $R/general/DONE ]; then
  $K distill --stage general --teacher $M --student runs/kd/r8/init --out $R/general --general-tokens 2000000 --epochs 1 \
    --lr 5e-4 --warmup 0.05 --batch-size 32 --max-length 64 --threads 1 --save-every 100 --resume $W 2> $R/general.log
  touch $R/general/DONE
fi
for t in ${TASKS:-sst2 mrpc}; do
  [ -f $R/$t/DONE ] && continue
  case $t in sst2) budget="--epochs 1 --max-steps 600" ;; mrpc|rte) budget="--epochs 4" ;; *) budget="--epochs 3" ;; esac
  $K distill --stage task --task $t --teacher runs/finetune/$t --student $R/general --out $R/$t $budget \
    --lr 3e-4 --schedule two-phase --batch-size 32 --max-length 128 --threads 1 --save-every 100 --group-by-length 0 --resume $W 2> $R/$t.log \
    && touch $R/$t/DONE
done
