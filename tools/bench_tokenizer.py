"""Tokenizer throughput (sentences/s, one thread) over SST-2 train: kbert vs Hugging Face `tokenizers`
(BertTokenizerFast, batch encoding with RAYON_NUM_THREADS=1), measured in the same run.

    python3 tools/bench_tokenizer.py --kbert .build/release/kbert --model models/all-MiniLM-L6-v2
"""
import argparse, json, os, pathlib, subprocess, time

ROOT = pathlib.Path(__file__).resolve().parent.parent
ap = argparse.ArgumentParser()
ap.add_argument("--kbert", default=str(ROOT / ".build/release/kbert"))
ap.add_argument("--model", default=str(ROOT / "models/all-MiniLM-L6-v2"))
ap.add_argument("--data", default=os.environ.get("KBERT_DATA", str(ROOT.parent / "shared/data")))
ap.add_argument("--iters", type=int, default=5)
args = ap.parse_args()
os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
from transformers import BertTokenizerFast

path = os.path.join(args.data, "glue/SST-2/train.tsv")
texts = [l.split("\t")[0] for l in open(path, encoding="utf-8").read().split("\n")[1:] if l]
tok = BertTokenizerFast.from_pretrained(args.model)

def hf_once():
    t = time.perf_counter()
    enc = tok(texts, truncation=False)
    return time.perf_counter() - t, sum(len(x) for x in enc["input_ids"])

def ours_once():
    out = subprocess.run([args.kbert, "bench", "--mode", "tokenize", "--model", args.model, "--input", path, "--header",
                          "--iters", "1", "--warmup", "1", "--threads", "1", "--json"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])

hf_once()
hf, ours = [], []
for _ in range(args.iters):  # interleaved, so both see the same machine load
    dt, ntok = hf_once(); hf.append(len(texts) / dt)
    r = ours_once(); ours.append(r["sentences_per_s"])
    assert int(r["tokens"]) == ntok, f"token count differs: ours {r['tokens']} HF {ntok}"
med = lambda v: sorted(v)[len(v) // 2]
print(f"| tokenizer | sentences/s (median of {args.iters}) |\n|---|---|")
print(f"| HF tokenizers {__import__('tokenizers').__version__} (1 thread) | {med(hf):,.0f} |")
print(f"| kbert (1 thread) | {med(ours):,.0f} |")
print(f"\nkbert / HF = {med(ours) / med(hf):.2f}x over {len(texts):,} SST-2 train sentences ({ntok:,} tokens)")
