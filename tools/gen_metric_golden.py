"""Metric fixtures from scikit-learn / scipy: random predictions against random gold labels.

    python tools/gen_metric_golden.py   ->  Tests/KBDataTests/Fixtures/metrics_golden.json
"""
import json, pathlib
import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

OUT = pathlib.Path(__file__).resolve().parent.parent / "Tests/KBDataTests/Fixtures/metrics_golden.json"
rng = np.random.default_rng(0)
cases = []
for n, k in [(10, 2), (57, 2), (200, 3), (31, 2)]:
    gold = rng.integers(0, k, n).tolist()
    pred = [g if rng.random() < 0.7 else int(rng.integers(0, k)) for g in gold]
    c = dict(pred=pred, gold=gold, accuracy=accuracy_score(gold, pred), mcc=matthews_corrcoef(gold, pred))
    if k == 2:
        c["f1"] = f1_score(gold, pred)
    cases.append(c)
cases.append(dict(pred=[0] * 8, gold=[0, 1] * 4, accuracy=0.5, mcc=matthews_corrcoef([0, 1] * 4, [0] * 8), f1=f1_score([0, 1] * 4, [0] * 8, zero_division=0)))
reg = []
for n in [5, 40, 300]:
    x = np.round(rng.uniform(0, 5, n), 1)           # rounded: ties exercise average ranks
    y = np.round(x + rng.normal(0, 1, n), 1)
    reg.append(dict(x=x.tolist(), y=y.tolist(), pearson=float(pearsonr(x, y)[0]), spearman=float(spearmanr(x, y)[0])))
OUT.write_text(json.dumps(dict(classification=cases, regression=reg), indent=0))
print("wrote", OUT)
