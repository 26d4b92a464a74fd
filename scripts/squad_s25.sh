#!/usr/bin/env bash
# SQuAD v1.1 runs (session 25 on): the all-MiniLM-L6-v2 teacher, then its Kronecker students.
# Every run checkpoints every 200 steps and resumes where a killed one stopped (re-run the lane);
# OUT/DONE marks a finished run, which is skipped.
#   scripts/squad_s25.sh teacher   fine-tune the teacher: 2 epochs, lr 1e-4, batch 32, windows of 384
#                                  tokens sharing 128, $THREADS threads (default 2): runs/squad/teacher
#   scripts/squad_s25.sh kb8       the ratio-8 student (preset tuned8) through the pipeline from that
#                                  teacher: the GLUE runs' 8M-token stage-1 student of the same
#                                  shapes (runs/kd/r8q/general-8m, 64-token sequences) reused, 2
#                                  epochs of stage 2
set -euo pipefail
cd "$(dirname "$0")/.."
K=${KBERT:-.build/release/kbert}
M=models/all-MiniLM-L6-v2
R=runs/squad
mkdir -p $R

teacher() {
  [ -f $R/teacher/DONE ] && return 0
  $K finetune --model $M --task squad --out $R/teacher --epochs 2 --lr 1e-4 --batch-size 32 --max-length 384 \
    --doc-stride 128 --threads ${THREADS:-2} --save-every 200 --resume 2>> $R/teacher.log && touch $R/teacher/DONE
}
kb8() {
  [ -f $R/teacher/DONE ] || { echo "no SQuAD teacher $R/teacher (run: $0 teacher)" >&2; return 1; }
  [ -f $R/kb8/results.json ] && return 0
  $K pipeline --model $M --task squad --teacher $R/teacher --preset tuned8 --out $R/kb8 \
    --general-student runs/kd/r8q/general-8m --epochs 2 --threads ${THREADS:-2} 2>> $R/kb8.log > $R/kb8.out
}

case ${1:-} in
  teacher) teacher ;;
  kb8) kb8 ;;
  *) echo "usage: $0 teacher|kb8" >&2; exit 2 ;;
esac
