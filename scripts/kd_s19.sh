#!/usr/bin/env bash
# Session 19: the augmented recipes (README "Distillation results": 4 teacher-labeled copies of
# every training example, 3 epochs of the two-phase schedule, then the "-cont" recipe: the
# prediction terms alone at lr 1e-4) on the ratio-8 student with the rank-48 SVD word embedding
# (runs/kd/r8e/general from scripts/kd_embrank.sh, 2M-token stage 1), whose standard recipe kept
# 92.7% of STS-B against 72.2% for the paper's embedding form. Two one-thread lanes; every run
# checkpoints and resumes, re-running skips finished runs.
#   scripts/kd_s19.sh [lane-a|lane-b]   results: runs/kd/r8e-s2/<task>-aug4[-cont]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kd_lib.sh

lane_a() { S1=general SUFFIX=-s2 aug r8e stsb 4 3; cont r8e-s2 stsb 4 2; }
lane_b() { std_stage2 cola $R/r8e/general $R/r8e-s2/cola; S1=general SUFFIX=-s2 aug r8e cola 4 3; cont r8e-s2 cola 4 3; }

# Everything runs from main(), called on the last line (an edit cannot reach a running lane).
main() {
  case "${1:-all}" in
    lane-a) lane_a ;;
    lane-b) lane_b ;;
    all) lane_a & lane_b & wait ;;
    *) echo "usage: $0 [lane-a|lane-b|all]" >&2; exit 2 ;;
  esac
}

main "$@"; exit
