#!/usr/bin/env bash
# Session 26: real sentence pairs of other GLUE tasks as transfer data (kbert distill --transfer).
# STS-B at ratio 21 rose with every doubling of its teacher-labeled augmented copies (4, 8, 16
# copies: 73.0, 78.5, 80.0 from the teacher assistant) and plateaued at ~80 with longer stage 1;
# these runs add MRPC's, RTE's and WNLI's training pairs (6,793, without their labels) to the
# transfer set. Every run checkpoints and resumes; re-running skips finished runs.
#   scripts/kd_s26.sh lane-a   STS-B at ratio 21 from the assistant (r8e-8m/stsb-aug8) on
#                              r21q1-16m, 8 copies of STS-B + transfer pairs, 3 epochs, seed 42
#                              (about the examples per epoch of the 16-copy run without them)
#   scripts/kd_s26.sh lane-b   RTE at ratio 8 (r8q-8m) with MRPC's, STS-B's and WNLI's pairs, 4
#                              copies, 3 epochs, dev every 100 steps (session 26 stopped it at step
#                              3,000 of 5,880, in the prediction phase, where RTE's dev falls)
#   scripts/kd_s26.sh lane-c   lane-a's student trained on with the prediction terms alone (the
#                              "-cont" recipe: lr 1e-4, 2 epochs, the same transfer set, from the
#                              assistant): runs/kd/r21q1-16m/stsb-aug8-tr-ta-cont
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kd_lib.sh

lane_a() {
  GROUP=50 TEACHER=runs/kd/r8e-8m/stsb-aug8 TRANSFER=mrpc,rte,wnli S1=general-16m SUFFIX=-16m TAG=-ta aug r21q1 stsb 8 3
}
lane_b() {
  GROUP=50 TRANSFER=mrpc,stsb,wnli EVAL=100 S1=general-8m SUFFIX=-8m aug r8q rte 4 3
}
lane_c() {
  GROUP=50 TEACHER=runs/kd/r8e-8m/stsb-aug8 TRANSFER=mrpc,rte,wnli LR=1e-4 IN=stsb-aug8-tr-ta cont r21q1-16m stsb 8 2
}

main() { run_lane "$@"; }

main "$@"; exit
