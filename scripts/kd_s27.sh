#!/usr/bin/env bash
# Session 27: the STS-B ratio-21 transfer recipe of session 26 (scripts/kd_s26.sh lane-a: 80.96 with
# seed 42) on a second seed, so the table's seed-group mean is not one run's draw. Every run
# checkpoints and resumes; re-running skips finished runs.
#   scripts/kd_s27.sh lane-a   STS-B at ratio 21 from the assistant (r8e-8m/stsb-aug8) on r21q1-16m,
#                              8 copies + MRPC/RTE/WNLI pairs, 3 epochs, seed 43:
#                              runs/kd/r21q1-16m/stsb-aug8-tr-seed43-ta
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kd_lib.sh

lane_a() {
  GROUP=50 TEACHER=runs/kd/r8e-8m/stsb-aug8 TRANSFER=mrpc,rte,wnli S1=general-16m SUFFIX=-16m TAG=-ta SEED=43 aug r21q1 stsb 8 3
}

main() { run_lane "$@"; }

main "$@"; exit
