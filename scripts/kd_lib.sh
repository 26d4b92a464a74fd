# Shared by the distillation scripts (sourced from the repository root; definitions only).
# K: the kbert binary ($KBERT, e.g. a fixed copy for long runs; KBERT=echo for a dry run),
# M: the pre-trained teacher, R: the runs folder.
K=${KBERT:-.build/release/kbert}
M=models/all-MiniLM-L6-v2
R=runs/kd

# The standard stage-2 recipe (README "Distillation results"): the fine-tuned teacher
# runs/finetune/TASK, the task's budget (SST-2 600 steps, MRPC and RTE 4 epochs, STS-B and CoLA 3),
# lr $S2_LR (3e-4), schedule $S2_SCHEDULE (two-phase), batch 32, max length 128, one thread,
# a checkpoint every 100 steps, resumed when killed; OUT/DONE marks a finished run, which is skipped.
# S2_PLR set: the prediction phase restarts at its own peak rate (--prediction-lr; session 18).
#   std_stage2 TASK STUDENT OUT [extra distill options]      (log: OUT.log, appended)
std_stage2() {
  local t=$1 student=$2 out=$3 budget; shift 3
  [ -f $out/DONE ] && return 0
  case $t in
    sst2) budget="--epochs 1 --max-steps 600" ;;
    mrpc|rte) budget="--epochs 4" ;;
    stsb|cola) budget="--epochs 3" ;;
    *) echo "std_stage2: no budget for task $t" >&2; return 1 ;;
  esac
  $K distill --stage task --task $t --teacher runs/finetune/$t --student $student --out $out $budget \
    --lr ${S2_LR:-3e-4} --schedule ${S2_SCHEDULE:-two-phase} --batch-size 32 --max-length 128 --threads 1 \
    --save-every 100 --resume ${S2_PLR:+--prediction-lr $S2_PLR} "$@" 2>> $out.log \
    && touch $out/DONE || echo "stage 2 $out failed (see $out.log)" >&2
}
