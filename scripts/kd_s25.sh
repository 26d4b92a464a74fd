#!/usr/bin/env bash
# Session 25: the ratio-21 student's stage 1 made longer (STS-B at ratio 21 plateaued at ~80 with
# every stage-2 recipe on the 8M-token student: session 24). Every run checkpoints and resumes;
# re-running skips finished runs.
#   scripts/kd_s25.sh lane-a   r21q1's 8M-token stage-1 student trained on for 8M more tokens
#                              (lr 2e-4, 2% warm-up, two threads): runs/kd/r21q1/general-16m; then
#                              STS-B at ratio 21 from the teacher assistant (r8e-8m/stsb-aug8),
#                              16 copies, 3 epochs (session 24's best epoch), seed 42
#   scripts/kd_s25.sh lane-b   the same STS-B run with seed 43 (waits for lane-a's stage 1)
#   scripts/kd_s25.sh lane-c   RTE at ratio 8 with the intermediate terms alone (every seed of
#                              session 24 peaked at the end of the intermediate phase and fell to the
#                              majority class in the prediction phase), 4 copies, 3 epochs, dev every
#                              100 steps: on r8q-8m, then on r8e-8m (waits for lane-a's stage 1, to
#                              keep to two cores). Session 25 ran the r8q-8m run only (best 57.04,
#                              no gain) and gave its core to lane-b.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kd_lib.sh

lane_a() {
  stage1_16m r21q1
  export GROUP=50 TEACHER=runs/kd/r8e-8m/stsb-aug8
  S1=general-16m SUFFIX=-16m TAG=-ta aug r21q1 stsb 16 3
}
lane_b() {
  while [ ! -f $R/r21q1/general-16m/DONE ]; do sleep 60; done
  export GROUP=50 TEACHER=runs/kd/r8e-8m/stsb-aug8
  S1=general-16m SUFFIX=-16m TAG=-ta SEED=43 aug r21q1 stsb 16 3
}

lane_c() {
  while [ ! -f $R/r21q1/general-16m/DONE ]; do sleep 60; done
  S1=general-8m SUFFIX=-8m inter_only r8q rte 4 3
  S1=general-8m SUFFIX=-8m inter_only r8e rte 4 3
}

main() { run_lane "$@"; }

main "$@"; exit
