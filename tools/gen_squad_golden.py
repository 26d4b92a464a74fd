"""Golden data for SQuAD in Swift: question-answering features, answer extraction and the official
metrics (versions pinned in tools/requirements.txt).

Writes Tests/KBDataTests/Fixtures/squad_golden.json with
  features     SQuAD examples cut into model inputs as Hugging Face's `run_qa.py` does
               (`prepare_train_features` / `prepare_validation_features`): the fast tokenizer with
               truncation="only_second", return_overflowing_tokens and a document stride; each
               feature's ids, type ids, per-token context offsets (null outside the context) and the
               training labels (start and end token; [CLS] when the answer is not in the window)
  postprocess  seeded random start/end logits for those features and the answer text that
               `utils_qa.postprocess_qa_predictions` picks (n-best 20, at most 30 tokens; SQuAD 2.0:
               the null answer when its score beats the best span's)
  metrics      per prediction the exact match and F1 of the official scorers, evaluate-v1.1.py and
               evaluate-v2.0.py (their normalisation: lower case, ASCII punctuation and the articles
               a/an/the removed, whitespace collapsed), on hand-written hard cases

The algorithms are transcribed from those scripts (SQuAD's official scorers; transformers'
examples/pytorch/question-answering), with one deliberate change to the training labels:
`run_qa.py` walks the start token forward while its offset starts at or before the answer, and
past the window's end ([SEP] and padding have offset (0, 0)) when the answer starts on the
window's last token; here, as in the Swift code, the walk stops at the window's last context token.

    python tools/gen_squad_golden.py [--data ../shared/data] [--model models/all-MiniLM-L6-v2]
"""
import argparse, collections, json, os, pathlib, re, string
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
ap = argparse.ArgumentParser()
ap.add_argument("--data", default=os.environ.get("KBERT_DATA", str(ROOT.parent / "shared/data")))
ap.add_argument("--model", default=str(ROOT / "models/all-MiniLM-L6-v2"))
ap.add_argument("--out", default=str(ROOT / "Tests/KBDataTests/Fixtures/squad_golden.json"))
args = ap.parse_args()

from transformers import BertTokenizerFast
tok = BertTokenizerFast.from_pretrained(args.model)


# ---- the official scorers' normalisation and per-question scores ----
def normalize_answer(s):
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)
    def white_space_fix(text):
        return " ".join(text.split())
    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)
    return white_space_fix(remove_articles(remove_punc(s.lower())))


def f1_v1(prediction, ground_truth):
    p, g = normalize_answer(prediction).split(), normalize_answer(ground_truth).split()
    common = collections.Counter(p) & collections.Counter(g)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision, recall = num_same / len(p), num_same / len(g)
    return 2 * precision * recall / (precision + recall)


def f1_v2(a_gold, a_pred):
    g, p = normalize_answer(a_gold).split() if a_gold else [], normalize_answer(a_pred).split() if a_pred else []
    common = collections.Counter(g) & collections.Counter(p)
    num_same = sum(common.values())
    if len(g) == 0 or len(p) == 0:
        return float(g == p)
    if num_same == 0:
        return 0.0
    precision, recall = num_same / len(p), num_same / len(g)
    return 2 * precision * recall / (precision + recall)


def scores(pred, golds):
    em1 = max(float(normalize_answer(pred) == normalize_answer(g)) for g in golds)
    f11 = max(f1_v1(pred, g) for g in golds)
    g2 = [g for g in golds if normalize_answer(g)] or [""]
    em2 = max(float(normalize_answer(g) == normalize_answer(pred)) for g in g2)
    f12 = max(f1_v2(g, pred) for g in g2)
    return dict(prediction=pred, golds=golds, exact_v1=em1, f1_v1=f11, exact_v2=em2, f1_v2=f12)


