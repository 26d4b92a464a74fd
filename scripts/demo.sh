#!/usr/bin/env bash
# The main job on the default teacher: tokenize and embed a few sentences with all-MiniLM-L6-v2,
# then the whole KroneckerBERT pipeline on SST-2 at a compression ratio of 8 with small budgets:
# fine-tune the teacher, compress, general distillation on Wikipedia, task distillation, and the
# teacher-vs-student table (dev accuracy and retention, parameters, file size, FLOPs, latency).
set -euo pipefail
cd "$(dirname "$0")/.."
K=.build/release/kbert
M=models/all-MiniLM-L6-v2
OUT=out/demo
mkdir -p "$OUT"
cat > "$OUT/sentences.txt" <<'TXT'
A man is playing a guitar on stage.
Someone performs music with a guitar.
The stock market fell sharply on Monday.
Is this the right way to the station?	Yes, take the second street on the left.
Ångström-scale café résumé 東京 🙂
TXT
echo "== kbert tokenize (first two lines)"
head -2 "$OUT/sentences.txt" | $K tokenize --model "$M" --input -
echo
echo "== kbert run -> $OUT/embeddings.safetensors"
$K run --model "$M" --input "$OUT/sentences.txt" --output "$OUT/embeddings.safetensors" --threads 2
echo
echo "== kbert pipeline: SST-2, ratio 8 (teacher fine-tune, compress, stage 1, stage 2, evaluate)"
# Small budgets, meant to finish within 15 minutes on 2 cores; the recipe of the full runs
# (stage 1 lr 5e-4, stage 2 lr 3e-4 with the two-phase schedule: the pipeline's defaults), with far
# fewer tokens and steps (README "Distillation results" has the full runs).
# The tuned8 preset: the best measured ratio-8 recipe's shapes (README "Recipes"); it kept 96.9% of
# SST-2 at these budgets against 95.3% for the planner's plan (--ratio 8), with a student that
# costs 3x the planner's FLOPs (scripts/demo_ab.sh, session 23).
$K pipeline --model "$M" --task sst2 --out "$OUT/pipeline" --preset tuned8 --teacher-steps 300 --general-tokens 300000 \
  --steps 600 --batch-size 32 --max-length 64 --threads 2
