"""Markdown table of fine-tuning results: kbert (runs/finetune/<task>/eval_results.json) beside the
HF/PyTorch reference with the same recipe (runs/ref/<task>/results.json).

    python3 tools/finetune_table.py [--runs runs]
"""
import argparse, json, os

ap = argparse.ArgumentParser()
ap.add_argument("--runs", default="runs")
args = ap.parse_args()
MAIN = {"rte": "accuracy", "mrpc": "f1", "stsb": "spearman", "cola": "mcc", "sst2": "accuracy"}
print("| task | metric | kbert best dev | PyTorch reference best dev | difference (points) | kbert best epoch | reference best epoch |")
print("|---|---|---|---|---|---|---|")
for task, metric in MAIN.items():
    ours_path = os.path.join(args.runs, "finetune", task, "eval_results.json")
    ref_path = os.path.join(args.runs, "ref", task, "results.json")
    ours = json.load(open(ours_path))["metrics"] if os.path.exists(ours_path) else None
    ref = json.load(open(ref_path)) if os.path.exists(ref_path) else None
    o = ours.get(metric) if ours else None
    r = ref["best"].get(metric) if ref else None
    extra = ""
    if ours:
        other = [f"{k} {v * 100:.2f}" for k, v in ours.items() if k != metric]
        extra = f" ({', '.join(other)})" if other else ""
    diff = f"{(o - r) * 100:+.2f}" if o is not None and r is not None else "—"
    fmt = lambda v: f"{v * 100:.2f}" if v is not None else "(not run)"
    oe = json.load(open(ours_path)).get("epoch", "—") if ours else "—"
    re_ = ref["best"].get("epoch", "—") if ref else "—"
    print(f"| {task} | {metric} | {fmt(o)}{extra} | {fmt(r)} | {diff} | {oe} | {re_} |")

# Tasks fine-tuned over several seeds (scripts/finetune_seeds.sh): seed 42 is the main run,
# other seeds live in <task>-s<seed>. Mean and sample standard deviation over the seeds that both
# engines finished.
import statistics
for task, metric in MAIN.items():
    seeds = sorted(int(d.rsplit("-s", 1)[1]) for d in os.listdir(os.path.join(args.runs, "finetune"))
                   if d.startswith(task + "-s") and d.rsplit("-s", 1)[1].isdigit())
    if not seeds:
        continue
    rows = []
    for s in [42] + seeds:
        tag = task if s == 42 else f"{task}-s{s}"
        op = os.path.join(args.runs, "finetune", tag, "eval_results.json")
        rp = os.path.join(args.runs, "ref", tag, "results.json")
        if os.path.exists(op) and os.path.exists(rp):
            rows.append((s, json.load(open(op))["metrics"][metric] * 100, json.load(open(rp))["best"][metric] * 100))
    if len(rows) < 2:
        continue
    print()
    print(f"{task} over seeds ({metric}, best dev epoch):")
    print()
    print("| seed | kbert | PyTorch reference | difference |")
    print("|---|---|---|---|")
    for s, o, r in rows:
        print(f"| {s} | {o:.2f} | {r:.2f} | {o - r:+.2f} |")
    mo, mr = statistics.mean(o for _, o, _ in rows), statistics.mean(r for _, _, r in rows)
    so, sr = statistics.stdev(o for _, o, _ in rows), statistics.stdev(r for _, _, r in rows)
    print(f"| mean ± sd ({len(rows)} seeds) | {mo:.2f} ± {so:.2f} | {mr:.2f} ± {sr:.2f} | {mo - mr:+.2f} |")
