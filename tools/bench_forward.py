"""Forward-pass latency: kbert vs PyTorch (CPU, fp32, eager BertModel) in the same run, same thread
count, same shapes. Cases: all-MiniLM-L6-v2 and the BERT-base config (random weights) at 1×128 and
32×128, with 1 and 2 threads. Also onnxruntime (the same model exported to ONNX opset 17 by
torch.onnx, default graph optimizations) when `onnxruntime` and `onnx` are installed.

    python3 tools/bench_forward.py --kbert .build/release/kbert [--iters 10]
"""
import json, os, subprocess, sys
from benchlib import ROOT, kbert_json, model_flag, parser, python_json

ap = parser(__doc__, iters=10)
ap.add_argument("--rounds", type=int, default=3, help="alternations of the two engines; best median of each kept")
ap.add_argument("--json-out")
ap.add_argument("--work", default=str(ROOT / "out/bench-forward"), help="where the ONNX exports are kept")
ap.add_argument("--no-ort", action="store_true", help="skip onnxruntime even when it is installed")
ap.add_argument("--strassen", action="store_true", help="also time kbert --strassen (Strassen packs) in each round")
ap.add_argument("--models", nargs="+", default=["MiniLM-L6", "BERT-base"])
args = ap.parse_args()

TORCH = r'''
import json, sys, time, torch, os
os.environ["TRANSFORMERS_VERBOSITY"] = "error"
from transformers import BertModel, BertConfig
threads, kind, path, B, T, iters = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
torch.set_num_threads(threads)
if kind == "folder":
    m = BertModel.from_pretrained(path, attn_implementation="eager")
else:
    torch.manual_seed(0); c = BertConfig.from_json_file(path); c._attn_implementation = "eager"; m = BertModel(c)
m.eval()
ids = torch.randint(0, m.config.vocab_size, (B, T))
with torch.inference_mode():
    for _ in range(2): m(input_ids=ids)
    ts = []
    for _ in range(iters):
        t = time.perf_counter(); m(input_ids=ids); ts.append(time.perf_counter() - t)
import resource
ts.sort()
print(json.dumps({"median_ms": ts[len(ts)//2] * 1e3, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''

ORT = r'''
import json, os, sys, time
threads, kind, path, B, T, iters, onnx_path = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
if not os.path.exists(onnx_path):
    # Export once per model (fresh process: export changes the module's state). Same weights as
    # the PyTorch case: the folder's, or the config's with torch.manual_seed(0).
    import torch
    os.environ["TRANSFORMERS_VERBOSITY"] = "error"
    from transformers import BertModel, BertConfig
    if kind == "folder":
        m = BertModel.from_pretrained(path, attn_implementation="eager")
    else:
        torch.manual_seed(0); c = BertConfig.from_json_file(path); c._attn_implementation = "eager"; m = BertModel(c)
    m.eval()
    class W(torch.nn.Module):
        def __init__(s, m): super().__init__(); s.m = m
        def forward(s, ids):
            o = s.m(input_ids=ids); return o.last_hidden_state, o.pooler_output
    torch.onnx.export(W(m), (torch.randint(0, m.config.vocab_size, (1, 128)),), onnx_path + ".tmp", input_names=["input_ids"],
                      output_names=["last_hidden_state", "pooler_output"], dynamic_axes={"input_ids": {0: "b", 1: "t"}},
                      opset_version=17, dynamo=False)
    os.replace(onnx_path + ".tmp", onnx_path)
    sys.exit(0)
import numpy as np, onnxruntime as ort
so = ort.SessionOptions(); so.intra_op_num_threads = threads; so.inter_op_num_threads = 1
s = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
vocab = json.load(open(os.path.join(path, "config.json") if kind == "folder" else path))["vocab_size"]
ids = np.random.default_rng(0).integers(0, vocab, (B, T)).astype(np.int64)
for _ in range(2): s.run(None, {"input_ids": ids})
ts = []
for _ in range(iters):
    t = time.perf_counter(); s.run(None, {"input_ids": ids}); ts.append(time.perf_counter() - t)
