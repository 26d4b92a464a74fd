#!/usr/bin/env bash
# Session 32: RTE at ratio 8 with more real pairs in both phases: session 30's 4-epoch recipe
# (4 copies, two-phase, prediction phase's logits matched by MSE, no labels) plus MNLI's 9,815
# matched dev pairs, without labels and unaugmented (--transfer mnli:dev --transfer-augment 0),
# taught by the RTE teacher. Needs runs/kd/r8q/general-8m and runs/finetune/rte (scripts/kd_s31.sh
# lane-a, lane-b). Every run checkpoints and resumes; re-running skips finished runs.
#   scripts/kd_s32.sh lane-m SEED...   one run per seed in turn:
#                               runs/kd/r8q-8m/rte-aug4-tr[-seedN]-e4-mse-nolabels-mnli0 (seed 42 unnamed)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kd_lib.sh

lane_m() { TRANSFER=mnli:dev TRANSFER_AUG=0 LOGIT=mse WSUP=0 TAG=-e4-mse-nolabels-mnli0 rte8_seeds 4 "${SEEDS[@]}"; }

main() { local lane=${1:-}; shift || true; SEEDS=("$@"); run_lane "$lane"; }

main "$@"; exit
