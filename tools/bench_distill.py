"""Distillation-step throughput: kbert vs a PyTorch implementation of the same step, in the same
run with the same threads (ISSUE 6, item 8).

The step (batch 32 x seq 64, a 2-way task, as stage 2 runs it): teacher forward (no grad) with
every layer's hidden state and pre-softmax attention scores; student forward with dropout 0.1;
the five terms (embedding-output MSE, per-layer score MSE, per-layer hidden MSE, soft
cross-entropy at T = 1, cross-entropy); backward; clipping at norm 1; AdamW. The PyTorch student
has the same Kronecker layers (each a reshape and two large GEMMs in the cheaper order, autograd
for the backward), the same factored word embedding, and the same dense parts.

    python3 tools/bench_distill.py [--kbert .build/release/kbert] [--iters 5] [--threads 1 2]

Cases: all-MiniLM-L6-v2 teacher with the ratio-8 and ratio-21 students of scripts/kd_full.sh
(runs/kd/r8/init, runs/kd/r21/init; made on the fly when absent), and the BERT-base config
(random weights) with the kb8 student.
"""
import atexit, json, pathlib, shutil, subprocess, sys, tempfile
from benchlib import KD_SHAPES, ROOT, kbert_json, median, parser, python_json

ap = parser(__doc__, iters=5)
ap.add_argument("--repeats", type=int, default=2, help="alternate kbert / PyTorch this many times; medians of all")
ap.add_argument("--cases", nargs="+", default=["MiniLM r8", "MiniLM r21", "BERT-base kb8"])
args = ap.parse_args()

TORCH = r'''
import json, math, os, sys, time, resource, torch
import torch.nn as nn, torch.nn.functional as F
threads, teacher_cfg, student_cfg, B, T, iters = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
torch.set_num_threads(threads); torch.manual_seed(0)

class KronLinear(nn.Module):
    """y = x (sum_k A_k (x) B_k)^T + bias, never forming the product."""
    def __init__(self, a, b, rank):
        super().__init__()
        (m1, n1), (m2, n2) = a, b
        self.m1, self.n1, self.m2, self.n2 = m1, n1, m2, n2
        self.A = nn.Parameter(torch.randn(rank, m1, n1) * 0.05)
        self.B = nn.Parameter(torch.randn(rank, m2, n2) * 0.05)
        self.bias = nn.Parameter(torch.zeros(m1 * m2))
        self.b_first = n1 * n2 * m2 + m1 * n1 * m2 <= m1 * n1 * n2 + m1 * n2 * m2
    def forward(self, x):
        lead = x.shape[:-1]; N = x.numel() // (self.n1 * self.n2)
        X = x.reshape(N, self.n1, self.n2)
        y = 0
        for k in range(self.A.shape[0]):
            A, Bm = self.A[k], self.B[k]
            if self.b_first:   # (X Bᵀ): one GEMM over N·n1 rows, then A over (n1, N·m2)
                t = (X.reshape(N * self.n1, self.n2) @ Bm.t()).reshape(N, self.n1, self.m2)
                t = t.permute(1, 0, 2).reshape(self.n1, N * self.m2)
                yk = (A @ t).reshape(self.m1, N, self.m2).permute(1, 0, 2)
            else:               # (A X) first, then Bᵀ over N·m1 rows
                t = X.permute(1, 0, 2).reshape(self.n1, N * self.n2)
                t = (A @ t).reshape(self.m1, N, self.n2).permute(1, 0, 2).reshape(N * self.m1, self.n2)
                yk = (t @ Bm.t()).reshape(N, self.m1, self.m2)
            y = y + yk
        return y.reshape(*lead, self.m1 * self.m2) + self.bias

class KronEmbedding(nn.Module):
    def __init__(self, a, b):
        super().__init__()
        self.A = nn.Parameter(torch.randn(*a) * 0.05); self.b = nn.Parameter(torch.randn(b[1]) * 0.05)
    def forward(self, ids):
        e = self.A[ids]
        return (e.unsqueeze(-1) * self.b).reshape(*ids.shape, -1)

class Bert(nn.Module):
    def __init__(self, c, kron, labels=2):
        super().__init__()
        H, I, L = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
        self.nh = c["num_attention_heads"]; self.p = c.get("hidden_dropout_prob", 0.1)
        def lin(name, o, i):
            k = kron.get(name)
            return KronLinear(k["a"], k["b"], k.get("rank", 1)) if k else nn.Linear(i, o)
        k = kron.get("embeddings.word_embeddings")
        self.word = KronEmbedding(k["a"], k["b"]) if k else nn.Embedding(c["vocab_size"], H)
        self.pos = nn.Embedding(c["max_position_embeddings"], H); self.typ = nn.Embedding(c.get("type_vocab_size", 2), H)
        self.eln = nn.LayerNorm(H, eps=c.get("layer_norm_eps", 1e-12))
        self.layers = nn.ModuleList()
        for l in range(L):
            p = f"encoder.layer.{l}."
            m = nn.Module()
            m.q, m.k, m.v = (lin(p + f"attention.self.{n}", H, H) for n in ("query", "key", "value"))
            m.o = lin(p + "attention.output.dense", H, H); m.ln1 = nn.LayerNorm(H, eps=c.get("layer_norm_eps", 1e-12))
            m.f1 = lin(p + "intermediate.dense", I, H); m.f2 = lin(p + "output.dense", H, I)
            m.ln2 = nn.LayerNorm(H, eps=c.get("layer_norm_eps", 1e-12))
            self.layers.append(m)
        self.pool = nn.Linear(H, H); self.cls = nn.Linear(H, labels)
    def forward(self, ids):
        Bn, Tn = ids.shape; H = self.pos.weight.shape[1]; dh = H // self.nh
        x = self.word(ids) + self.pos.weight[:Tn] + self.typ.weight[0]
        x = F.dropout(self.eln(x), self.p, self.training)
        hidden, scores = [x], []
        for m in self.layers:
            sp = lambda t: t.view(Bn, Tn, self.nh, dh).transpose(1, 2)
            q, k, v = sp(m.q(x)), sp(m.k(x)), sp(m.v(x))
            s = q @ k.transpose(-1, -2) / math.sqrt(dh)
            scores.append(s)
            a = F.dropout(s.softmax(-1), self.p, self.training) @ v
            a = a.transpose(1, 2).reshape(Bn, Tn, H)
            x = m.ln1(x + F.dropout(m.o(a), self.p, self.training))
            x = m.ln2(x + F.dropout(m.f2(F.gelu(m.f1(x))), self.p, self.training))
            hidden.append(x)
        logits = self.cls(F.dropout(torch.tanh(self.pool(x[:, 0])), self.p, self.training))
        return hidden, scores, logits

tc = json.load(open(teacher_cfg)); sc = json.load(open(student_cfg))
teacher = Bert(tc, {}).eval(); student = Bert(sc, sc.get("kronecker", {}).get("layers", {})).train()
opt = torch.optim.AdamW(student.parameters(), lr=1e-5, weight_decay=0.01)
ids = torch.randint(0, tc["vocab_size"], (B, T)); labels = torch.randint(0, 2, (B,))
ts = []
for i in range(iters + 1):
    t0 = time.perf_counter()
    opt.zero_grad()
    with torch.no_grad():
        th, tsc, tl = teacher(ids)
    sh, ssc, sl = student(ids)
    loss = F.mse_loss(sh[0], th[0])
    loss = loss + sum(F.mse_loss(a, b) for a, b in zip(ssc, tsc)) + sum(F.mse_loss(a, b) for a, b in zip(sh[1:], th[1:]))
    loss = loss - (tl.softmax(-1) * sl.log_softmax(-1)).sum(-1).mean() + F.cross_entropy(sl, labels)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
    opt.step()
    if i: ts.append(time.perf_counter() - t0)
ts.sort()
print(json.dumps({"median_ms": ts[len(ts)//2] * 1e3, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "student_parameters": sum(p.numel() for p in student.parameters())}))
'''

