"""Reference fine-tune with Hugging Face / PyTorch, the same recipe as `kbert finetune`:
AdamW (wd 0.01, none on biases and LayerNorm), linear warm-up (fraction of steps) then decay,
clip 1.0, dropout on, shuffled batches with dynamic padding, dev evaluation after each epoch,
best dev metric reported. Writes OUT/results.json.

    python3 tools/ref_finetune.py --task rte --out runs/ref/rte [--epochs 3 --lr 5e-5 --batch-size 32 --max-length 128]
"""
import argparse, json, os, pathlib, random, time
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
import numpy as np, torch
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef
from transformers import BertForSequenceClassification, BertTokenizerFast, get_linear_schedule_with_warmup

ROOT = pathlib.Path(__file__).resolve().parent.parent
ap = argparse.ArgumentParser()
ap.add_argument("--model", default=str(ROOT / "models/all-MiniLM-L6-v2"))
ap.add_argument("--data", default=os.environ.get("KBERT_DATA", str(ROOT.parent / "shared/data")) + "/glue")
ap.add_argument("--task", required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--epochs", type=int, default=3)
ap.add_argument("--lr", type=float, default=5e-5)
ap.add_argument("--batch-size", type=int, default=32)
ap.add_argument("--max-length", type=int, default=128)
ap.add_argument("--warmup", type=float, default=0.1)
ap.add_argument("--seed", type=int, default=42)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--max-steps", type=int, default=None, help="stop after this many optimizer steps (then evaluate)")
args = ap.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(args.seed); random.seed(args.seed); np.random.seed(args.seed)

# Same readers as KBData (columns by header name; CoLA without header).
SPEC = {"cola": ("CoLA", None, 3, None, 1, ["0", "1"]), "sst2": ("SST-2", "sentence", None, None, "label", ["0", "1"]),
        "mrpc": ("MRPC", "#1 String", "#2 String", None, "Quality", ["0", "1"]),
        "stsb": ("STS-B", "sentence1", "sentence2", None, "score", None),
        "rte": ("RTE", "sentence1", "sentence2", None, "label", ["entailment", "not_entailment"])}
folder, ca, cb, _, cl, labels = SPEC[args.task]

def read(split):
    text = (pathlib.Path(args.data) / folder / f"{split}.tsv").read_text(encoding="utf-8-sig")
    lines = [l for l in text.split("\n") if l]
    if args.task == "cola":
        rows = [l.split("\t") for l in lines]
        return [(r[3], None, labels.index(r[1])) for r in rows]
    head = lines[0].split("\t"); idx = {c: i for i, c in enumerate(head)}
    out = []
    for l in lines[1:]:
        f = l.split("\t")
        y = float(f[idx[cl]]) if labels is None else labels.index(f[idx[cl]])
        out.append((f[idx[ca]], f[idx[cb]] if cb else None, y))
    return out

tok = BertTokenizerFast.from_pretrained(args.model)
nl = 1 if labels is None else len(labels)
model = BertForSequenceClassification.from_pretrained(args.model, num_labels=nl, attn_implementation="eager")
train, dev = read("train"), read("dev")

def batches(data, shuffle):
    order = list(range(len(data)))
    if shuffle: random.shuffle(order)
    for i in range(0, len(order), args.batch_size):
        chunk = [data[j] for j in order[i:i + args.batch_size]]
        a = [c[0] for c in chunk]; b = [c[1] for c in chunk] if chunk[0][1] is not None else None
        enc = tok(a, b, truncation=True, max_length=args.max_length, padding=True, return_tensors="pt")
        y = torch.tensor([c[2] for c in chunk], dtype=torch.float if nl == 1 else torch.long)
        yield enc, y

def evaluate():
    model.eval(); preds = []
    with torch.no_grad():
        for enc, _ in batches(dev, False):
            lg = model(**enc).logits
            preds += (lg[:, 0] if nl == 1 else lg.argmax(-1)).tolist()
    model.train()
    gold = [d[2] for d in dev]
    if nl == 1: return {"spearman": spearmanr(preds, gold)[0], "pearson": pearsonr(preds, gold)[0]}
    if args.task == "cola": return {"mcc": matthews_corrcoef(gold, preds), "accuracy": accuracy_score(gold, preds)}
    if args.task == "mrpc": return {"f1": f1_score(gold, preds), "accuracy": accuracy_score(gold, preds)}
    return {"accuracy": accuracy_score(gold, preds)}

decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
nodecay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": nodecay, "weight_decay": 0.0}], lr=args.lr)
steps = args.epochs * ((len(train) + args.batch_size - 1) // args.batch_size)
if args.max_steps: steps = min(steps, args.max_steps)
sched = get_linear_schedule_with_warmup(opt, int(args.warmup * steps), steps)
model.train(); history = []; t0 = time.time(); done = 0
for epoch in range(args.epochs):
    for enc, y in batches(train, True):
        if done >= steps: break
        out = model(**enc, labels=y)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step(); sched.step(); opt.zero_grad(); done += 1
    m = evaluate(); m["epoch"] = epoch + 1; history.append(m)
    print(json.dumps(m), flush=True)
main = list(history[0].keys())[0]
best = max(history, key=lambda h: h[main])
os.makedirs(args.out, exist_ok=True)
json.dump({"task": args.task, "best": best, "history": history, "seconds": time.time() - t0, "args": vars(args)},
          open(os.path.join(args.out, "results.json"), "w"), indent=1)
print("best", json.dumps(best))
