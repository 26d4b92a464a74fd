#!/usr/bin/env bash
# Session 21: RTE at ratio 8 with the budget that met MRPC and STS-B (8 augmented copies, 4 epochs
# two-phase) on the session-20 student (runs/kd/r8e/general-8m, from scripts/kd_s20.sh stage1).
# Every run checkpoints and resumes; re-running skips finished runs.
#   scripts/kd_s21.sh lane-a    runs/kd/r8e-8m/rte-aug8
#   scripts/kd_s21.sh lane-b    ratio 21 as session 19's r21p, word embedding fitted weighted by token
#                               frequency (compress --frequency-weighted): runs/kd/r21f/general (2M
#                               tokens), then RTE and MRPC stage 2 in runs/kd/r21f-s2/
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kd_lib.sh

lane_a() { export GROUP=50; S1=general-8m SUFFIX=-8m aug r8e rte 8 4; }

lane_b() {
  stage1_2m r21f --attention 192x48 --ffn 8x4 --embedding-rank 14 --position-embedding-rank 16 --frequency-weighted
  export GROUP=50
  std_stage2 rte $R/r21f/general $R/r21f-s2/rte
  S1=general SUFFIX=-s2 aug r21f rte 4 3
  std_stage2 mrpc $R/r21f/general $R/r21f-s2/mrpc
}

main() {
  case "${1:-}" in
    lane-a) lane_a ;;
    lane-b) lane_b ;;
    *) echo "usage: $0 lane-a|lane-b" >&2; exit 2 ;;
  esac
}

main "$@"; exit
