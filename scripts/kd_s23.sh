#!/usr/bin/env bash
# Session 23: after session 22's last two runs (scripts/kd_s22.sh lane-g: MRPC at ratio 21 with
# 8 copies for 4 epochs on r21q1-8m; lane-h: r8q's 8M-token stage 1). Every run checkpoints and
# resumes; re-running skips finished runs.
#   scripts/kd_s23.sh lane-a    RTE at ratio 8 on r8q after its 8M-token stage 1 (runs/kd/r8q-8m/),
#                               4 augmented copies, 3 epochs two-phase, seed 42
#   scripts/kd_s23.sh lane-b    the same with seed 43
#   scripts/kd_s23.sh lane-e    the same with seed 44
#   scripts/kd_s23.sh lane-c    MRPC at ratio 21: lane-g's 8-copy student trained on with the prediction
#                               terms alone (the "-cont" recipe: lr 1e-4, 2 epochs)
#   scripts/kd_s23.sh lane-d    STS-B at ratio 21 from a teacher assistant: r21q1-8m's stage-1 student
#                               distilled from the best ratio-8 STS-B student (r8e-8m/stsb-aug8, dev
#                               85.38 against the dense teacher's 84.99) instead of the dense teacher,
#                               4 copies, 3 epochs (as r21q1-8m/stsb-aug4: 64.22), then its "-cont"
#   scripts/kd_s23.sh lane-f    STS-B at ratio 21 with 8 copies for 4 epochs on r21q1-8m (the recipe that
#                               met STS-B at ratio 8), then its "-cont"
#   scripts/kd_s23.sh lane-h    lane-d's teacher assistant with 8 copies for 4 epochs, then its "-cont"
#   scripts/kd_s23.sh lane-i    MRPC at ratio 8 on r8q-8m with 8 copies for 4 epochs: a ratio-8 MRPC student
#                               on the tuned8 family, and the assistant for MRPC at ratio 21
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kd_lib.sh

lane_a() { GROUP=50 S1=general-8m SUFFIX=-8m aug r8q rte 4 3; }
lane_b() { GROUP=50 S1=general-8m SUFFIX=-8m SEED=43 aug r8q rte 4 3; }
lane_e() { GROUP=50 S1=general-8m SUFFIX=-8m SEED=44 aug r8q rte 4 3; }
lane_c() { GROUP=50 cont r21q1-8m mrpc 8 2; }
lane_f() {
  export GROUP=50
  S1=general-8m SUFFIX=-8m aug r21q1 stsb 8 4
  cont r21q1-8m stsb 8 2
}
lane_d() {
  export GROUP=50 TEACHER=runs/kd/r8e-8m/stsb-aug8
  S1=general-8m SUFFIX=-8m TAG=-ta aug r21q1 stsb 4 3
  IN=stsb-aug4-ta cont r21q1-8m stsb 4 2
}
lane_h() {
  export GROUP=50 TEACHER=runs/kd/r8e-8m/stsb-aug8
  S1=general-8m SUFFIX=-8m TAG=-ta aug r21q1 stsb 8 4
  IN=stsb-aug8-ta cont r21q1-8m stsb 8 2
}
lane_i() { GROUP=50 S1=general-8m SUFFIX=-8m aug r8q mrpc 8 4; }

main() { run_lane "$@"; }

main "$@"; exit
