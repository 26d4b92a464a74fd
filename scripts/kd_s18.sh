#!/usr/bin/env bash
# Session 18: the prediction phase of the two-phase stage-2 recipe restarted at its own rate.
# The standard recipe runs the prediction terms alone from mid-schedule at the phase-1 rate
# (~1.7e-4, falling) with AdamW moments from the intermediate phase; on STS-B that drove students
# to a constant output (runs/diag: 59.7 Spearman after phase 1 -> 4.0). --prediction-lr restarts
# the phase at its own peak with fresh moments. Ratio-8 stage-1 student on 2M tokens (as
# scripts/kd_full.sh stage1, two threads), then in two one-thread lanes: STS-B with the standard
# recipe (same-session baseline) and with S2_PLR=3e-5, then MRPC, RTE, CoLA and SST-2 with it.
#   scripts/kd_s18.sh          results: runs/kd/r8-s18/<run>; resumable, finished runs skipped
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kd_lib.sh

main() {
  mkdir -p $R/r8 $R/r8-s18
  [ -f $R/r8/init/model.safetensors ] || \
    $K compress --model $M --out $R/r8/init --attention 192x192 --ffn 8x4 --embedding 8 --threads 2 > $R/r8-compress.txt
  if [ ! -f $R/r8/general/DONE ]; then
    $K distill --stage general --teacher $M --student $R/r8/init --out $R/r8/general --general-tokens 2000000 --epochs 1 \
      --lr 5e-4 --warmup 0.05 --batch-size 32 --max-length 64 --threads 2 --save-every 100 --resume 2>> $R/r8/general.log
    touch $R/r8/general/DONE
  fi
  S=$R/r8/general
  (std_stage2 stsb $S $R/r8-s18/stsb; S2_PLR=3e-5 std_stage2 mrpc $S $R/r8-s18/mrpc-plr3e5; S2_PLR=3e-5 std_stage2 sst2 $S $R/r8-s18/sst2-plr3e5) &
  (S2_PLR=3e-5 std_stage2 stsb $S $R/r8-s18/stsb-plr3e5; S2_PLR=3e-5 std_stage2 rte $S $R/r8-s18/rte-plr3e5; S2_PLR=3e-5 std_stage2 cola $S $R/r8-s18/cola-plr3e5) &
  wait
}

main "$@"; exit
