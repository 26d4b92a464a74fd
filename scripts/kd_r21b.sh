#!/usr/bin/env bash
# Session 16: a second ratio-21 plan with the same parameter count (1,075,160, 21.13x) as the
# planner's r21 but factor shapes of higher rank: attention A 96x48 (x B 4x8: rank <= 192, against
# 48 for r21's A 192x24 x B 2x16) and FFN A 8x4 (x B 192x96: full rank 384, against 192 for
# 16x2 x 96x192). At this ratio every candidate's nearest-Kronecker error is ~0.98, so the error
# does not tell the shapes apart; the rank bound min(m1,n1)*min(m2,n2) caps what training can reach.
# Stage 1 on 8M Wikipedia tokens in one run (two threads), then the standard stage-2 recipe of
# scripts/kd_long_stage1.sh on STS-B, MRPC, RTE and SST-2 in two one-thread lanes, to compare with
# runs/kd/r21-8m. Every run checkpoints and resumes; re-running skips finished runs.
#   scripts/kd_r21b.sh
# Results: runs/kd/r21b/general-8m, runs/kd/r21b-8m/<task>
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kd_lib.sh
stage2() { std_stage2 $1 $R/r21b/general-8m $R/r21b-8m/$1; }   # task

main() {
  mkdir -p $R/r21b $R/r21b-8m
  [ -f $R/r21b/init/model.safetensors ] || \
    $K compress --model $M --out $R/r21b/init --attention 96x48 --ffn 8x4 --embedding 32 --threads 2 > $R/r21b/compress.json
  if [ ! -f $R/r21b/general-8m/DONE ]; then
    $K distill --stage general --teacher $M --student $R/r21b/init --out $R/r21b/general-8m --general-tokens 8000000 --epochs 1 \
      --lr 5e-4 --warmup 0.05 --batch-size 32 --max-length 64 --threads ${STAGE1_THREADS:-2} --save-every 100 --resume 2>> $R/r21b/general-8m.log
    touch $R/r21b/general-8m/DONE
  fi
  (stage2 stsb; stage2 rte) &
  (stage2 mrpc; stage2 sst2) &
  wait
}

main "$@"; exit
