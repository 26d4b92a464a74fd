#!/usr/bin/env bash
# A longer stage 1 at ratio 8 (README "Distillation results", session 13): the 2M-token stage-1
# student of scripts/kd_full.sh distilled on 6M more Wikipedia tokens (8M in all), then the
# standard stage-2 recipe of kd_full.sh on every task, in two one-thread lanes. Every run
# checkpoints and resumes; re-running skips finished runs.
#   scripts/kd_long_stage1.sh            stage 1 (two threads), then stage 2
# Results: runs/kd/r8/general-8m, runs/kd/r8-8m/<task>; table: python3 tools/kd_table.py
set -euo pipefail
cd "$(dirname "$0")/.."
K=${KBERT:-.build/release/kbert}
M=models/all-MiniLM-L6-v2
R=runs/kd
[ -f $R/r8/general/model.safetensors ] || { echo "no 2M-token stage-1 student $R/r8/general: run scripts/kd_full.sh stage1" >&2; exit 1; }
if [ ! -f $R/r8/general-8m/DONE ]; then
  $K distill --stage general --teacher $M --student $R/r8/general --out $R/r8/general-8m --general-tokens 6000000 --epochs 1 \
    --lr 3e-4 --warmup 0.02 --batch-size 32 --max-length 64 --threads 2 --save-every 100 --resume 2>> $R/r8/general-8m.log
  touch $R/r8/general-8m/DONE
fi
mkdir -p $R/r8-8m
stage2() {  # task epochs
  local t=$1 out=$R/r8-8m/$1; shift
  [ -f $out/DONE ] && return 0
  $K distill --stage task --task $t --teacher runs/finetune/$t --student $R/r8/general-8m --out $out "$@" \
    --lr 3e-4 --schedule two-phase --batch-size 32 --max-length 128 --threads 1 --save-every 100 --resume 2> $out.log \
    && touch $out/DONE || echo "stage 2 $t failed (see $out.log)" >&2
}
(stage2 stsb --epochs 3; stage2 rte --epochs 4; stage2 sst2 --epochs 1 --max-steps 600) &
(stage2 mrpc --epochs 4; stage2 cola --epochs 3) &
wait
