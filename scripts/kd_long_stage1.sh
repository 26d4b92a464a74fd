#!/usr/bin/env bash
# A longer stage 1 (README "Distillation results", session 13): the 2M-token stage-1 student of
# scripts/kd_full.sh distilled on 6M more Wikipedia tokens (8M in all), then the standard stage-2
# recipe of kd_full.sh on every task, in two one-thread lanes. Every run checkpoints and resumes;
# re-running skips finished runs.
#   scripts/kd_long_stage1.sh [r8|r21]   stage 1 (two threads), then stage 2 (default r8)
# Results: runs/kd/<plan>/general-8m, runs/kd/<plan>-8m/<task>; table (r8): python3 tools/kd_table.py
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kd_lib.sh
stage2() { std_stage2 $1 $R/$P/general-8m $R/$P-8m/$1; }   # task; P is the plan

# Everything runs from main(), called on the last line (bash reads a script as it goes; a function
# is read whole before it runs, so an edit to this file cannot reach a running job).
main() {
  P=${1:-r8}
  case $P in r8|r21) ;; *) echo "usage: $0 [r8|r21]" >&2; exit 2 ;; esac
  [ -f $R/$P/general/model.safetensors ] || { echo "no 2M-token stage-1 student $R/$P/general: run scripts/kd_full.sh stage1" >&2; exit 1; }
  stage1_8m $P || exit 1
  mkdir -p $R/$P-8m
  (stage2 stsb; stage2 rte; stage2 sst2) &
  (stage2 mrpc; stage2 cola) &
  wait
}

main "$@"; exit
