#!/usr/bin/env bash
# Session 30: the two cases of issue 6 still short, on the chains scripts/kd_s29.sh rebuilt.
# Every run checkpoints and resumes; re-running skips finished runs.
#   scripts/kd_s30.sh lane-a     (after r21q1's 16M-token stage 1) RTE at ratio 8, session 23's recipe
#                                (4 copies, 3 epochs, two-phase; seed 42: 57.04 / 52.71 / 52.71) with the
#                                prediction phase's soft cross-entropy at temperature 0.25 in place of 1:
#                                the RTE teacher's margins are small (median |logit difference| 0.31,
#                                tools/agreement.py), so at T = 1 its soft labels are near 50/50 and the
#                                prediction phase pulls the student to the majority class; at T = 0.25 they
#                                carry the teacher's decisions. runs/kd/r8q-8m/rte-aug4-T025
#   scripts/kd_s30.sh lane-b     RTE at ratio 8, the same recipe with the prediction phase's logits matched by
#                                their mean squared error (--logit-loss mse, new this session; Kim et al.
#                                2021): it asks for the teacher's margins themselves, however small.
#                                Binary of this session (runs/bin/kbert-s30). runs/kd/r8q-8m/rte-aug4-mse
#   scripts/kd_s30.sh lane-c     lane-b without the labels (--w-supervised 0): in lane-b's prediction phase the
#                                logit MSE was ~0.013 against the supervised cross-entropy's ~0.71, so the
#                                labels of RTE's 2,490 training pairs, not the teacher, steered the student.
#                                runs/kd/r8q-8m/rte-aug4-mse-nolabels
#   scripts/kd_s30.sh lane-f     lane-c's student (best at its epoch-2 end) trained on with the prediction
#                                terms alone, MSE logits without labels, lr 1e-4, 2 epochs (the "-cont"
#                                recipe): runs/kd/r8q-8m/rte-aug4-mse-nolabels-cont
#   scripts/kd_s30.sh lane-e     lane-c on seeds 43 and 44: runs/kd/r8q-8m/rte-aug4-seed4[34]-mse-nolabels
#   scripts/kd_s30.sh lane-g42   lane-c with 4 epochs (two intermediate, two prediction), seed 42 / 43:
#   scripts/kd_s30.sh lane-g43    runs/kd/r8q-8m/rte-aug4[-seed43]-e4-mse-nolabels
#   scripts/kd_s30.sh lane-d42   (after r21q1's 16M stage 1 and STS-B's ratio-8 assistant, kd_s29.sh lane-b
#   scripts/kd_s30.sh lane-d43    and lane-c) STS-B at ratio 21, session 28's corpus-pairs recipe, one seed
#                                per lane so that the two run side by side (kd_s29.sh lane-d runs them in
#                                turn, into the same folders)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kd_lib.sh

lane_a() {
  wait_for $R/r21q1/general-16m/DONE
  TEMP=0.25 TAG=-T025 rte8 3
}
lane_b() { LOGIT=mse TAG=-mse rte8 3; }
lane_c() { LOGIT=mse WSUP=0 TAG=-mse-nolabels rte8 3; }
lane_e() {
  LOGIT=mse WSUP=0 TAG=-mse-nolabels SEED=43 rte8 3
  LOGIT=mse WSUP=0 TAG=-mse-nolabels SEED=44 rte8 3
}
lane_f() { GROUP=50 IN=rte-aug4-mse-nolabels LOGIT=mse WSUP=0 cont r8q-8m rte 4 2; }
lane_g42() { LOGIT=mse WSUP=0 TAG=-e4-mse-nolabels rte8 4; }
lane_g43() { LOGIT=mse WSUP=0 TAG=-e4-mse-nolabels SEED=43 rte8 4; }

lane_d42() {
  wait_for $R/r21q1/general-16m/DONE; wait_for $R/r8q-8m/stsb-aug8/DONE
  stsb21 ""
}
lane_d43() {
  wait_for $R/r21q1/general-16m/DONE; wait_for $R/r8q-8m/stsb-aug8/DONE
  stsb21 43
}

main() { run_lane "$@"; }

main "$@"; exit
