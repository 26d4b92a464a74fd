#!/usr/bin/env bash
# Stage 2 with augmentation (`kbert distill --augment N`, README "Distillation results"): the
# stage-1 students of scripts/kd_full.sh taught on each task's training set plus N teacher-labeled
# variants of every example (words masked or replaced, Tang et al. 2019). Two lanes of one thread
# each; every run checkpoints every 200 steps and re-running the script resumes killed runs and
# skips finished ones, so the lanes can span sessions.
#   scripts/kd_augment.sh lane-r8     ratio 8: STS-B (4 copies), MRPC (8 copies, 4 epochs)
#   scripts/kd_augment.sh lane-r8b    ratio 8: CoLA (4 copies), RTE (8 copies, 4 epochs)
#   scripts/kd_augment.sh lane-r21    ratio 21: MRPC, STS-B, CoLA, RTE (4 copies)
#   scripts/kd_augment.sh             both lanes in parallel
# Results: runs/kd/<plan>/<task>-aug<N>/eval_results.json (best dev epoch) and log.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
K=${KBERT:-.build/release/kbert}
R=runs/kd

# One augmented stage-2 run: plan task copies epochs
aug() {
  local p=$1 t=$2 n=$3 e=$4 out=$R/$1/$2-aug$3
  [ -f $out/DONE ] && return 0
  [ -f $R/$p/general/model.safetensors ] || { echo "no stage-1 student $R/$p/general: run scripts/kd_full.sh stage1" >&2; return 1; }
  $K distill --stage task --task $t --teacher runs/finetune/$t --student $R/$p/general --out $out --augment $n --epochs $e \
    --lr 3e-4 --schedule two-phase --batch-size 32 --max-length 128 --threads 1 --resume 2>> $out.log \
    && touch $out/DONE || echo "augmented stage 2 $p $t failed (see $out.log)" >&2
}

lane_r8()  { aug r8 stsb 4 3; aug r8 mrpc 8 4; }
lane_r8b() { aug r8 cola 4 3; aug r8 rte 8 4; }
lane_r21() { aug r21 mrpc 4 3; aug r21 stsb 4 3; aug r21 cola 4 3; aug r21 rte 4 4; }

case "${1:-all}" in
  lane-r8) lane_r8 ;;
  lane-r8b) lane_r8b ;;
  lane-r21) lane_r21 ;;
  all) lane_r8 & lane_r8b & lane_r21 & wait ;;
  *) echo "usage: $0 [lane-r8|lane-r8b|lane-r21|all]" >&2; exit 2 ;;
esac
