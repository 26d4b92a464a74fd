#!/usr/bin/env bash
# Session 18: the word embedding as its rank-K SVD (--embedding-rank K: Σ_k A_k (V×1) ⊗ B_k (1×H))
# instead of the paper's A^E (V×H/n) ⊗ B^E (1×n), at the same parameter count (+K·H). Ratio 8:
# scripts/kd_full.sh's r8 shapes with K = 48 for n = 8 (runs/kd/r8e); ratio 21: the r21b shapes
# with K = 12 for n = 32 (runs/kd/r21e). Stage 1 on 2M tokens as kd_full.sh (one thread each,
# two lanes), then the standard stage-2 recipe on STS-B, MRPC, SST-2 and RTE. Baselines: the
# ratio-8 student of the same stage-1 budget (runs/kd/r8/general, rebuilt in session 18, and its
# standard runs in runs/kd/r8-s18) and r21b (runs/kd/r21b-8m: 8M tokens, 4x this budget).
#   scripts/kd_embrank.sh      results: runs/kd/<plan>/general, runs/kd/<plan>-s2/<task>
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kd_lib.sh

lane() {  # plan shapes...
  local p=$1
  stage1_2m "$@"
  for t in stsb mrpc sst2 rte; do std_stage2 $t $R/$p/general $R/$p-s2/$t; done
}

main() {
  lane r8e --attention 192x192 --ffn 8x4 --embedding-rank 48 &
  lane r21e --attention 96x48 --ffn 8x4 --embedding-rank 12 &
  wait
}

main "$@"; exit
