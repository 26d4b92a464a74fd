#!/usr/bin/env bash
# Session 21: RTE at ratio 8 with the budget that met MRPC and STS-B (8 augmented copies, 4 epochs
# two-phase) on the session-20 student (runs/kd/r8e/general-8m, from scripts/kd_s20.sh stage1).
# Every run checkpoints and resumes; re-running skips finished runs.
#   scripts/kd_s21.sh lane-a    runs/kd/r8e-8m/rte-aug8 (session 21 stopped it after epoch 2)
#   scripts/kd_s21.sh lane-b    ratio 21 as session 19's r21p, word embedding fitted weighted by token
#                               frequency (compress --frequency-weighted): runs/kd/r21f/general (2M
#                               tokens), then RTE and MRPC stage 2 in runs/kd/r21f-s2/ (session 21 ran
#                               its stage 1 only)
#   scripts/kd_s21.sh lane-e    RTE: session 20's rte-aug4 (best after its intermediate phase, 56.68)
#                               trained on with the prediction terms alone ("-cont", lr 1e-4, 2 epochs)
#   scripts/kd_s21.sh lane-f    the A/B of --frequency-weighted at ratio 8: r8e's shapes with the
#                               weighted rank-48 embedding (r8f), 2M-token stage 1, then the standard
#                               STS-B stage 2 with grouped batches (r8e: runs/kd/r8e-s2/stsb-g50, 78.32)
#   scripts/kd_s21.sh lane-g    RTE at ratio 21 on r21q1 with 4 augmented copies (3 epochs two-phase)
#   scripts/kd_s21.sh lane-j    lane-g's run again with seed 43 (augmentation, shuffling, dropout)
#   scripts/kd_s21.sh lane-k    lane-i's STS-B student trained on with the prediction terms alone
#                               ("-cont", lr 1e-4, 2 epochs)
#   scripts/kd_s21.sh lane-h|lane-i   MRPC / STS-B at ratio 21 on r21q1 with 4 copies (3 epochs)
#   scripts/kd_s21.sh lane-c|lane-d   ratio 21 with the pooler at rank 8 (compress --pooler-rank 8),
#                               the position embedding at rank 16, the word embedding at rank 11
#                               frequency-weighted, and the ~141k freed parameters in the encoder:
#                               twice r21p's attention (r21q1: A 192x96, B 2x4) or twice its FFN
#                               (r21q2: A 4x4); 2M-token stage 1, then the standard stage 2 on STS-B,
#                               MRPC and RTE in runs/kd/<plan>-s2/ (session 21 stopped lane-d after
#                               r21q2's stage 1, held-out loss 7.23 against r21q1's 6.62)
#   scripts/kd_s21.sh lane-l    r21q1's 8M-token stage 1 (6M more tokens, two threads):
#                               runs/kd/r21q1/general-8m (started at the end of session 21; resumes)
# Session 21 ran two or three lanes at a time, one thread each.
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

r21q() {  # plan attention ffn
  stage1_2m $1 --attention $2 --ffn $3 --embedding-rank 11 --position-embedding-rank 16 --pooler-rank 8 --frequency-weighted
  export GROUP=50
  for t in stsb mrpc rte; do std_stage2 $t $R/$1/general $R/$1-s2/$t; done
}
lane_f() {
  stage1_2m r8f --attention 192x192 --ffn 8x4 --embedding-rank 48 --frequency-weighted
  GROUP=50 std_stage2 stsb $R/r8f/general $R/r8f-s2/stsb-g50
}
lane_g() { GROUP=50 S1=general SUFFIX=-s2 aug r21q1 rte 4 3; }
lane_h() { GROUP=50 S1=general SUFFIX=-s2 aug r21q1 mrpc 4 3; }
lane_i() { GROUP=50 S1=general SUFFIX=-s2 aug r21q1 stsb 4 3; }
lane_j() {
  local out=$R/r21q1-s2/rte-aug4-seed43
  [ -f $out/DONE ] && return 0
  $K distill --stage task --task rte --teacher runs/finetune/rte --student $R/r21q1/general --out $out --augment 4 --epochs 3 \
    --lr 3e-4 --schedule two-phase --batch-size 32 --max-length 128 --threads 1 --save-every 200 --resume \
    --group-by-length 50 --seed 43 2>> $out.log && touch $out/DONE
}
lane_k() { GROUP=50 cont r21q1-s2 stsb 4 2; }
lane_l() { stage1_8m r21q1; }
lane_e() { GROUP=50 cont r8e-8m rte 4 2; }
lane_c() { r21q r21q1 192x96 8x4; }
lane_d() { r21q r21q2 192x48 4x4; }

main() { run_lane "$@"; }

main "$@"; exit
