#!/usr/bin/env bash
# Stage 2 with augmentation (`kbert distill --augment N`, README "Distillation results"): the
# stage-1 students of scripts/kd_full.sh taught on each task's training set plus N teacher-labeled
# variants of every example (words masked or replaced, Tang et al. 2019). Two lanes of one thread
# each; every run checkpoints every 200 steps and re-running the script resumes killed runs and
# skips finished ones, so the lanes can span sessions. Everything runs from main(), called on the
# last line: bash reads a script as it goes, and in session 14 an edit to this file made a running
# lane go on into another lane's run; a function is read whole before it runs.
#   scripts/kd_augment.sh lane-r8     ratio 8: STS-B (4 copies), MRPC (8 copies, 4 epochs)
#   scripts/kd_augment.sh lane-r8b    ratio 8: CoLA (4 copies), RTE (8 copies, 4 epochs)
#   scripts/kd_augment.sh lane-r21    ratio 21: MRPC, STS-B, CoLA, RTE (4 copies)
#   scripts/kd_augment.sh lane-8m-a   8M-token ratio-21 student: MRPC (4 copies), then the standard
#                                     RTE and SST-2 runs of kd_long_stage1.sh
#   scripts/kd_augment.sh lane-8m-b   8M-token ratio-8 student: CoLA (4 copies), then 3 epochs on
#                                     the prediction terms alone at lr 1e-4 (the "-cont" recipe)
#   scripts/kd_augment.sh lane-8m-c   8M-token ratio-8 student: STS-B (4 copies), then 2 epochs of
#                                     the "-cont" recipe
#   scripts/kd_augment.sh lane-8m-d   8M-token ratio-21 student: the "-cont" recipe (4 copies, 2
#                                     epochs) on its standard RTE run
#   scripts/kd_augment.sh lane-8m-e   the same on the 8M-token ratio-8 student's standard RTE run
#   scripts/kd_augment.sh             the first three lanes in parallel
# Results: runs/kd/<plan>/<task>-aug<N>/eval_results.json (best dev epoch) and log.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kd_lib.sh   # K, R, aug, cont

lane_r8()  { aug r8 stsb 4 3; aug r8 mrpc 8 4; }
lane_r8b() { aug r8 cola 4 3; aug r8 rte 8 4; }
lane_r21() { aug r21 mrpc 4 3; aug r21 stsb 4 3; aug r21 cola 4 3; aug r21 rte 4 4; }
lane_8m_a() { S1=general-8m SUFFIX=-8m aug r21 mrpc 4 3; bash scripts/kd_long_stage1.sh r21; }
lane_8m_b() { S1=general-8m SUFFIX=-8m aug r8 cola 4 3; cont r8-8m cola 4 3; }
lane_8m_c() { S1=general-8m SUFFIX=-8m aug r8 stsb 4 3; cont r8-8m stsb 4 2; }
lane_8m_d() { IN=rte cont r21-8m rte 4 2; }
lane_8m_e() { IN=rte cont r8-8m rte 4 2; }
# Session 16: the ratio-21 STS-B student never left the constant answer under the standard recipe
# (Spearman 0.20); the prediction terms alone at a higher rate, then RTE and CoLA follow-ups
lane_s16_a() { IN=stsb LR=3e-4 TAG=-lr3e-4 cont r21-8m stsb 4 3; IN=rte cont r8-8m rte 4 2; }
lane_s16_b() { IN=cola-aug4-cont LR=5e-5 cont r8 cola 8 2; }
lane_s16_c() { IN=rte LR=3e-4 TAG=-lr3e-4 cont r21-8m rte 8 3; IN=mrpc LR=3e-4 TAG=-lr3e-4 cont r21-8m mrpc 4 3; }

main() {
  case "${1:-all}" in
    lane-r8) lane_r8 ;;
    lane-r8b) lane_r8b ;;
    lane-r21) lane_r21 ;;
    lane-8m-a) lane_8m_a ;;
    lane-8m-b) lane_8m_b ;;
    lane-8m-c) lane_8m_c ;;
    lane-8m-d) lane_8m_d ;;
    lane-8m-e) lane_8m_e ;;
    lane-s16-a) lane_s16_a ;;
    lane-s16-b) lane_s16_b ;;
    lane-s16-c) lane_s16_c ;;
    all) lane_r8 & lane_r8b & lane_r21 & wait ;;
    *) echo "usage: $0 [lane-r8|lane-r8b|lane-r21|lane-8m-a|lane-8m-b|lane-8m-c|lane-8m-d|lane-8m-e|lane-s16-a|lane-s16-b|lane-s16-c|all]" >&2; exit 2 ;;
  esac
}

main "$@"; exit
