#!/usr/bin/env python3
"""How much of a fine-tuned teacher's dev score survives its pooler at rank K (session 21).

For each task, loads runs/finetune/TASK (HF layout, written by `kbert finetune`) in PyTorch, runs the
dev set once up to the [CLS] hidden state, then replaces the pooler matrix by its rank-K truncated
SVD and reports the relative error and the task's dev metric (MRPC F1, STS-B Spearman, RTE
accuracy) for K in 4, 8, 16, 32, 64 and 384 (the dense pooler).
Usage: python3 tools/pooler_rank_probe.py [--data DIR] mrpc stsb rte
"""
import argparse
import csv
import os

import numpy as np
import torch
from scipy.stats import spearmanr
from transformers import AutoTokenizer, BertForSequenceClassification


def dev_rows(root, task):
    folder = {"mrpc": "MRPC", "stsb": "STS-B", "rte": "RTE"}[task]
    with open(f"{root}/glue/{folder}/dev.tsv", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    if task == "mrpc":
        return [(r[3], r[4], int(r[0])) for r in rows]
    if task == "stsb":
        return [(r[7], r[8], float(r[9])) for r in rows]
    return [(r[1], r[2], 0 if r[3] == "entailment" else 1) for r in rows]


def score(task, logits, y):
    if task == "stsb":
        return 100 * spearmanr(logits[:, 0], y).correlation
    p = logits.argmax(1)
    if task == "mrpc":
        tp = ((p == 1) & (y == 1)).sum()
        return 200 * tp / (p.sum() + y.sum())
    return 100 * (p == y).mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tasks", nargs="+")
    ap.add_argument("--data", default=os.environ.get("KBERT_DATA", "../shared/data"))
    ap.add_argument("--runs", default="runs/finetune")
    a = ap.parse_args()
    torch.set_num_threads(1)
    for task in a.tasks:
        m = BertForSequenceClassification.from_pretrained(f"{a.runs}/{task}").eval()
        tok = AutoTokenizer.from_pretrained(f"{a.runs}/{task}")
        data = dev_rows(a.data, task)
        enc = tok([r[0] for r in data], [r[1] for r in data], padding=True, truncation=True, max_length=128, return_tensors="pt")
        y = np.array([r[2] for r in data])
        with torch.no_grad():
            h = m.bert(**enc).last_hidden_state[:, 0]
            w, b = m.bert.pooler.dense.weight, m.bert.pooler.dense.bias
            u, s, vt = torch.linalg.svd(w)
            print(f"| {task} | K | relative error | dev score |")
            for k in [4, 8, 16, 32, 64, w.shape[0]]:
                wk = (u[:, :k] * s[:k]) @ vt[:k]
                logits = m.classifier(torch.tanh(h @ wk.T + b)).numpy()
                err = (torch.linalg.norm(w - wk) / torch.linalg.norm(w)).item()
                print(f"| {task} | {k} | {err:.3f} | {score(task, logits, y):.2f} |")


if __name__ == "__main__":
    main()
