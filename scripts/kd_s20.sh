#!/usr/bin/env bash
# Session 20: the ratio-8 student with the rank-48 SVD word embedding (r8e, scripts/kd_embrank.sh)
# given the 8M-token stage 1 that lifted every task of the paper-form ratio-8 student in session 13
# (README "Distillation results"), then the best stage-2 recipes per task on it. Every run
# checkpoints and resumes; re-running skips finished runs.
#   scripts/kd_s20.sh stage1        runs/kd/r8e/general (2M tokens), then runs/kd/r8e/general-8m
#   scripts/kd_s20.sh lane-a|...|lane-e stage 2 on runs/kd/r8e/general-8m: runs/kd/r8e-8m/<run>
#   scripts/kd_s20.sh ab            the grouping A/B on the 2M-token student
# Session 20 ran stage1, ab, lane-a and lane-b up to their "-cont" runs (lane-a's RTE run is
# lane-d's; lane-b's closing standard STS-B run was not run), lane-c, lane-d and lane-e, two at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kd_lib.sh

stage1() {
  stage1_2m r8e --attention 192x192 --ffn 8x4 --embedding-rank 48
  stage1_8m r8e
}
# Stage 2 on the 8M-token student, batches grouped by length (GROUP=50: ~2x the examples per
# second of plain shuffled batches on these tasks): S1/SUFFIX steer kd_lib's aug() to
# runs/kd/r8e-8m/<task>-aug<n>.
lane_a() {
  export GROUP=50
  S1=general-8m SUFFIX=-8m aug r8e stsb 4 3; cont r8e-8m stsb 4 2
  S1=general-8m SUFFIX=-8m aug r8e rte 4 3
}
lane_b() {
  export GROUP=50
  std_stage2 rte $R/r8e/general-8m $R/r8e-8m/rte
  S1=general-8m SUFFIX=-8m aug r8e cola 4 3; cont r8e-8m cola 4 3
  std_stage2 stsb $R/r8e/general-8m $R/r8e-8m/stsb
}
# STS-B with 8 copies for 4 epochs, the budget that took MRPC to the goal in session 12.
lane_c() { export GROUP=50; S1=general-8m SUFFIX=-8m aug r8e stsb 8 4; }
# RTE: 4 copies (two-phase), and the paper's joint schedule with the standard budget.
lane_d() {
  export GROUP=50
  S1=general-8m SUFFIX=-8m aug r8e rte 4 3
}
lane_e() { GROUP=50 S2_SCHEDULE=joint std_stage2 rte $R/r8e/general-8m $R/r8e-8m/rte-joint; }
# A/B of length grouping: the standard STS-B recipe on the 2M-token r8e student (session 18
# without grouping: Spearman 78.76).
ab() { GROUP=50 std_stage2 stsb $R/r8e/general $R/r8e-s2/stsb-g50; }

main() {
  case "${1:-}" in
    stage1) stage1 ;;
    lane-a) lane_a ;;
    lane-b) lane_b ;;
    lane-c) lane_c ;;
    lane-d) lane_d ;;
    lane-e) lane_e ;;
    ab) ab ;;
    *) echo "usage: $0 stage1|lane-a|lane-b|lane-c|lane-d|lane-e|ab" >&2; exit 2 ;;
  esac
}

main "$@"; exit
