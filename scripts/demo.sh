#!/usr/bin/env bash
# The main job on the default teacher. Today: tokenize and embed a few sentences with
# all-MiniLM-L6-v2, inspect the model, and time it. (It grows into the full compress + distill
# pipeline with later issues.)
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
echo "== kbert inspect"
$K inspect --model "$M" | tail -4
echo
echo "== kbert bench (1x128, 2 threads)"
$K bench --model "$M" --batch 1 --seq 128 --threads 2 --iters 10
