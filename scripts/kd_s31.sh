#!/usr/bin/env bash
# Session 31: a new machine without runs/ again: RTE at ratio 8 rebuilt, then the 4-epoch recipe of
# session 30 (prediction phase's logits matched by MSE, no labels) on more seeds. Every run checkpoints
# and resumes; re-running skips finished runs.
#   scripts/kd_s31.sh lane-a    r8q's stage 1 (2M tokens, then 6M more: runs/kd/r8q/general-8m), on
#                               $STAGE1_THREADS threads (default 1; a killed run resumes on another count)
#   scripts/kd_s31.sh lane-b    the RTE teacher (TASKS=rte scripts/finetune_all.sh, seed 42, one thread)
#   scripts/kd_s31.sh lane-s SEED...   (after lanes a and b: r8q-8m/DONE, runs/finetune/rte/DONE) the 4-epoch MSE-without-labels recipe on each
#                               seed in turn: runs/kd/r8q-8m/rte-aug4[-seedN]-e4-mse-nolabels (seed 42 unnamed)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kd_lib.sh

lane_a() {
  STAGE1_THREADS=${STAGE1_THREADS:-1}
  stage1_2m r8q "${R8Q_SHAPES[@]}"
  stage1_8m r8q
}
lane_b() { TASKS=rte KBERT=$K THREADS=1 bash scripts/finetune_all.sh; }
lane_s() { LOGIT=mse WSUP=0 TAG=-e4-mse-nolabels rte8_seeds 4 "${SEEDS[@]}"; }

main() { local lane=${1:-}; shift || true; SEEDS=("$@"); run_lane "$lane"; }

main "$@"; exit
