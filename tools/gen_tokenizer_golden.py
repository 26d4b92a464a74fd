"""Golden data for the Swift tokenizer, from Hugging Face's BertTokenizer (transformers 5.x, backed by
`tokenizers`; versions pinned in tools/requirements.txt).

Writes into Tests/KBTokenizerTests/Fixtures/:
  golden_index.json   one entry per data set: source file, columns, max length, example count, and
                      how often the legacy pure-Python tokenizer (BertTokenizerLegacy) disagrees
  golden_hashes.bin   per example two little-endian uint32 FNV-1a hashes: (input_ids, token_type_ids)
                      and (offsets), so that 130k encodings take 1 MB instead of 15 MB
  adversarial.json    hand-written hard cases with their full ids, type ids and offsets
  unicode_reference.txt  for every code point: what the normalizer makes of it and whether the
                      pre-tokenizer treats it as punctuation or whitespace (run-length encoded)

    python tools/gen_tokenizer_golden.py [--data ../shared/data] [--model models/all-MiniLM-L6-v2]
"""
import argparse, json, os, pathlib, struct, sys
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

ROOT = pathlib.Path(__file__).resolve().parent.parent
ap = argparse.ArgumentParser()
ap.add_argument("--data", default=os.environ.get("KBERT_DATA", str(ROOT.parent / "shared/data")))
ap.add_argument("--model", default=str(ROOT / "models/all-MiniLM-L6-v2"))
ap.add_argument("--out", default=str(ROOT / "Tests/KBTokenizerTests/Fixtures"))
ap.add_argument("--no-legacy", action="store_true")
args = ap.parse_args()

from transformers import BertTokenizer, BertTokenizerFast
from transformers.models.bert import BertTokenizerLegacy

fast = BertTokenizerFast.from_pretrained(args.model)
assert BertTokenizer is BertTokenizerFast or isinstance(BertTokenizer.from_pretrained(args.model), type(fast))
legacy = None if args.no_legacy else BertTokenizerLegacy.from_pretrained(args.model)
out = pathlib.Path(args.out)
out.mkdir(parents=True, exist_ok=True)


def fnv(values):
    h = 0x811C9DC5
    for b in struct.pack(f"<{len(values)}i", *values):
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def encode(tok, a, b, max_length):
    kw = dict(truncation="longest_first", max_length=max_length) if max_length else dict(truncation=False)
    return tok(a, b, return_offsets_mapping=tok is fast, return_token_type_ids=True, **kw)


def record(enc):
    ids, types = enc["input_ids"], enc["token_type_ids"]
    offs = [x for pair in enc["offset_mapping"] for x in pair]
    return fnv(ids + [-1] + types), fnv(offs)