tmp = pathlib.Path(tempfile.mkdtemp(prefix="kb-bench-distill-"))
atexit.register(shutil.rmtree, tmp, ignore_errors=True)   # the students made on the fly

def student_dir(kind):
    """A student folder for a case: the kd_full.sh init students, or kb8 on BERT-base."""
    if kind in ("r8", "r21"):
        d = ROOT / f"runs/kd/{kind}/init"
        if not (d / "model.safetensors").exists():
            d = tmp / kind
            subprocess.run([args.kbert, "compress", "--model", args.model, "--out", str(d), *KD_SHAPES[kind]], check=True, capture_output=True)
        return d
    d = tmp / kind
    subprocess.run([args.kbert, "compress", "--config", args.base_config, "--out", str(d), "--preset", kind], check=True, capture_output=True)
    return d

def kbert(t, teacher_flag, sdir):
    return kbert_json(args.kbert, "bench", "--mode", "distill", *teacher_flag, "--student", sdir, "--batch", 32, "--seq", 64,
                      "--threads", t, "--iters", args.iters, "--warmup", 1, "--json")

def torch_run(t, tcfg, scfg):
    return python_json(TORCH, t, t, tcfg, scfg, 32, 64, args.iters)

rows = []
for case in args.cases:
    name, kind = case.split()
    sdir = student_dir(kind)
    if name == "MiniLM":
        tflag, tcfg = ["--model", args.model], pathlib.Path(args.model) / "config.json"
    else:
        tflag, tcfg = ["--config", args.base_config], pathlib.Path(args.base_config)
    for t in args.threads:
        ks, ps = [], []
        for _ in range(args.repeats):
            ks.append(kbert(t, tflag, sdir)); ps.append(torch_run(t, tcfg, sdir / "config.json"))
        k_ms, p_ms = median([k["median_ms"] for k in ks]), median([p["median_ms"] for p in ps])
        row = {"case": case, "threads": t, "kbert_ms": k_ms, "torch_ms": p_ms,
               "kbert_tokens_per_s": 2048 / k_ms * 1e3, "torch_tokens_per_s": 2048 / p_ms * 1e3, "speedup": p_ms / k_ms,
               "kbert_peak_rss_mb": max(k["peak_rss_mb"] for k in ks), "torch_peak_rss_mb": max(p["peak_rss_mb"] for p in ps)}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)

print(f"\n{'case':<16}{'thr':>4}{'kbert tok/s':>13}{'torch tok/s':>13}{'kbert/torch':>13}{'kbert RSS':>11}{'torch RSS':>11}")
for r in rows:
    print(f"{r['case']:<16}{r['threads']:>4}{r['kbert_tokens_per_s']:>13.0f}{r['torch_tokens_per_s']:>13.0f}{r['speedup']:>12.2f}x"
          f"{r['kbert_peak_rss_mb']:>9.0f}MB{r['torch_peak_rss_mb']:>9.0f}MB")