import resource
ts.sort()
print(json.dumps({"median_ms": ts[len(ts)//2] * 1e3, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''

def have_ort():
    return subprocess.run([sys.executable, "-c", "import onnxruntime, onnx"], capture_output=True).returncode == 0

def ort_run(threads, kind, path, B, T, iters, name):
    onnx_path = os.path.join(args.work, name + ".onnx")
    os.makedirs(args.work, exist_ok=True)
    if not os.path.exists(onnx_path):
        subprocess.run([sys.executable, "-c", ORT, "1", kind, path, "1", "128", "1", onnx_path], capture_output=True, text=True, check=True)
    return python_json(ORT, threads, threads, kind, path, B, T, iters, onnx_path)

def kbert(threads, kind, path, B, T, iters, *extra):
    return kbert_json(args.kbert, "bench", "--mode", "forward", *model_flag(kind, path), "--batch", B, "--seq", T,
                      "--threads", threads, "--iters", iters, "--json", *extra)

def torch_run(threads, kind, path, B, T, iters):
    return python_json(TORCH, threads, threads, kind, path, B, T, iters)

cases = [c for c in [("MiniLM-L6", "folder", args.model), ("BERT-base", "config", args.base_config)] if c[0] in args.models]
use_ort = not args.no_ort and have_ort()
rows = []
for name, kind, path in cases:
    for B in [1, 32]:
        for t in args.threads:
            iters = args.iters if B == 1 else max(3, args.iters // 3)
            ours, ref, onx, cls, mem = [], [], [], [], {}
            for _ in range(args.rounds):
                o = kbert(t, kind, path, B, 128, iters); ours.append(o["median_ms"]); mem["kbert"] = o["peak_rss_mb"]
                if args.strassen:
                    c = kbert(t, kind, path, B, 128, iters, "--strassen"); cls.append(c["median_ms"]); mem["strassen"] = c["peak_rss_mb"]
                r = torch_run(t, kind, path, B, 128, iters); ref.append(r["median_ms"]); mem["torch"] = r["peak_rss_mb"]
                if use_ort:
                    x = ort_run(t, kind, path, B, 128, iters, name); onx.append(x["median_ms"]); mem["ort"] = x["peak_rss_mb"]
            row = dict(model=name, batch=B, seq=128, threads=t, kbert_ms=min(ours), torch_ms=min(ref),
                       ratio=min(ours) / min(ref), kbert_rss_mb=mem["kbert"], torch_rss_mb=mem["torch"],
                       ort_ms=min(onx) if onx else None, ort_rss_mb=mem.get("ort"),
                       strassen_ms=min(cls) if cls else None, strassen_rss_mb=mem.get("strassen"))
            rows.append(row)
            print(f"{name} {B}x128 threads={t}: kbert {row['kbert_ms']:.1f} ms, torch {row['torch_ms']:.1f} ms, ratio {row['ratio']:.2f}"
                  + (f", onnxruntime {row['ort_ms']:.1f} ms" if onx else "")
                  + (f", kbert --strassen {row['strassen_ms']:.1f} ms" if cls else ""), file=sys.stderr)

if use_ort:
    print("| model | batch×seq | threads | kbert ms | PyTorch ms | kbert / PyTorch | onnxruntime ms | kbert / onnxruntime | kbert peak RSS MB | PyTorch peak RSS MB | onnxruntime peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['batch']}×{r['seq']} | {r['threads']} | {r['kbert_ms']:.1f} | {r['torch_ms']:.1f} | {r['ratio']:.2f} | "
              f"{r['ort_ms']:.1f} | {r['kbert_ms'] / r['ort_ms']:.2f} | {r['kbert_rss_mb']:.0f} | {r['torch_rss_mb']:.0f} | {r['ort_rss_mb']:.0f} |")
else:
    print("| model | batch×seq | threads | kbert ms | PyTorch ms | kbert / PyTorch | kbert peak RSS MB | PyTorch peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['batch']}×{r['seq']} | {r['threads']} | {r['kbert_ms']:.1f} | {r['torch_ms']:.1f} | {r['ratio']:.2f} | {r['kbert_rss_mb']:.0f} | {r['torch_rss_mb']:.0f} |")
if args.strassen:
    print("\n| model | batch×seq | threads | kbert ms | kbert --strassen ms | speed-up of --strassen | --strassen / PyTorch | kbert peak RSS MB | --strassen peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['batch']}×{r['seq']} | {r['threads']} | {r['kbert_ms']:.1f} | {r['strassen_ms']:.1f} | "
              f"{r['kbert_ms'] / r['strassen_ms']:.3f} | {r['strassen_ms'] / r['torch_ms']:.2f} | {r['kbert_rss_mb']:.0f} | {r['strassen_rss_mb']:.0f} |")
if args.json_out:
    json.dump(rows, open(args.json_out, "w"), indent=1)
