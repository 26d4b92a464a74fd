"""Training-step throughput (forward + backward + AdamW, batch 32 × seq 64, 2-way classifier,
dropout on): kbert vs PyTorch (CPU, fp32, eager) in the same run, same thread count.
Cases: all-MiniLM-L6-v2 and the BERT-base config (random weights), 1 and 2 threads. kbert computes
the last layer for the [CLS] rows alone (what `kbert finetune` does: the same gradients);
--full-last-layer also times it for every token, as PyTorch does.

    python3 tools/bench_train.py --kbert .build/release/kbert [--iters 3]
"""
import sys
from benchlib import kbert_json, model_flag, parser, python_json

ap = parser(__doc__, iters=3)
ap.add_argument("--strassen", action="store_true", help="also time kbert --strassen (Strassen packs for the per-step products)")
ap.add_argument("--full-last-layer", action="store_true",
                help="also time kbert --full-last-layer (the last layer for every token, as PyTorch computes it)")
ap.add_argument("--models", nargs="+", default=["MiniLM-L6", "BERT-base"])
ap.add_argument("--against", metavar="KBERT", help="also time another kbert binary (e.g. the last commit's) in the same run: an A/B of a change")
args = ap.parse_args()

TORCH = r'''
import json, os, sys, time, resource, torch
os.environ["TRANSFORMERS_VERBOSITY"] = "error"
from transformers import BertConfig, BertForSequenceClassification
threads, kind, path, B, T, iters = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
torch.set_num_threads(threads); torch.manual_seed(0)
if kind == "folder":
    m = BertForSequenceClassification.from_pretrained(path, num_labels=2, attn_implementation="eager")
else:
    c = BertConfig.from_json_file(path); c.num_labels = 2; c._attn_implementation = "eager"; m = BertForSequenceClassification(c)
m.train()
opt = torch.optim.AdamW(m.parameters(), lr=1e-5, weight_decay=0.01)
ids = torch.randint(0, m.config.vocab_size, (B, T)); labels = torch.randint(0, 2, (B,))
ts = []
for i in range(iters + 1):
    t = time.perf_counter()
    opt.zero_grad()
    loss = m(input_ids=ids, labels=labels).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
    opt.step()
    if i: ts.append(time.perf_counter() - t)
ts.sort()
print(json.dumps({"median_ms": ts[len(ts)//2] * 1e3, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''

def kbert(t, kind, path, *extra, binary=None):
    return kbert_json(binary or args.kbert, "bench", "--mode", "train", *model_flag(kind, path), "--batch", 32, "--seq", 64, "--threads", t,
                      "--iters", args.iters, "--warmup", 1, "--json", *extra)

def torch_run(t, kind, path):
    return python_json(TORCH, t, t, kind, path, 32, 64, args.iters)

cases = [c for c in [("MiniLM-L6", "folder", args.model), ("BERT-base", "config", args.base_config)] if c[0] in args.models]
rows, ab = [], []
for name, kind, path in cases:
    for t in args.threads:
        o = kbert(t, kind, path); r = torch_run(t, kind, path)
        c = kbert(t, kind, path, "--strassen") if args.strassen else None
        f = kbert(t, kind, path, "--full-last-layer") if args.full_last_layer else None
        g = kbert(t, kind, path, binary=args.against) if args.against else None
        if g: ab.append((name, t, o["median_ms"], g["median_ms"], r["median_ms"]))
        tok = 32 * 64
        rows.append((name, t, o["median_ms"], r["median_ms"], tok / o["median_ms"] * 1e3, tok / r["median_ms"] * 1e3, o["peak_rss_mb"], r["peak_rss_mb"],
                     c["median_ms"] if c else None, f["median_ms"] if f else None))
        print(f"{name} threads={t}: kbert {o['median_ms']:.0f} ms, torch {r['median_ms']:.0f} ms"
              + (f", kbert --strassen {c['median_ms']:.0f} ms" if c else "")
              + (f", kbert --full-last-layer {f['median_ms']:.0f} ms" if f else ""), file=sys.stderr)
print("| model | threads | kbert ms/step | PyTorch ms/step | kbert tokens/s | PyTorch tokens/s | speed-up | kbert peak RSS MB | PyTorch peak RSS MB |")
print("|---|---|---|---|---|---|---|---|---|")
for n, t, a, b, ta, tb, ma, mb, *_ in rows:
    print(f"| {n} | {t} | {a:.0f} | {b:.0f} | {ta:.0f} | {tb:.0f} | {ta / tb:.2f}x | {ma:.0f} | {mb:.0f} |")
if args.strassen:
    print("\n| model | threads | kbert ms/step | kbert --strassen ms/step | --strassen speed-up over PyTorch |")
    print("|---|---|---|---|---|")
    for n, t, a, b, *_, c, _ in rows:
        print(f"| {n} | {t} | {a:.0f} | {c:.0f} | {b / c:.2f}x |")
if args.full_last_layer:
    print("\n| model | threads | kbert ms/step | kbert --full-last-layer ms/step | [CLS]-only last layer gain | --full-last-layer speed-up over PyTorch |")
    print("|---|---|---|---|---|---|")
    for n, t, a, b, *_, f in rows:
        print(f"| {n} | {t} | {a:.0f} | {f:.0f} | {f / a:.3f}x | {b / f:.2f}x |")
if args.against:
    print(f"\n| model | threads | kbert ms/step | {args.against} ms/step | change | its speed-up over PyTorch |")
    print("|---|---|---|---|---|---|")
    for n, t, a, g, b in ab:
        print(f"| {n} | {t} | {a:.0f} | {g:.0f} | {g / a:.3f}x | {b / g:.2f}x |")
