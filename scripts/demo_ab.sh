#!/usr/bin/env bash
# Session 21: the demo's pipeline (SST-2, ratio 8, 300k stage-1 tokens, 600 stage-2 steps) with and
# without --frequency-weighted, reusing the demo's teacher (out/demo/pipeline/teacher, from
# `make demo`), one thread each, one after the other: out/demo-ab/{plain,weighted}/results.json.
# Session 23: also the tuned8 preset (r8q's recipe, the word embedding's rank filling ratio 8),
# out/demo-ab/tuned8.
set -euo pipefail
cd "$(dirname "$0")/.."
K=${KBERT:-.build/release/kbert}
M=models/all-MiniLM-L6-v2
T=out/demo/pipeline/teacher
[ -f $T/model.safetensors ] || { echo "no demo teacher $T: run make demo first" >&2; exit 1; }
run() {  # name extra-options
  local name=$1; shift
  [ -f out/demo-ab/$name/results.json ] && return 0
  $K pipeline --model $M --task sst2 --out out/demo-ab/$name --ratio 8 --teacher $T --general-tokens 300000 \
    --steps 600 --batch-size 32 --max-length 64 --threads 1 "$@" 2> out/demo-ab/$name.log
}
main() {
  mkdir -p out/demo-ab
  run plain
  run weighted --frequency-weighted
  run tuned8 --preset tuned8
  for n in plain weighted tuned8; do
    python3 -c "import json,sys; r=json.load(open('out/demo-ab/$n/results.json')); print('$n', r['plan'], 'student', r['student']['metrics'], 'retained %.2f%%' % r['retention_percent'])"
  done
}
main "$@"; exit