def read_tsv(path, header, cols):
    # Same rules as the Swift reader: UTF-8, split on "\n" only, no quote handling, header skipped.
    text = pathlib.Path(path).read_bytes().decode("utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if header:
        lines = lines[1:]
    rows = []
    for line in lines:
        f = line.split("\t")
        rows.append(tuple(f[c] for c in cols))
    return rows


GLUE = [
    ("SST-2", ["train", "dev"], True, [0]),
    ("CoLA", ["train", "dev"], False, [3]),
    ("MRPC", ["train", "dev"], True, [3, 4]),
    ("STS-B", ["train", "dev"], True, [7, 8]),
    ("RTE", ["train", "dev"], True, [1, 2]),
    ("WNLI", ["train", "dev"], True, [1, 2]),
    ("QNLI", ["dev"], True, [1, 2]),
]
sets = []
for task, splits, header, cols in GLUE:
    for split in splits:
        sets.append(dict(name=f"{task}/{split}", kind="tsv", path=f"glue/{task}/{split}.tsv", header=header, columns=cols, max_length=None))
sets.append(dict(name="MNLI/dev_matched", kind="tsv", path="glue/MNLI/dev_matched.tsv", header=True, columns=[1, 2], max_length=None))
sets.append(dict(name="SST-2/dev@16", kind="tsv", path="glue/SST-2/dev.tsv", header=True, columns=[0], max_length=16))
sets.append(dict(name="RTE/dev@64", kind="tsv", path="glue/RTE/dev.tsv", header=True, columns=[1, 2], max_length=64))
for what in ["question", "context", "question+context@384"]:
    sets.append(dict(name=f"squad-dev-v1.1/{what}", kind="squad", path="squad/dev-v1.1.json", field=what,
                     max_length=384 if "@" in what else None, columns=[0, 1] if "+" in what else [0], header=False))


def squad_rows(path, field):
    d = json.load(open(path, encoding="utf-8"))
    rows = []
    for art in d["data"]:
        for p in art["paragraphs"]:
            if field == "context":
                rows.append((p["context"],))
            for q in p["qas"]:
                if field == "question":
                    rows.append((q["question"],))
                elif field.startswith("question+context"):
                    rows.append((q["question"], p["context"]))
    return rows


blob = bytearray()
for s in sets:
    path = os.path.join(args.data, s["path"])
    rows = read_tsv(path, s["header"], s["columns"]) if s["kind"] == "tsv" else squad_rows(path, s["field"])
    s["offset"] = len(blob) // 8
    s["count"] = len(rows)
    disagree = 0
    for r in rows:
        a, b = r[0], (r[1] if len(r) > 1 else None)
        enc = encode(fast, a, b, s["max_length"])
        blob += struct.pack("<II", *record(enc))
        if legacy is not None:
            le = encode(legacy, a, b, s["max_length"])
            if le["input_ids"] != enc["input_ids"] or le["token_type_ids"] != enc["token_type_ids"]:
                disagree += 1
    s["legacy_disagreements"] = disagree if legacy is not None else None
    print(f"{s['name']}: {len(rows)} examples, legacy disagrees on {disagree}", file=sys.stderr)
(out / "golden_hashes.bin").write_bytes(bytes(blob))
(out / "golden_index.json").write_text(json.dumps(dict(
    model="all-MiniLM-L6-v2", transformers=__import__("transformers").__version__,
    tokenizers=__import__("tokenizers").__version__, hash="fnv1a32 over int32 LE; ids + [-1] + type_ids; offsets flattened",
    sets=sets), indent=1))

# Hand-written hard cases.
ADV = [
    "", " ", "   \t\n  ", "\u3000\u00a0\u2003", "Hello, world!", "HELLO WORLD", "héllo wörld café naïve",
    "e\u0301 a\u0300 o\u0308 n\u0303", "Ångström ﬁ ﬂ Œuvre", "İstanbul ıi ẞ ß ǅ ǈ", "ΣΊΣΥΦΟΣ ΟΔΥΣΣΕΥΣ σίσυφος",
    "Привет, мир! ЁЖИК", "Ελληνικά γράμματα", "مرحبا بالعالم ١٢٣", "שָׁלוֹם עולם", "नमस्ते दुनिया",
    "你好世界，这是测试。", "日本語のテキスト、カタカナ", "한국어 텍스트 안녕하세요", "𠀀𠀁 𪜀 𫝀 𫠠 𬺰 丽", "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３",
    "emoji 😀😃 👍🏽 🇫🇷 👩‍👩‍👧‍👦 ❤️ 🫨", "zero\u200bwidth\u200cjoiner\u200dhere\ufeffbom", "ctrl\x00\x01\x07\x1b\x7fchars",
    "soft\u00adhyphen", "line\u2028sep\u2029para\x85nel", "tab\there\rcr\nnl", "\ufffdreplacement\ufffd",
    "private \ue000\uf8ff use", "a" * 99, "b" * 100, "c" * 101, "supercalifragilisticexpialidocious" * 4,
    "don't can't won't", "U.S.A. e.g. i.e.", "$100.00 + 50% = ~€150 @home #tag", "snake_case kebab-case CamelCase",
    "[CLS] already [SEP] special [MASK] tokens [UNK] [PAD]", "[cls] lower [sep]", "x[SEP]y", "[[SEP]]",
    "https://example.com/path?q=1&r=2#frag", "email@example.com", "C++ C# F# .NET", "3.14159 1,000,000 10^9",
    "«guillemets» „quotes“ ‘single’ ¿qué? ¡sí!", "em—dash en–dash ‐hyphen", "…ellipsis‥", "ℌℑℜ ℵ ℃ ™ ©",
    "x\u0301\u0302\u0303\u0304 combining stack", "\u0301leading mark", "Ǆemo ǅemo", "ﬃ ﬄ ﬆ", "Ⅻ ⅻ ①②③",
    "\U0001F600" * 3, "a\u0300\u0316b", "\u037e greek question mark", "mixed日本English한국Русский",
    "The quick brown fox jumps over the lazy dog. " * 3, "unaffable unbelievable antidisestablishmentarianism",
    "\u0130\u0307", "ﾊﾝｶｸ ｶﾀｶﾅ", "\U000E0041\U000E0042 tags", "\U0010FFFF\U000F0000 planes 15-16",
]
PAIRS = [("A question about Ångström?", "The answer is ΣΊΣΥΦΟΣ."), ("", "only second"), ("only first", ""),
         ("你好", "世界"), ("x" * 50 + " word " * 40, "short"), ("short", "y " * 80)]
adv = []
for t in ADV:
    for ml in [None, 8]:
        e = encode(fast, t, None, ml)
        adv.append(dict(a=t, b=None, max_length=ml, ids=e["input_ids"], type_ids=e["token_type_ids"],
                        offsets=[list(x) for x in e["offset_mapping"]]))
for a, b in PAIRS + [(ADV[i], ADV[i + 1]) for i in range(0, len(ADV) - 1, 2)]:
    for ml in [None, 7, 12, 20]:
        e = encode(fast, a, b, ml)
        adv.append(dict(a=a, b=b, max_length=ml, ids=e["input_ids"], type_ids=e["token_type_ids"],
                        offsets=[list(x) for x in e["offset_mapping"]]))
(out / "adversarial.json").write_text(json.dumps(adv, ensure_ascii=True))

# Per-code-point reference: normalizer output and pre-tokenizer class.
norm, pre = fast.backend_tokenizer.normalizer, fast.backend_tokenizer.pre_tokenizer
lines, prev, start = [], None, 0
def kind_of(cp):
    c = chr(cp)
    n = norm.normalize_str(c)
    pieces = [x[0] for x in pre.pre_tokenize_str("a" + c + "b")]
    cls = "P" if pieces == ["a", c, "b"] else "W" if pieces == ["a", "b"] else "O" if pieces == ["a" + c + "b"] else None
    assert cls, (cp, pieces)
    if n == c: nk = "="
    elif n == "": nk = "-"
    elif n == " ": nk = "_"
    elif n == f" {c} ": nk = "C"
    else: nk = "M" + ",".join(f"{ord(x):x}" for x in n)
    return f"{nk} {cls}"
for cp in list(range(0, 0xD800)) + list(range(0xE000, 0x110000)):
    k = kind_of(cp)
    if k != prev or cp != end + 1:
        if prev is not None:
            lines.append(f"{start:x} {end:x} {prev}")
        prev, start = k, cp
    end = cp
lines.append(f"{start:x} {end:x} {prev}")
(out / "unicode_reference.txt").write_text("\n".join(lines) + "\n")
print(f"adversarial: {len(adv)} cases; unicode reference: {len(lines)} runs", file=sys.stderr)
