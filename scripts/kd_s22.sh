#!/usr/bin/env bash
# Session 22: ratio 21 on r21q1 after its 8M-token stage 1 (runs/kd/r21q1/general-8m, scripts/kd_s21.sh
# lane-l, resumed and finished this session). Every run checkpoints and resumes; re-running skips
# finished runs. Runs go to runs/kd/r21q1-8m/.
#   scripts/kd_s22.sh lane-a    RTE with 4 augmented copies, 3 epochs two-phase, seeds 42, 43, 44
#                               (session 21 on the 2M-token student: 57.40 / 53.79 for seeds 42 / 43)
#   scripts/kd_s22.sh lane-b    MRPC with 4 copies (3 epochs), then STS-B with 4 copies and its
#                               "-cont" (prediction terms alone, lr 1e-4, 2 epochs)
# Session 22 ran the two lanes side by side, one thread each.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kd_lib.sh

lane_a() {
  export GROUP=50 S1=general-8m SUFFIX=-8m
  aug r21q1 rte 4 3
  SEED=43 aug r21q1 rte 4 3
  SEED=44 aug r21q1 rte 4 3
}
lane_b() {
  export GROUP=50 S1=general-8m SUFFIX=-8m
  aug r21q1 mrpc 4 3
  aug r21q1 stsb 4 3
  cont r21q1-8m stsb 4 2
}

main() {
  case "${1:-}" in
    lane-a) lane_a ;;
    lane-b) lane_b ;;
    *) echo "usage: $0 lane-a|lane-b" >&2; exit 2 ;;
  esac
}

main "$@"; exit
