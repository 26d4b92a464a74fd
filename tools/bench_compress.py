"""Student vs dense teacher forward latency, measured in the same run (alternating), with the
FLOP ratio beside each measured speed-up. Cases: kb8 / kb21 on the BERT-base config (random
weights) and, on all-MiniLM-L6-v2, the ratio-8 and ratio-21 students of the distillation runs
(scripts/kd_full.sh shapes) and the planner's (`kbert compress --ratio`), at 1×128 and 32×128,
with 1 and 2 threads. `--cases` picks a subset by name prefix.

    python3 tools/bench_compress.py --kbert .build/release/kbert
"""
import os, subprocess
from benchlib import KD_SHAPES, ROOT, kbert_json, parser

ap = parser(__doc__, iters=0)   # --iters is not used: 10 iterations at batch 1, 3 at batch 32
ap.add_argument("--work", default=str(ROOT / "out/bench-students"))
ap.add_argument("--batches", type=int, nargs="+", default=[1, 32])
ap.add_argument("--rounds", type=int, default=2)
ap.add_argument("--cases", nargs="*", default=None, help="name prefixes to run (default: all)")
args = ap.parse_args()

def kb(*a):
    subprocess.run([args.kbert, *map(str, a)], capture_output=True, text=True, check=True)

def bench(src, B, t):
    return kbert_json(args.kbert, "bench", "--mode", "forward", *src, "--batch", B, "--seq", 128, "--threads", t,
                      "--iters", 10 if B == 1 else 3, "--json")

def flops(src):
    return kbert_json(args.kbert, "inspect", *src, "--json")

os.makedirs(args.work, exist_ok=True)
cases = []
base = ["--config", args.base_config]
for p in ["kb8", "kb21"]:
    cases.append((f"BERT-base {p}", base, base + ["--preset", p]))
for r in [8, 21]:
    out = f"{args.work}/minilm-kd-r{r}"
    if not os.path.exists(out + "/model.safetensors"):
        kb("compress", "--model", args.model, "--out", out, *KD_SHAPES[f"r{r}"], "--threads", 1)
    cases.append((f"MiniLM kd r{r}", ["--model", args.model], ["--model", out]))
for r in [8, 21]:
    out = f"{args.work}/minilm-planned-r{r}"
    if not os.path.exists(out + "/model.safetensors"):
        kb("compress", "--model", args.model, "--out", out, "--ratio", r, "--threads", 1)
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
