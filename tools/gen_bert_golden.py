"""Golden tensors for the Swift BERT forward pass, from transformers/PyTorch (pinned in
tools/requirements.txt), eager attention, float32, CPU.

Writes into Tests/KBBertTests/Fixtures/:
  tiny-cls/   a random BertForSequenceClassification (hidden 32, 4 heads, intermediate 37, 2 layers,
              3 labels, gelu), HF folder with `bert.`-prefixed keys
  tiny-qa/    a random BertForQuestionAnswering (same sizes, gelu_new)
  tiny_golden.safetensors   inputs (3 sequences of lengths 7, 5, 3, padded) and, per model, every
              hidden state, every layer's pre-softmax attention scores Q·Kᵀ/√d, pooled output, logits
  minilm_golden.safetensors / minilm_golden.json   all-MiniLM-L6-v2 on 36 real GLUE dev texts
              (24 SST-2 sentences, 12 MRPC pairs), batched with padding: HF input ids, last hidden
              state of the real tokens, pooled output

    python tools/gen_bert_golden.py [--model models/all-MiniLM-L6-v2] [--data ../shared/data]
"""
import argparse, json, os, pathlib
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertForSequenceClassification, BertForQuestionAnswering, BertModel, BertTokenizerFast

ROOT = pathlib.Path(__file__).resolve().parent.parent
ap = argparse.ArgumentParser()
ap.add_argument("--model", default=str(ROOT / "models/all-MiniLM-L6-v2"))
ap.add_argument("--data", default=os.environ.get("KBERT_DATA", str(ROOT.parent / "shared/data")))
args = ap.parse_args()
OUT = ROOT / "Tests/KBBertTests/Fixtures"
OUT.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)


def capture_scores(model, run):
    """Runs `run()` and returns each layer's pre-softmax scores [B, NH, T, T] from Q and K."""
    enc = model.bert.encoder if hasattr(model, "bert") else model.encoder
    store = {}
    hooks = []
    for i, layer in enumerate(enc.layer):
        sa = layer.attention.self
        hooks.append(sa.query.register_forward_hook(lambda m, inp, out, i=i: store.__setitem__(("q", i), out)))
        hooks.append(sa.key.register_forward_hook(lambda m, inp, out, i=i: store.__setitem__(("k", i), out)))
    result = run()
    for h in hooks:
        h.remove()
    cfg = model.config
    nh, hd = cfg.num_attention_heads, cfg.hidden_size // cfg.num_attention_heads
    scores = []
    for i in range(len(enc.layer)):
        q, k = store[("q", i)], store[("k", i)]
        B, T, _ = q.shape
        q = q.view(B, T, nh, hd).transpose(1, 2)
        k = k.view(B, T, nh, hd).transpose(1, 2)
        scores.append(q @ k.transpose(-1, -2) / hd ** 0.5)
    return result, scores


tiny = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
            max_position_embeddings=64, type_vocab_size=2, layer_norm_eps=1e-12, attn_implementation="eager")
lengths = [7, 5, 3]
B, T = len(lengths), max(lengths)
ids = torch.randint(1, 99, (B, T))
types = torch.zeros(B, T, dtype=torch.long)
mask = torch.zeros(B, T, dtype=torch.long)
for b, n in enumerate(lengths):
    mask[b, :n] = 1
    ids[b, n:] = 0
    types[b, n // 2:n] = 1
golden = {"input_ids": ids.to(torch.int32), "token_type_ids": types.to(torch.int32), "attention_mask": mask.to(torch.int32)}
for name, cls, extra in [("tiny-cls", BertForSequenceClassification, dict(num_labels=3, hidden_act="gelu")),
                         ("tiny-qa", BertForQuestionAnswering, dict(hidden_act="gelu_new"))]:
    cfg = BertConfig(**tiny, **extra)
    model = cls(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():  # larger than the default init, so that every op matters
            p.normal_(0, 0.3)
        out, scores = capture_scores(model, lambda: model(input_ids=ids, token_type_ids=types, attention_mask=mask,
                                                           output_hidden_states=True))
        base = model.bert(input_ids=ids, token_type_ids=types, attention_mask=mask)
    model.save_pretrained(OUT / name, safe_serialization=True)
    for i, h in enumerate(out.hidden_states):
        golden[f"{name}.hidden.{i}"] = h.contiguous()
    for i, s in enumerate(scores):
        golden[f"{name}.scores.{i}"] = s.contiguous()
    if base.pooler_output is not None:
        golden[f"{name}.pooled"] = base.pooler_output.contiguous()
    if name == "tiny-cls":
        golden[f"{name}.logits"] = out.logits.contiguous()
    else:
        golden[f"{name}.logits"] = torch.stack([out.start_logits, out.end_logits], dim=-1).contiguous()
save_file({k: v.detach() for k, v in golden.items()}, str(OUT / "tiny_golden.safetensors"))

# all-MiniLM-L6-v2 on real texts.
data = pathlib.Path(args.data)
sst = [l.split("\t")[0] for l in (data / "glue/SST-2/dev.tsv").read_text(encoding="utf-8").split("\n")[1:] if l]
mrpc = [l.split("\t") for l in (data / "glue/MRPC/dev.tsv").read_text(encoding="utf-8").split("\n")[1:] if l]
tok = BertTokenizerFast.from_pretrained(args.model)
# Varied lengths within a small fixture: every 9th SST-2 sentence under 30 tokens, short MRPC pairs.
texts = [(s, None) for s in sst[::9] if len(tok(s)["input_ids"]) <= 30][:24]
texts += [(r[3], r[4]) for r in mrpc if len(tok(r[3], r[4])["input_ids"]) <= 48][:12]
model = BertModel.from_pretrained(args.model, attn_implementation="eager").eval()
hidden, pooled, flat_ids, lens = [], [], [], []
for i in range(0, len(texts), 12):
    chunk = texts[i:i + 12]
    a = [t[0] for t in chunk]
    b = [t[1] for t in chunk]
    enc = tok(a, b if all(x is not None for x in b) else None, padding=True, return_tensors="pt")
    with torch.no_grad():
        o = model(**enc)
    for j in range(len(chunk)):
        n = int(enc["attention_mask"][j].sum())
        hidden.append(o.last_hidden_state[j, :n])
        pooled.append(o.pooler_output[j])
        flat_ids += enc["input_ids"][j, :n].tolist()
        lens.append(n)
save_file({"hidden": torch.cat(hidden).contiguous(), "pooled": torch.stack(pooled).contiguous(),
           "input_ids": torch.tensor(flat_ids, dtype=torch.int32), "lengths": torch.tensor(lens, dtype=torch.int32)},
          str(OUT / "minilm_golden.safetensors"))
(OUT / "minilm_golden.json").write_text(json.dumps([{"a": a, "b": b} for a, b in texts], indent=0))
print(f"tiny: {len(golden)} tensors; MiniLM: {len(texts)} texts, {sum(lens)} tokens")
