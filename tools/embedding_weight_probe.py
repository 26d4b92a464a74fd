#!/usr/bin/env python3
"""Why `kbert compress --frequency-weighted` (session 21): the fine-tuned STS-B teacher with its word
embedding replaced by a rank-K fit, no training, scored on STS-B dev (Spearman).

Fits compared: the plain truncated SVD (Frobenius-optimal); the row-weighted fit with weights
sqrt(p_token) from token counts on the whole corpus (HF tokenizer), [CLS]/[SEP] as counted (they
do not occur in raw text, so add-one weight only) or counted as the most frequent token (kbert's
rule); uniform weights with [CLS]/[SEP] alone heavy; and the dense embedding.
Usage: python3 tools/embedding_weight_probe.py [--data DIR] [--rank 48] [--teacher runs/finetune/stsb]
"""
import argparse
import csv
import glob
import os

import numpy as np
import torch
from scipy.stats import spearmanr
from transformers import AutoTokenizer, BertForSequenceClassification


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get("KBERT_DATA", "../shared/data"))
    ap.add_argument("--teacher", default="runs/finetune/stsb")
    ap.add_argument("--rank", type=int, default=48)
    a = ap.parse_args()
    torch.set_num_threads(1)
    m = BertForSequenceClassification.from_pretrained(a.teacher).eval()
    tok = AutoTokenizer.from_pretrained(a.teacher)
    with open(f"{a.data}/glue/STS-B/dev.tsv", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    enc = tok([r[7] for r in rows], [r[8] for r in rows], padding=True, truncation=True, max_length=128, return_tensors="pt")
    y = np.array([float(r[9]) for r in rows])
    counts = np.zeros(tok.vocab_size)
    for path in sorted(glob.glob(f"{a.data}/corpus/wikipedia_en/wiki_*")):
        with open(path, encoding="utf-8") as f:
            lines = [l for l in f if l.strip() and not l.startswith("<")]
        for ids in tok(lines, add_special_tokens=False)["input_ids"]:
            np.add.at(counts, ids, 1)
    emb = m.bert.embeddings.word_embeddings.weight.data.clone().double()
    k = a.rank
    special = [tok.cls_token_id, tok.sep_token_id]

    def weighted(c):
        d = np.sqrt((c + 1) / (c + 1).sum())
        d = torch.tensor(d / np.sqrt((d ** 2).mean()))
        u, s, vt = torch.linalg.svd(emb * d[:, None], full_matrices=False)
        return ((u[:, :k] * s[:k]) @ vt[:k]) / d[:, None]

    def score(e):
        m.bert.embeddings.word_embeddings.weight.data = e.float()
        with torch.no_grad():
            p = m(**enc).logits[:, 0].numpy()
        return 100 * spearmanr(p, y).correlation

    u, s, vt = torch.linalg.svd(emb, full_matrices=False)
    boosted = counts.copy(); boosted[special] = counts.max()
    heavy = np.zeros_like(counts); heavy[special] = 1e6
    print(f"| fit of the word embedding (rank {k}) | STS-B dev Spearman |")
    print("|---|---|")
    for name, e in [("plain truncated SVD", (u[:, :k] * s[:k]) @ vt[:k]),
                    ("frequency-weighted, [CLS]/[SEP] as counted in raw text", weighted(counts)),
                    ("uniform, [CLS]/[SEP] alone heavy", weighted(heavy)),
                    ("frequency-weighted, [CLS]/[SEP] as the most frequent (kbert)", weighted(boosted)),
                    ("dense (the teacher)", emb)]:
        print(f"| {name} | {score(e):.2f} |")


if __name__ == "__main__":
    main()
