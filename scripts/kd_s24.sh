#!/usr/bin/env bash
# Session 24: after session 23's last runs (scripts/kd_s23.sh lane-h: STS-B at ratio 21 from the
# teacher assistant, then its "-cont"; lane-i: MRPC at ratio 8 on r8q-8m with 8 copies for 4 epochs).
# Every run checkpoints and resumes; re-running skips finished runs.
#   scripts/kd_s24.sh lane-j    STS-B at ratio 21 from the teacher assistant (r8e-8m/stsb-aug8) with
#                               16 augmented copies for 4 epochs (lane-h had 8: 78.48)
#   scripts/kd_s24.sh lane-k    MRPC at ratio 21 from a teacher assistant: r21q1-8m's stage-1 student
#                               distilled from lane-i's ratio-8 MRPC student (r8q-8m/mrpc-aug8) with
#                               8 copies for 4 epochs, then its "-cont"
#   scripts/kd_s24.sh lane-a|b|e  RTE at ratio 8 on r8q-8m, seeds 42 / 43 / 44 (as scripts/kd_s23.sh)
#   scripts/kd_s24.sh lane-m    lane-k's first half with seed 43 on two threads (a second seed of MRPC at
#                               ratio 21 from the assistant)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kd_lib.sh

lane_j() {
  export GROUP=50 TEACHER=runs/kd/r8e-8m/stsb-aug8
  S1=general-8m SUFFIX=-8m TAG=-ta aug r21q1 stsb 16 4
}
lane_k() {
  export GROUP=50 TEACHER=runs/kd/r8q-8m/mrpc-aug8
  [ -f $TEACHER/DONE ] || { echo "no teacher assistant $TEACHER (scripts/kd_s23.sh lane-i)" >&2; return 1; }
  S1=general-8m SUFFIX=-8m TAG=-ta aug r21q1 mrpc 8 4
  IN=mrpc-aug8-ta cont r21q1-8m mrpc 8 2
}
lane_m() {
  export GROUP=50 TEACHER=runs/kd/r8q-8m/mrpc-aug8
  S1=general-8m SUFFIX=-8m TAG=-ta SEED=43 THREADS=2 aug r21q1 mrpc 8 4
}
lane_a() { GROUP=50 S1=general-8m SUFFIX=-8m aug r8q rte 4 3; }
lane_b() { GROUP=50 S1=general-8m SUFFIX=-8m SEED=43 aug r8q rte 4 3; }
lane_e() { GROUP=50 S1=general-8m SUFFIX=-8m SEED=44 aug r8q rte 4 3; }

main() { run_lane "$@"; }

main "$@"; exit
