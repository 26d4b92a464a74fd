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
# GROUP=N (here and in aug/cont): batches of similar length (--group-by-length N, the default of
# kbert from session 20: 50); unset, the plain shuffled batches of the runs before session 20.
#   std_stage2 TASK STUDENT OUT [extra distill options]      (log: OUT.log, appended)
std_stage2() {
  local t=$1 student=$2 out=$3 budget; shift 3
  [ -f $out/DONE ] && return 0
  mkdir -p "$(dirname $out)"
  case $t in
    sst2) budget="--epochs 1 --max-steps 600" ;;
    mrpc|rte) budget="--epochs 4" ;;
    stsb|cola) budget="--epochs 3" ;;
    *) echo "std_stage2: no budget for task $t" >&2; return 1 ;;
  esac
  $K distill --stage task --task $t --teacher runs/finetune/$t --student $student --out $out $budget \
    --lr ${S2_LR:-3e-4} --schedule ${S2_SCHEDULE:-two-phase} --batch-size 32 --max-length 128 --threads 1 \
    --save-every 100 --resume ${S2_PLR:+--prediction-lr $S2_PLR} --group-by-length ${GROUP:-0} "$@" 2>> $out.log \
    && touch $out/DONE || echo "stage 2 $out failed (see $out.log)" >&2
}

# One augmented stage-2 run: plan task copies epochs; S1 names the stage-1 student (general, or
# general-8m from scripts/kd_long_stage1.sh, whose runs go to runs/kd/<plan>-8m/); SEED=N adds
# --seed N (augmentation, shuffling, dropout) and names the run <task>-aug<n>-seedN; EVAL=N adds
# --eval-every N (dev also every N steps within epochs) and the suffix -evN; TEACHER=DIR distills
# from another teacher than runs/finetune/TASK (a teacher assistant), TAG=-x suffixes the run's name;
# THREADS=N runs it on N threads (default 1); TRANSFER=TASK,... adds those tasks' training texts
# without labels (--transfer, session 26) and names the run <task>-aug<n>-tr...; EMA=D adds --ema D
# (the evaluated and kept model is the weights' moving average, session 28; name it with TAG);
# CORPUS=N adds N texts from the Wikipedia corpus, not augmented (--corpus-transfer, session 28);
# TRANSFER_AUG=N gives the transfer texts N variants each instead of the task's count (session 32).
aug() {
  local p=$1 t=$2 n=$3 e=$4 s1=${S1:-general}
  local out=$R/$1${SUFFIX:-}/$2-aug$3${TRANSFER:+-tr}${SEED:+-seed$SEED}${EVAL:+-ev$EVAL}${TAG:-}
  [ -f $out/DONE ] && return 0
  [ -f $R/$p/$s1/model.safetensors ] || { echo "no stage-1 student $R/$p/$s1" >&2; return 1; }
  mkdir -p $(dirname $out)
  $K distill --stage task --task $t --teacher ${TEACHER:-runs/finetune/$t} --student $R/$p/$s1 --out $out --augment $n --epochs $e \
    --lr 3e-4 --schedule two-phase --batch-size 32 --max-length 128 --threads ${THREADS:-1} --save-every 200 --resume \
    --group-by-length ${GROUP:-0} ${SEED:+--seed $SEED} ${EVAL:+--eval-every $EVAL} ${TRANSFER:+--transfer $TRANSFER} \
    ${TRANSFER_AUG:+--transfer-augment $TRANSFER_AUG} ${EMA:+--ema $EMA} ${CORPUS:+--corpus-transfer $CORPUS} ${TEMP:+--temperature $TEMP} ${LOGIT:+--logit-loss $LOGIT} ${WSUP:+--w-supervised $WSUP} 2>> $out.log \
    && touch $out/DONE || echo "augmented stage 2 $p $t failed (see $out.log)" >&2
}

