"""Student vs dense teacher forward latency, measured in the same run (alternating), with the
FLOP ratio beside each measured speed-up. Cases: kb8 / kb21 on the BERT-base config (random
weights) and, on all-MiniLM-L6-v2, the ratio-8 and ratio-21 students of the distillation runs
(scripts/kd_full.sh shapes) and the planner's (`kbert compress --ratio`), at 1×128 and 32×128,
with 1 and 2 threads. `--cases` picks a subset by name prefix.

    python3 tools/bench_compress.py --kbert .build/release/kbert
"""
import argparse, json, os, pathlib, subprocess, sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
ap = argparse.ArgumentParser()
ap.add_argument("--kbert", default=str(ROOT / ".build/release/kbert"))
ap.add_argument("--model", default=str(ROOT / "models/all-MiniLM-L6-v2"))
ap.add_argument("--base-config", default=str(ROOT / "configs/bert-base-uncased.json"))
ap.add_argument("--work", default=str(ROOT / "out/bench-students"))
ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
ap.add_argument("--batches", type=int, nargs="+", default=[1, 32])
ap.add_argument("--rounds", type=int, default=2)
ap.add_argument("--cases", nargs="*", default=None, help="name prefixes to run (default: all)")
args = ap.parse_args()

def kb(*a):
    out = subprocess.run([args.kbert, *a], capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]

def bench(src, B, t):
    iters = "10" if B == 1 else "3"
    return json.loads(kb("bench", "--mode", "forward", *src, "--batch", str(B), "--seq", "128", "--threads", str(t), "--iters", iters, "--json"))

def flops(src):
    return json.loads(kb("inspect", *src, "--json"))

os.makedirs(args.work, exist_ok=True)
cases = []
base = ["--config", args.base_config]
for p in ["kb8", "kb21"]:
    cases.append((f"BERT-base {p}", base, base + ["--preset", p]))
KD_SHAPES = {8: ["--attention", "192x192", "--ffn", "8x4", "--embedding", "8"],
             21: ["--attention", "192x24", "--ffn", "16x2", "--embedding", "32"]}
for r in [8, 21]:
    out = f"{args.work}/minilm-kd-r{r}"
    if not os.path.exists(out + "/model.safetensors"):
        kb("compress", "--model", args.model, "--out", out, *KD_SHAPES[r], "--threads", "1")
    cases.append((f"MiniLM kd r{r}", ["--model", args.model], ["--model", out]))
for r in [8, 21]:
    out = f"{args.work}/minilm-planned-r{r}"
    if not os.path.exists(out + "/model.safetensors"):
        kb("compress", "--model", args.model, "--out", out, "--ratio", str(r), "--threads", "1")
    cases.append((f"MiniLM planned r{r}", ["--model", args.model], ["--model", out]))
if args.cases:
    cases = [c for c in cases if any(c[0].startswith(p) for p in args.cases)]

print("| case | batch×seq | threads | teacher ms | student ms | measured speed-up | FLOP ratio | compression |")
print("|---|---|---|---|---|---|---|---|")
for name, tsrc, ssrc in cases:
    ft, fs = flops(tsrc), flops(ssrc)
    fr = ft["flops"] / fs["flops"]
    cf = ft["parameters"] / fs["parameters"]
    for B in args.batches:
        for t in args.threads:
            tm, sm = [], []
            for _ in range(args.rounds):
                tm.append(bench(tsrc, B, t)["median_ms"]); sm.append(bench(ssrc, B, t)["median_ms"])
            a, b = min(tm), min(sm)
            print(f"| {name} | {B}×128 | {t} | {a:.1f} | {b:.1f} | {a / b:.2f}x | {fr:.2f}x | {cf:.2f}x |", flush=True)
