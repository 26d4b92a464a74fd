#!/usr/bin/env bash
# Session 22: ratio 21 on r21q1 after its 8M-token stage 1 (runs/kd/r21q1/general-8m, scripts/kd_s21.sh
# lane-l, resumed and finished this session). Every run checkpoints and resumes; re-running skips
# finished runs. Runs go to runs/kd/r21q1-8m/.
#   scripts/kd_s22.sh lane-a    RTE with 4 augmented copies, 3 epochs two-phase, seeds 42, 43, 44
#                               (session 21 on the 2M-token student: 57.40 / 53.79 for seeds 42 / 43)
#   scripts/kd_s22.sh lane-b    MRPC with 4 copies (3 epochs), then STS-B with 4 copies and its
#                               "-cont" (prediction terms alone, lr 1e-4, 2 epochs)
#   scripts/kd_s22.sh lane-c    ratio 8 with r21q1's recipe: the pooler at rank 8, the position embedding
#                               at rank 16, the word embedding frequency-weighted at rank 56 (r8e: 48,
#                               plain) with r8e's encoder shapes (r8q); 2M-token stage 1, then RTE with
#                               4 augmented copies (3 epochs), seeds 42 and 43
#   scripts/kd_s22.sh lane-d    lane-a's seeds 43 and 44 with dev every 50 steps too (--eval-every 50;
#                               the epoch-end scores stay in each run's history)
#   scripts/kd_s22.sh lane-e    lane-c's RTE runs with --eval-every 50
#   scripts/kd_s22.sh lane-f    lane-b after its MRPC run: MRPC's "-cont" (prediction terms alone, lr
#                               1e-4, 2 epochs), then lane-b's STS-B runs
#   scripts/kd_s22.sh lane-g    MRPC at ratio 21 with 8 copies for 4 epochs on r21q1-8m (the budget that
#                               met MRPC at ratio 8; started at the end of session 22, resumes)
#   scripts/kd_s22.sh lane-h    r8q's 8M-token stage 1 (started at the end of session 22, resumes)
# Session 22 ran lanes a, b, c side by side, one thread each, then replaced the rest of a and c
# (after their first run and stage 1) by d and e, and b after its first run by f.
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

lane_c() {
  stage1_2m r8q "${R8Q_SHAPES[@]}"
  export GROUP=50 S1=general SUFFIX=-s2
  aug r8q rte 4 3
  SEED=43 aug r8q rte 4 3
}

lane_d() {
  export GROUP=50 S1=general-8m SUFFIX=-8m EVAL=50
  SEED=43 aug r21q1 rte 4 3
  SEED=44 aug r21q1 rte 4 3
}
lane_e() {
  export GROUP=50 S1=general SUFFIX=-s2 EVAL=50
  aug r8q rte 4 3
  SEED=43 aug r8q rte 4 3
}

lane_f() {
  export GROUP=50 S1=general-8m SUFFIX=-8m
  cont r21q1-8m mrpc 4 2
  aug r21q1 stsb 4 3
  cont r21q1-8m stsb 4 2
}

lane_g() { GROUP=50 S1=general-8m SUFFIX=-8m aug r21q1 mrpc 8 4; }
lane_h() { STAGE1_THREADS=1 stage1_8m r8q; }

main() { run_lane "$@"; }

main "$@"; exit