metric_cases = [
    ("Denver Broncos", ["Denver Broncos", "the Denver Broncos"]),
    ("the Broncos", ["Denver Broncos"]),
    ("The  Broncos!", ["broncos"]),
    ("an apple a day", ["apple day", "An apple"]),
    ("anatomy of the theory", ["anatomy theory"]),
    ("Theodore's 'a' team", ["theodores team"]),
    ("1,000", ["1000"]),
    ("$3.5 million", ["3.5 million", "$3.5"]),
    ("Süleyman the Magnificent", ["SÜLEYMAN MAGNIFICENT"]),
    ("über—alles", ["über alles", "uberalles"]),
    ("café au lait", ["cafe au lait"]),
    ("Zürich (city)", ["zurich", "Zürich"]),
    ("", ["Denver"]),
    ("", [""]),
    ("the", ["a"]),
    ("Denver", [""]),
    ("a b c d e f", ["a b c"]),
    ("x y x y", ["x y y"]),
    ("tab\tand\nnewline", ["tab and newline"]),
    ("_under_score_", ["under score"]),
    ("l'an 2000", ["l an 2000"]),
    ("« quoted »", ["quoted"]),
    ("the the the", ["the"]),
    ("A.D. 1066", ["AD 1066"]),
    ("ΑΒΓ the δ", ["αβγ δ"]),
    ("İstanbul", ["i̇stanbul", "istanbul"]),
    ("x\u00a0y", ["x y"]),
    ("anthe an-the", ["anthe"]),
    ("ΟΔΟΣ ΣΑΣ Σ", ["οδος σας σ"]),
    ("ὈΔΥΣΣΕΎΣ.", ["ὀδυσσεύς"]),
    ("x\x1fy", ["x y"]),
    ("a\u0301 the\u0301", ["the\u0301"]),
    ("caf\u00e9 noir", ["cafe\u0301 noir", "CAF\u00c9"]),
]
metrics = [scores(p, g) for p, g in metric_cases]


# ---- features (run_qa.py's preprocessing) ----
def load(path):
    d = json.load(open(path, encoding="utf-8"))
    out = []
    for art in d["data"]:
        for para in art["paragraphs"]:
            for qa in para["qas"]:
                out.append(dict(id=qa["id"], question=qa["question"], context=para["context"],
                                answers=[dict(text=a["text"], answer_start=a["answer_start"]) for a in qa["answers"]],
                                is_impossible=bool(qa.get("is_impossible", False))))
    return out


def features_for(examples, max_length, stride):
    enc = tok([e["question"].lstrip() for e in examples], [e["context"] for e in examples], truncation="only_second",
              max_length=max_length, stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True)
    feats = []
    for i in range(len(enc["input_ids"])):
        ids, seq = enc["input_ids"][i], enc.sequence_ids(i)
        offsets = [list(o) if seq[k] == 1 else None for k, o in enumerate(enc["offset_mapping"][i])]
        ex = examples[enc["overflow_to_sample_mapping"][i]]
        cls = ids.index(tok.cls_token_id)
        start = end = cls
        if ex["answers"]:
            sc = ex["answers"][0]["answer_start"]
            ec = sc + len(ex["answers"][0]["text"])
            first = seq.index(1)
            last = len(ids) - 1
            while seq[last] != 1:
                last -= 1
            if offsets[first][0] <= sc and offsets[last][1] >= ec:
                s = first
                while s <= last and offsets[s][0] <= sc:       # run_qa.py: s < len(offsets) (see above)
                    s += 1
                e = last
                while offsets[e][1] >= ec:
                    e -= 1
                start, end = s - 1, e + 1
        feats.append(dict(example=int(enc["overflow_to_sample_mapping"][i]), ids=ids, type_ids=enc["token_type_ids"][i],
                          offsets=offsets, start=start, end=end))
    return feats


