#!/usr/bin/env bash
# Session 29: a new machine (AMD EPYC family 26, Zen 5) without runs/: the chain toward RTE at
# ratio 8 rebuilt on one core. Every run checkpoints and resumes; re-running skips finished runs.
#   scripts/kd_s29.sh lane-a   the RTE and STS-B teachers (scripts/finetune_all.sh's recipe, seed 42),
#                              r8q's stage 1 (2M tokens, then 6M more on one thread: runs/kd/r8q/general-8m),
#                              then RTE at ratio 8 with the intermediate terms alone and 30,000 corpus
#                              pairs (session 28's lane-i): runs/kd/r8q-8m/rte-aug4-c30k-inter-ev100
#   scripts/kd_s29.sh lane-b   r21q1's stage 1 (2M, 8M, then 16M tokens, one thread): runs/kd/r21q1/general-16m,
#                              the start of STS-B's ratio-21 chain (README "Recipes")
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kd_lib.sh

teacher() {  # task epochs
  [ -f runs/finetune/$1/DONE ] && return 0
  $K finetune --model $M --task $1 --out runs/finetune/$1 --epochs $2 --lr 5e-5 --batch-size 32 --max-length 128 \
    --threads 1 --group-by-length 0 --resume 2>> runs/finetune-$1.log \
    && touch runs/finetune/$1/DONE
}

lane_a() {
  mkdir -p runs
  teacher rte 3
  teacher stsb 3
  stage1_2m r8q --attention 192x192 --ffn 8x4 --embedding-rank 56 --position-embedding-rank 16 --pooler-rank 8 --frequency-weighted
  mkdir -p $R/r8q-8m
  STAGE1_THREADS=1 stage1_8m r8q
  S1=general-8m SUFFIX=-8m PRE=-c30k CORPUS=30000 inter_only r8q rte 4 3
}

lane_b() {
  stage1_2m r21q1 --attention 192x96 --ffn 8x4 --embedding-rank 11 --position-embedding-rank 16 --pooler-rank 8 --frequency-weighted
  STAGE1_THREADS=1 stage1_8m r21q1
  STAGE1_THREADS=1 stage1_16m r21q1
}

main() { run_lane "$@"; }

main "$@"; exit