# Task distillation with the intermediate terms alone (the classifier and pooler as copied from the
# teacher; session 25): plan task copies epochs; S1, SUFFIX, SEED as in aug; dev every $EVAL
# (default 100) steps; EMA=D adds --ema D, CORPUS=N --corpus-transfer N (session 28); PRE / POST
# go into the run's name before / after "-inter".
inter_only() {
  local p=$1 t=$2 n=$3 e=$4 s1=${S1:-general} ev=${EVAL:-100}
  local out=$R/$1${SUFFIX:-}/$2-aug$3${PRE:-}-inter${POST:-}${SEED:+-seed$SEED}-ev$ev
  [ -f $out/DONE ] && return 0
  [ -f $R/$p/$s1/model.safetensors ] || { echo "no stage-1 student $R/$p/$s1" >&2; return 1; }
  mkdir -p $(dirname $out)
  $K distill --stage task --task $t --teacher runs/finetune/$t --student $R/$p/$s1 --out $out --augment $n --epochs $e \
    --lr 3e-4 --schedule joint --w-logits 0 --w-supervised 0 --batch-size 32 --max-length 128 --threads 1 --save-every 200 \
    --resume --group-by-length 50 --eval-every $ev ${SEED:+--seed $SEED} ${EMA:+--ema $EMA} ${CORPUS:+--corpus-transfer $CORPUS} \
    2>> $out.log && touch $out/DONE || echo "intermediate-only stage 2 $p $t failed (see $out.log)" >&2
}

# The "-cont" recipe: an augmented student trained on with the prediction terms alone at lr 1e-4
# (IN names another finished run of the task to continue instead, e.g. the standard one; TEACHER
# and TRANSFER, LOGIT and WSUP as in aug)
cont() {  # plan-dir task copies epochs (LR overrides the rate and TAG names the output)
  local d=$R/$1 t=$2 n=$3 e=$4 lr=${LR:-1e-4}
  local in=$d/${IN:-$t-aug$n} out=$d/${IN:-$t-aug$n}-cont${TAG:-}
  [ -f $out/DONE ] && return 0
  [ -f $in/DONE ] || { echo "no augmented student $in" >&2; return 1; }
  $K distill --stage task --task $t --teacher ${TEACHER:-runs/finetune/$t} --student $in --out $out --augment $n --epochs $e \
    --lr $lr --schedule joint --w-embedding 0 --w-attention 0 --w-hidden 0 --batch-size 32 --max-length 128 \
    --threads 1 --save-every 200 --resume --group-by-length ${GROUP:-0} ${TRANSFER:+--transfer $TRANSFER} \
    ${LOGIT:+--logit-loss $LOGIT} ${WSUP:+--w-supervised $WSUP} 2>> $out.log \
    && touch $out/DONE || echo "stage 2 $in -> $out failed (see $out.log)" >&2
}

# r8q, the ratio-8 plan of the best runs since session 22 (the options of `kbert compress`):
R8Q_SHAPES=(--attention 192x192 --ffn 8x4 --embedding-rank 56 --position-embedding-rank 16 --pooler-rank 8 --frequency-weighted)

# A compression plan's student and its 2M-token stage 1 (as scripts/kd_full.sh: one epoch, lr 5e-4,
# 5% warm-up, batch 32 x 64 tokens, $STAGE1_2M_THREADS threads, default 1): runs/kd/PLAN/init, runs/kd/PLAN/general.
stage1_2m() {  # plan compress-shape-options...
  local p=$1; shift
  mkdir -p $R/$p
  [ -f $R/$p/init/model.safetensors ] || $K compress --model $M --out $R/$p/init "$@" --threads 1 > $R/$p-compress.txt
  if [ ! -f $R/$p/general/DONE ]; then
    $K distill --stage general --teacher $M --student $R/$p/init --out $R/$p/general --general-tokens 2000000 --epochs 1 \
      --lr 5e-4 --warmup 0.05 --batch-size 32 --max-length 64 --threads ${STAGE1_2M_THREADS:-1} --save-every 100 --resume 2>> $R/$p/general.log \
      && touch $R/$p/general/DONE
  fi
}

