"""How closely students follow their teacher on a GLUE task's dev set: accuracy (or, for STS-B,
Spearman), the share of dev examples where the student predicts the teacher's class (not for
STS-B), and the
correlation of the student's decision margins (logit differences; STS-B: scores) with the
teacher's. Runs `kbert run --pooled-only` on each model folder.

    python3 tools/agreement.py --task rte --teacher runs/finetune/rte runs/kd/r8q-8m/rte-aug4 ...
"""
import argparse, csv, os, subprocess, sys, tempfile
import numpy as np
from safetensors.numpy import load_file

# dev.tsv columns (text a, text b or None, label) and the label order of the classifier.
TASKS = {
    "rte": (1, 2, 3, ["entailment", "not_entailment"]),
    "mrpc": (3, 4, 0, ["0", "1"]),
    "stsb": (7, 8, 9, None),
    "sst2": (0, None, 1, ["0", "1"]),
    "cola": (3, None, 1, ["0", "1"]),
}

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--task", required=True, choices=sorted(TASKS))
ap.add_argument("--teacher", required=True)
ap.add_argument("students", nargs="+")
ap.add_argument("--kbert", default=".build/release/kbert")
ap.add_argument("--data", default=os.environ.get("KBERT_DATA", "../shared/data") + "/glue")
args = ap.parse_args()

folder = {"rte": "RTE", "mrpc": "MRPC", "stsb": "STS-B", "sst2": "SST-2", "cola": "CoLA"}[args.task]
a, b, y, names = TASKS[args.task]
path = f"{args.data}/{folder}/dev.tsv"
with open(path, newline="") as f:
    rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
if args.task != "cola":
    rows = rows[1:]   # CoLA's dev has no header
text = "".join(r[a] + ("\t" + r[b] if b is not None else "") + "\n" for r in rows)
gold = np.array([float(r[y]) if names is None else names.index(r[y]) for r in rows])

def logits(model, tmp):
    out = os.path.join(tmp, "out.safetensors")
    r = subprocess.run([args.kbert, "run", "--model", model, "--input", os.path.join(tmp, "in.txt"), "--output", out,
                        "--max-length", "128", "--pooled-only", "--threads", "1"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{model}: kbert run failed: {r.stderr.strip()}")
    return load_file(out)["logits"]

def spearman(x, z):
    from scipy.stats import spearmanr   # ties get average ranks, as GLUE's scorer
    return spearmanr(x, z)[0]

with tempfile.TemporaryDirectory() as tmp:
    with open(os.path.join(tmp, "in.txt"), "w") as f:
        f.write(text)
    t = logits(args.teacher, tmp)
    print(f"| model | {'spearman' if names is None else 'accuracy'} | agreement with the teacher | margin correlation |")
    print("|---|---|---|---|")
    for m in [args.teacher] + args.students:
        s = t if m == args.teacher else logits(m, tmp)
        if names is None:
            score, agree, ms, mt = spearman(s[:, 0], gold), float("nan"), s[:, 0], t[:, 0]
        else:
            p = s.argmax(1)
            score, agree = (p == gold).mean(), (p == t.argmax(1)).mean()
            ms, mt = s[:, 1] - s[:, 0], t[:, 1] - t[:, 0]
        shown = "—" if np.isnan(agree) else f"{100 * agree:.2f}%"
        print(f"| `{m}` | {100 * score:.2f} | {shown} | {np.corrcoef(ms, mt)[0, 1]:.3f} |")
