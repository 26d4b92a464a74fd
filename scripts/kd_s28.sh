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

lane_e() {
  S1=general-8m SUFFIX=-8m POST=-ema EMA=0.999 inter_only r8q rte 4 3
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
  S1=general-8m SUFFIX=-8m PRE=-c30k CORPUS=30000 inter_only r8q rte 4 3
}

main() { run_lane "$@"; }

main "$@"; exit
