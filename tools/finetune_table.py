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