# ---- answer extraction (utils_qa.postprocess_qa_predictions) ----
def postprocess(ex, feats, starts, ends, v2, n_best=20, max_answer_length=30):
    min_null, prelim = None, []
    for f, s_logits, e_logits in zip(feats, starts, ends):
        offs = f["offsets"]
        null_score = s_logits[0] + e_logits[0]
        if min_null is None or min_null["score"] > null_score:
            min_null = dict(offsets=(0, 0), score=null_score, start_logit=s_logits[0], end_logit=e_logits[0])
        s_idx = np.argsort(s_logits)[-1: -n_best - 1: -1].tolist()
        e_idx = np.argsort(e_logits)[-1: -n_best - 1: -1].tolist()
        for si in s_idx:
            for ei in e_idx:
                if si >= len(offs) or ei >= len(offs) or offs[si] is None or offs[ei] is None:
                    continue
                if ei < si or ei - si + 1 > max_answer_length:
                    continue
                prelim.append(dict(offsets=(offs[si][0], offs[ei][1]), score=s_logits[si] + e_logits[ei],
                                   start_logit=s_logits[si], end_logit=e_logits[ei]))
    if v2 and min_null is not None:
        prelim.append(min_null)
        null_score = min_null["score"]
    preds = sorted(prelim, key=lambda x: x["score"], reverse=True)[:n_best]
    if v2 and min_null is not None and not any(p["offsets"] == (0, 0) for p in preds):
        preds.append(min_null)
    for p in preds:
        p["text"] = ex["context"][p["offsets"][0]: p["offsets"][1]]
    if len(preds) == 0 or (len(preds) == 1 and preds[0]["text"] == ""):
        preds.insert(0, dict(text="empty", start_logit=0.0, end_logit=0.0, score=0.0))
    if not v2:
        return preds[0]["text"]
    i = 0
    while preds[i]["text"] == "":
        i += 1
    best = preds[i]
    diff = null_score - best["start_logit"] - best["end_logit"]
    return "" if diff > 0.0 else best["text"]


root = pathlib.Path(args.data) / "squad"
v1 = load(root / "dev-v1.1.json")
v2 = load(root / "dev-v2.0.json")
rng = np.random.default_rng(0)
# Varied picks: the longest contexts (several windows), answers near the end of a context, short
# ones, and SQuAD 2.0's unanswerable questions.
by_len = sorted(range(len(v1)), key=lambda i: -len(v1[i]["context"]))
late = sorted(range(len(v1)), key=lambda i: -(v1[i]["answers"][0]["answer_start"] / len(v1[i]["context"])))
picks1 = list(dict.fromkeys(by_len[:2] + late[:3] + rng.choice(len(v1), 7, replace=False).tolist()))
imp = [i for i, e in enumerate(v2) if e["is_impossible"]]
ans = [i for i, e in enumerate(v2) if not e["is_impossible"]]
picks2 = rng.choice(imp, 4, replace=False).tolist() + rng.choice(ans, 2, replace=False).tolist()

sets = []
for name, exs, v2flag, max_length, stride in [("v1.1-128-32", [v1[i] for i in picks1], False, 128, 32),
                                               ("v1.1-384-128", [v1[i] for i in by_len[:1] + picks1[-2:]], False, 384, 128),
                                               ("v2.0-96-24", [v2[i] for i in picks2], True, 96, 24)]:
    feats = features_for(exs, max_length, stride)
    starts, ends, answers = [], [], []
    for f in feats:
        n = len(f["ids"])
        s = rng.normal(0, 2, n).astype(np.float32)
        e = rng.normal(0, 2, n).astype(np.float32)
        # make the labels likely winners now and then, so that real spans are picked
        if rng.random() < 0.5:
            s[f["start"]] += 6; e[f["end"]] += 6
        # float32's shortest round-trip text: the same float32 on both sides, and no ties
        starts.append([float(str(x)) for x in s]); ends.append([float(str(x)) for x in e])
    for k, ex in enumerate(exs):
        idx = [j for j, f in enumerate(feats) if f["example"] == k]
        answers.append(postprocess(ex, [feats[j] for j in idx], [np.array(starts[j], np.float32) for j in idx],
                                   [np.array(ends[j], np.float32) for j in idx], v2flag))
    sets.append(dict(name=name, version_2=v2flag, max_length=max_length, doc_stride=stride, examples=exs, features=feats,
                     start_logits=starts, end_logits=ends, answers=answers))
    print(name, len(exs), "examples", len(feats), "features")

out = pathlib.Path(args.out)
out.write_text(json.dumps(dict(sets=sets, metrics=metrics), ensure_ascii=False, separators=(",", ":")))
print("wrote", out, out.stat().st_size, "bytes")
