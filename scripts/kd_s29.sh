#!/usr/bin/env bash
# Session 29: a new machine (AMD EPYC family 26, Zen 5) without runs/: the chain toward RTE at
# ratio 8 rebuilt on one core. Every run checkpoints and resumes; re-running skips finished runs.
#   scripts/kd_s29.sh lane-a   the RTE and STS-B teachers (TASKS="rte stsb" scripts/finetune_all.sh, seed 42),
#                              r8q's stage 1 (2M tokens, then 6M more on one thread: runs/kd/r8q/general-8m),
#                              then RTE at ratio 8 with the intermediate terms alone and 30,000 corpus
#                              pairs (session 28's lane-i): runs/kd/r8q-8m/rte-aug4-c30k-inter-ev100
#   scripts/kd_s29.sh lane-b   r21q1's stage 1 (2M, 8M, then 16M tokens, one thread): runs/kd/r21q1/general-16m,
#                              the start of STS-B's ratio-21 chain (README "Recipes")
#   scripts/kd_s29.sh lane-e   (after lane-a's r8q stage 1) RTE at ratio 8, intermediate terms alone with
#                              twice the copies for two epochs (8 copies: 22,410 examples per epoch, the
#                              first epoch end at half the schedule; session 25's best recipe, 4 copies
#                              for 3 epochs, peaked at its first epoch end): runs/kd/r8q-8m/rte-aug8-inter-ev100
#   scripts/kd_s29.sh lane-c   (after lane-a's r8q stage 1) STS-B's teacher assistant: ratio 8, 8 copies,
#                              4 epochs (session 20's r8e recipe on r8q, whose word embedding has rank 56
#                              against r8e's 48): runs/kd/r8q-8m/stsb-aug8
#   scripts/kd_s29.sh lane-d   (after lanes b and c) STS-B at ratio 21, session 28's corpus-pairs recipe
#                              (81.64 with seed 42), seeds 42 and 43, taught by lane-c's assistant:
#                              runs/kd/r21q1-16m/stsb-aug2-tr[-seed43]-c30k-dev-ta (stsb21 in kd_lib.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kd_lib.sh

lane_a() {
  TASKS="rte stsb" KBERT=$K THREADS=1 bash scripts/finetune_all.sh
  stage1_2m r8q "${R8Q_SHAPES[@]}"
  STAGE1_THREADS=1 stage1_8m r8q
  S1=general-8m SUFFIX=-8m PRE=-c30k CORPUS=30000 inter_only r8q rte 4 3
}

lane_b() {
  stage1_2m r21q1 --attention 192x96 --ffn 8x4 --embedding-rank 11 --position-embedding-rank 16 --pooler-rank 8 --frequency-weighted
  STAGE1_THREADS=1 stage1_8m r21q1
  STAGE1_THREADS=1 stage1_16m r21q1
}

lane_e() {
  wait_for $R/r8q/general-8m/DONE
  S1=general-8m SUFFIX=-8m inter_only r8q rte 8 2
}

lane_c() {
  wait_for $R/r8q/general-8m/DONE; wait_for runs/finetune/stsb/DONE
  GROUP=50 S1=general-8m SUFFIX=-8m aug r8q stsb 8 4
}

lane_d() {
  wait_for $R/r21q1/general-16m/DONE; wait_for $R/r8q-8m/stsb-aug8/DONE
  stsb21 ""
  stsb21 43
}

main() { run_lane "$@"; }

main "$@"; exit
