#!/usr/bin/env bash
# The main job on the default teacher: tokenize and embed a few sentences with all-MiniLM-L6-v2,
# inspect it, compress it to a kb8 Kronecker student, and time teacher and student.
# (It grows into the full fine-tune + compress + distill pipeline with issue 6.)
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
echo "== kbert inspect (teacher)"
$K inspect --model "$M" | tail -4
echo
echo "== kbert compress --preset kb8 -> $OUT/minilm-kb8"
$K compress --model "$M" --out "$OUT/minilm-kb8" --preset kb8 | tail -4
echo
echo "== kbert run on the student"
$K run --model "$OUT/minilm-kb8" --input "$OUT/sentences.txt" --output "$OUT/student.safetensors" --threads 2
echo
echo "== kbert bench: teacher vs student (1x128, 2 threads)"
printf "teacher: "; $K bench --model "$M" --batch 1 --seq 128 --threads 2 --iters 10
printf "student: "; $K bench --model "$OUT/minilm-kb8" --batch 1 --seq 128 --threads 2 --iters 10
