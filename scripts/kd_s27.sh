#!/usr/bin/env bash
# Session 27: the STS-B ratio-21 transfer recipe of session 26 (scripts/kd_s26.sh lane-a: 80.96 with
# seed 42) on a second seed, so the table's seed-group mean is not one run's draw. Every run
# checkpoints and resumes; re-running skips finished runs.
#   scripts/kd_s27.sh lane-a   STS-B at ratio 21 from the assistant (r8e-8m/stsb-aug8) on r21q1-16m,
#                              8 copies + MRPC/RTE/WNLI pairs, 3 epochs, seed 43:
#                              runs/kd/r21q1-16m/stsb-aug8-tr-seed43-ta
#   scripts/kd_s27.sh lane-b   the same with 3.2x the real pairs: MNLI's and QNLI's dev pairs too
#                              (`--transfer ...,mnli:dev,qnli:dev`; 9,815 + 5,463, no labels; those
#                              tasks have only dev sets here) and 3 copies, so an epoch holds about
#                              as many examples as lane-a's (111,280 vs 112,914): more real pairs in
#                              place of augmented copies. Seed 42: runs/kd/r21q1-16m/stsb-aug3-tr-dev-ta
#   scripts/kd_s27.sh lane-c   RTE at ratio 8 (r8q-8m) with every other pair set: MNLI's and QNLI's
#                              dev pairs (entailment pairs, RTE's own form) and MRPC's, STS-B's and
#                              WNLI's training pairs, 2 copies, 3 epochs, dev every 200 steps:
#                              runs/kd/r8q-8m/rte-aug2-tr-ev200-nli (27,820 real pairs, 83,460 per epoch)
#   scripts/kd_s27.sh lane-d   lane-b on seed 43: runs/kd/r21q1-16m/stsb-aug3-tr-seed43-dev-ta
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kd_lib.sh

lane_a() {
  GROUP=50 TEACHER=runs/kd/r8e-8m/stsb-aug8 TRANSFER=mrpc,rte,wnli S1=general-16m SUFFIX=-16m TAG=-ta SEED=43 aug r21q1 stsb 8 3
}

lane_b() {
  GROUP=50 TEACHER=runs/kd/r8e-8m/stsb-aug8 TRANSFER=mrpc,rte,wnli,mnli:dev,qnli:dev S1=general-16m SUFFIX=-16m TAG=-dev-ta aug r21q1 stsb 3 3
}

lane_c() {
  GROUP=50 TRANSFER=mnli:dev,qnli:dev,mrpc,stsb,wnli EVAL=200 S1=general-8m SUFFIX=-8m TAG=-nli aug r8q rte 2 3
}

lane_d() {
  GROUP=50 TEACHER=runs/kd/r8e-8m/stsb-aug8 TRANSFER=mrpc,rte,wnli,mnli:dev,qnli:dev S1=general-16m SUFFIX=-16m TAG=-dev-ta SEED=43 aug r21q1 stsb 3 3
}

main() { run_lane "$@"; }

main "$@"; exit
