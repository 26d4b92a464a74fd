#!/usr/bin/env bash
# Session 28: weight averaging (`--ema`, the evaluated and kept model is an exponential moving
# average of the weights) on the two recipes short of the goal. Every run checkpoints and resumes;
# re-running skips finished runs.
#   scripts/kd_s28.sh lane-e   RTE at ratio 8: session 25's best recipe (the intermediate terms
#                              alone, r8q-8m, 4 copies, 3 epochs: 57.04 / 56.32 / 55.23 at the epoch
#                              ends) with --ema 0.999: runs/kd/r8q-8m/rte-aug4-inter-ema-ev100;
#                              then STS-B at ratio 21, session 27's best recipe (81.01, seed 42)
#                              with --ema 0.999: runs/kd/r21q1-16m/stsb-aug3-tr-dev-ta-ema
#   scripts/kd_s28.sh lane-f   (after lane-e's RTE run) STS-B at ratio 21 with 30,000 sentence pairs
#                              from the Wikipedia corpus in place of one augmented copy
#                              (--corpus-transfer 30000, 2 copies: 27,820 x 3 + 30,000 = 113,460
#                              examples per epoch, session 27's best recipe 111,280), seed 42:
#                              runs/kd/r21q1-16m/stsb-aug2-tr-c30k-dev-ta
#   scripts/kd_s28.sh lane-g   lane-f on seed 43: runs/kd/r21q1-16m/stsb-aug2-tr-seed43-c30k-dev-ta
#   scripts/kd_s28.sh lane-h   (next) twice the corpus pairs in place of a second copy: 60,000 pairs,
#                              1 copy (27,820 x 2 + 60,000 = 115,640 per epoch), seed 42:
#                              runs/kd/r21q1-16m/stsb-aug1-tr-c60k-dev-ta
#   scripts/kd_s28.sh lane-i   (next) RTE at ratio 8, session 25's recipe (intermediate terms alone,
#                              4 copies) with 30,000 corpus pairs: runs/kd/r8q-8m/rte-aug4-c30k-inter-ev100
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kd_lib.sh

# Task distillation with the intermediate terms alone and weight averaging (kd_s25.sh's inter_only
# with --ema): plan task copies epochs; S1, SUFFIX, SEED as in aug; dev every $EVAL (default 100).
inter_only_ema() {
  local p=$1 t=$2 n=$3 e=$4 s1=${S1:-general} ev=${EVAL:-100}
  local out=$R/$1${SUFFIX:-}/$2-aug$3-inter-ema${SEED:+-seed$SEED}-ev$ev
  [ -f $out/DONE ] && return 0
  [ -f $R/$p/$s1/model.safetensors ] || { echo "no stage-1 student $R/$p/$s1" >&2; return 1; }
  mkdir -p $(dirname $out)
  $K distill --stage task --task $t --teacher runs/finetune/$t --student $R/$p/$s1 --out $out --augment $n --epochs $e \
    --lr 3e-4 --schedule joint --w-logits 0 --w-supervised 0 --batch-size 32 --max-length 128 --threads 1 --save-every 200 \
    --resume --group-by-length 50 --eval-every $ev --ema ${EMA:-0.999} ${SEED:+--seed $SEED} 2>> $out.log \
    && touch $out/DONE || echo "intermediate-only stage 2 $p $t failed (see $out.log)" >&2
}

lane_e() {
  S1=general-8m SUFFIX=-8m inter_only_ema r8q rte 4 3
  GROUP=50 TEACHER=runs/kd/r8e-8m/stsb-aug8 TRANSFER=mrpc,rte,wnli,mnli:dev,qnli:dev S1=general-16m SUFFIX=-16m TAG=-dev-ta-ema EMA=0.999 \
    aug r21q1 stsb 3 3
}

lane_f() {
  while [ ! -f $R/r8q-8m/rte-aug4-inter-ema-ev100/DONE ]; do sleep 30; done
  GROUP=50 TEACHER=runs/kd/r8e-8m/stsb-aug8 TRANSFER=mrpc,rte,wnli,mnli:dev,qnli:dev CORPUS=30000 S1=general-16m SUFFIX=-16m \
    TAG=-c30k-dev-ta aug r21q1 stsb 2 3
}

lane_g() {
  GROUP=50 TEACHER=runs/kd/r8e-8m/stsb-aug8 TRANSFER=mrpc,rte,wnli,mnli:dev,qnli:dev CORPUS=30000 S1=general-16m SUFFIX=-16m \
    SEED=43 TAG=-c30k-dev-ta aug r21q1 stsb 2 3
}

lane_h() {
  GROUP=50 TEACHER=runs/kd/r8e-8m/stsb-aug8 TRANSFER=mrpc,rte,wnli,mnli:dev,qnli:dev CORPUS=60000 S1=general-16m SUFFIX=-16m \
    TAG=-c60k-dev-ta aug r21q1 stsb 1 3
}

lane_i() {
  local out=$R/r8q-8m/rte-aug4-c30k-inter-ev100
  [ -f $out/DONE ] && return 0
  $K distill --stage task --task rte --teacher runs/finetune/rte --student $R/r8q/general-8m --out $out --augment 4 --epochs 3 \
    --lr 3e-4 --schedule joint --w-logits 0 --w-supervised 0 --batch-size 32 --max-length 128 --threads 1 --save-every 200 \
    --resume --group-by-length 50 --eval-every 100 --corpus-transfer 30000 2>> $out.log \
    && touch $out/DONE || echo "RTE with corpus pairs failed (see $out.log)" >&2
}

main() { run_lane "$@"; }

main "$@"; exit
