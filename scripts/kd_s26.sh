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

# plan-dir stage-1 task copies epochs transfer-tasks teacher [extra options]: OUT = R/plan-dir/TASK-augN-tr[-seedS][-evE]
transfer_run() {
  local d=$1 s1=$2 t=$3 n=$4 e=$5 tr=$6 teacher=$7; shift 7
  local out=$R/$d/$t-aug$n-tr${SEED:+-seed$SEED}${EVAL:+-ev$EVAL}${TAG:-}
  [ -f $out/DONE ] && return 0
  [ -f $s1/model.safetensors ] || { echo "no stage-1 student $s1" >&2; return 1; }
  mkdir -p $(dirname $out)
  $K distill --stage task --task $t --teacher $teacher --student $s1 --out $out --augment $n --transfer $tr --epochs $e \
    --lr 3e-4 --schedule two-phase --batch-size 32 --max-length 128 --threads ${THREADS:-1} --save-every 200 --resume \
    --group-by-length 50 ${SEED:+--seed $SEED} ${EVAL:+--eval-every $EVAL} "$@" 2>> $out.log \
    && touch $out/DONE || echo "transfer run $out failed (see $out.log)" >&2
}
lane_a() {
  TAG=-ta transfer_run r21q1-16m $R/r21q1/general-16m stsb 8 3 mrpc,rte,wnli runs/kd/r8e-8m/stsb-aug8
}
lane_b() {
  EVAL=100 transfer_run r8q-8m $R/r8q/general-8m rte 4 3 mrpc,stsb,wnli runs/finetune/rte
}
lane_c() {
  local in=$R/r21q1-16m/stsb-aug8-tr-ta out=$R/r21q1-16m/stsb-aug8-tr-ta-cont
  [ -f $out/DONE ] && return 0
  [ -f $in/DONE ] || { echo "no student $in (run lane-a)" >&2; return 1; }
  $K distill --stage task --task stsb --teacher runs/kd/r8e-8m/stsb-aug8 --student $in --out $out --augment 8 \
    --transfer mrpc,rte,wnli --epochs 2 --lr 1e-4 --schedule joint --w-embedding 0 --w-attention 0 --w-hidden 0 \
    --batch-size 32 --max-length 128 --threads 1 --save-every 200 --resume --group-by-length 50 2>> $out.log \
    && touch $out/DONE || echo "stage 2 $in -> $out failed (see $out.log)" >&2
}

main() { run_lane "$@"; }

main "$@"; exit
