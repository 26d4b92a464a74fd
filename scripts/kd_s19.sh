#!/usr/bin/env bash
# Session 19: the augmented recipes (README "Distillation results": 4 teacher-labeled copies of
# every training example, 3 epochs of the two-phase schedule, then the "-cont" recipe: the
# prediction terms alone at lr 1e-4) on the ratio-8 student with the rank-48 SVD word embedding
# (runs/kd/r8e/general from scripts/kd_embrank.sh, 2M-token stage 1), whose standard recipe kept
# 92.7% of STS-B against 72.2% for the paper's embedding form. Two one-thread lanes; every run
# checkpoints and resumes, re-running skips finished runs.
#   scripts/kd_s19.sh [lane-a|lane-b]   results: runs/kd/r8e-s2/<task>-aug4[-cont]
#   scripts/kd_s19.sh lane-c            ratio 21, position embedding factored: runs/kd/r21p{,-s2}
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kd_lib.sh

lane_a() { S1=general SUFFIX=-s2 aug r8e stsb 4 3; cont r8e-s2 stsb 4 2; }
# Ratio 21 with the position embedding as its rank-16 SVD (relative error 0.15 on MiniLM, against
# 0.93-0.98 for every other factored matrix): the 182k parameters it frees double the attention
# budget (A 192x48 against r21e's 96x48) at the same ratio (21.24x; r21e 21.04x).
lane_c() {
  stage1_2m r21p --attention 192x48 --ffn 8x4 --embedding-rank 14 --position-embedding-rank 16
  for t in stsb mrpc; do std_stage2 $t $R/r21p/general $R/r21p-s2/$t; done
}
lane_b() { std_stage2 cola $R/r8e/general $R/r8e-s2/cola; S1=general SUFFIX=-s2 aug r8e cola 4 3; cont r8e-s2 cola 4 3; }

# Everything runs from main(), called on the last line (an edit cannot reach a running lane).
main() {
  case "${1:-all}" in
    lane-a) lane_a ;;
    lane-b) lane_b ;;
    lane-c) lane_c ;;
    all) lane_a & lane_b & wait ;;
    *) echo "usage: $0 [lane-a|lane-b|lane-c|all]" >&2; exit 2 ;;
  esac
}

main "$@"; exit