# The 8M-token stage 1 (session 13): the 2M-token student trained on for 6M more tokens (lr 3e-4,
# 2% warm-up, batch 32 x 64, $STAGE1_THREADS threads, default 2): runs/kd/PLAN/general-8m.
stage1_8m() {  # plan
  local p=$1
  [ -f $R/$p/general-8m/DONE ] && return 0
  [ -f $R/$p/general/DONE ] || { echo "no 2M-token stage-1 student $R/$p/general" >&2; return 1; }
  $K distill --stage general --teacher $M --student $R/$p/general --out $R/$p/general-8m --general-tokens 6000000 --epochs 1 \
    --lr 3e-4 --warmup 0.02 --batch-size 32 --max-length 64 --threads ${STAGE1_THREADS:-2} --save-every 100 --resume \
    2>> $R/$p/general-8m.log && touch $R/$p/general-8m/DONE
}

# The 16M-token stage 1 (session 25): the 8M-token student trained on for 8M more tokens (lr 2e-4,
# 2% warm-up, batch 32 x 64, $STAGE1_THREADS threads, default 2): runs/kd/PLAN/general-16m.
stage1_16m() {  # plan
  local p=$1
  [ -f $R/$p/general-16m/DONE ] && return 0
  [ -f $R/$p/general-8m/DONE ] || { echo "no 8M-token stage-1 student $R/$p/general-8m" >&2; return 1; }
  $K distill --stage general --teacher $M --student $R/$p/general-8m --out $R/$p/general-16m --general-tokens 8000000 \
    --epochs 1 --lr 2e-4 --warmup 0.02 --batch-size 32 --max-length 64 --threads ${STAGE1_THREADS:-2} --save-every 100 \
    --resume 2>> $R/$p/general-16m.log && touch $R/$p/general-16m/DONE
}

# The lane dispatcher of the session scripts: `run_lane lane-x` runs the sourcing script's function
# lane_x; anything else prints the lanes it defines and fails.
run_lane() {
  local f=${1:-}; f=${f//-/_}
  if [[ $f == lane_* ]] && declare -F "$f" > /dev/null; then "$f"; return; fi
  echo "usage: $0 $(declare -F | awk '$3 ~ /^lane_/ {sub("_", "-", $3); print $3}' | paste -sd'|')" >&2
  return 2
}

# STS-B at ratio 21, session 28's corpus-pairs recipe (81.64 with seed 42): r21q1's 16M-token
# stage 1, taught by the ratio-8 assistant r8q-8m/stsb-aug8, 2 copies, the other pair tasks' texts
# and 30,000 Wikipedia pairs, 3 epochs.   stsb21 SEED (empty: the default, 42)
stsb21() {
  GROUP=50 TEACHER=$R/r8q-8m/stsb-aug8 TRANSFER=mrpc,rte,wnli,mnli:dev,qnli:dev CORPUS=30000 S1=general-16m SUFFIX=-16m \
    SEED=$1 TAG=-c30k-dev-ta aug r21q1 stsb 2 3
}

# Waits (a minute at a time) until the file exists: a lane's start after another lane's DONE.
wait_for() { while [ ! -f "$1" ]; do sleep 60; done; }

# RTE at ratio 8 on r8q's 8M-token stage 1, 4 copies, grouped batches (sessions 30 and 31):
#   rte8 EPOCHS    (TEMP, LOGIT, WSUP, SEED and TAG as in aug, set before the call)
rte8() { GROUP=50 S1=general-8m SUFFIX=-8m aug r8q rte 4 "$1"; }

# rte8 on each seed in turn, once r8q's 8M-token stage 1 and the RTE teacher have finished
# (the default seed 42 names no seed in the run's folder; options as for rte8, set before the call):
#   rte8_seeds EPOCHS SEED...
rte8_seeds() {
  local e=$1 s seed; shift
  wait_for $R/r8q/general-8m/DONE; wait_for runs/finetune/rte/DONE
  for s in "$@"; do
    seed=$s; [ "$s" = 42 ] && seed=""
    SEED=$seed rte8 "$e"
  done
}
