"""Golden gradients and a 10-step AdamW loss trajectory for the tiny classifier
(Tests/KBBertTests/Fixtures/tiny-cls), from PyTorch autograd, dropout off.

Writes Tests/KBTrainTests/Fixtures/train_golden.safetensors:
  grad.<param>     ∂CE/∂θ at the initial weights for every parameter (HF names, no `bert.` prefix),
                   computed in float64 and stored as float32
  losses           [10] loss before each AdamW step (lr 1e-3, wd 0.01 except biases/LayerNorm,
                   warm-up 2 of 10 steps then linear decay, clip 1.0)
  labels, and the inputs of tiny_golden.safetensors

    python tools/gen_train_golden.py
"""
import os, pathlib
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
import torch
from safetensors.torch import load_file, save_file
from transformers import BertForSequenceClassification, get_linear_schedule_with_warmup

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIX = ROOT / "Tests/KBBertTests/Fixtures"
OUT = ROOT / "Tests/KBTrainTests/Fixtures"
OUT.mkdir(parents=True, exist_ok=True)
g = load_file(str(FIX / "tiny_golden.safetensors"))
ids, types, mask = g["input_ids"].long(), g["token_type_ids"].long(), g["attention_mask"].long()
labels = torch.tensor([2, 0, 1])
model = BertForSequenceClassification.from_pretrained(str(FIX / "tiny-cls"), attn_implementation="eager")
model.train()
model.double()  # reference in float64: the comparison then measures only our float32 error
for m in model.modules():
    if isinstance(m, torch.nn.Dropout):
        m.p = 0.0
out = {"labels": labels.to(torch.int32)}
loss = torch.nn.functional.cross_entropy(model(input_ids=ids, token_type_ids=types, attention_mask=mask).logits, labels)
loss.backward()
for name, p in model.named_parameters():
    out["grad." + name.removeprefix("bert.")] = p.grad.detach().float().clone()
model.zero_grad()
decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
nodecay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": nodecay, "weight_decay": 0.0}], lr=1e-3)
sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=2, num_training_steps=10)
losses = []
for step in range(10):
    loss = torch.nn.functional.cross_entropy(model(input_ids=ids, token_type_ids=types, attention_mask=mask).logits, labels)
    losses.append(loss.item())
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step(); sched.step(); opt.zero_grad()
out["losses"] = torch.tensor(losses, dtype=torch.float32)
save_file({k: v.contiguous() for k, v in out.items()}, str(OUT / "train_golden.safetensors"))
print("losses", [round(x, 6) for x in losses])

# Extractive QA (tiny-qa): ∂L/∂θ of the span loss, (CE(start) + CE(end)) / 2 with each softmax over
# the sequence's real tokens (padded positions masked out; HF's BertForQuestionAnswering leaves them
# in its softmax, kbert's Loss.spanCrossEntropy does not), float64, dropout off.
#   -> Tests/KBTrainTests/Fixtures/qa_train_golden.safetensors: grad.<param>, starts, ends, loss
from transformers import BertForQuestionAnswering
qa = BertForQuestionAnswering.from_pretrained(str(FIX / "tiny-qa"), attn_implementation="eager")
qa.train()
qa.double()
for m in qa.modules():
    if isinstance(m, torch.nn.Dropout):
        m.p = 0.0
lengths = mask.sum(1)
starts = torch.tensor([1, int(lengths[1]) - 2, 0])
ends = torch.tensor([3, int(lengths[1]) - 1, 0])
o = qa(input_ids=ids, token_type_ids=types, attention_mask=mask)
neg = torch.finfo(torch.float64).min
sl = o.start_logits.masked_fill(mask == 0, neg)
el = o.end_logits.masked_fill(mask == 0, neg)
qloss = (torch.nn.functional.cross_entropy(sl, starts) + torch.nn.functional.cross_entropy(el, ends)) / 2
qloss.backward()
qout = {"starts": starts.to(torch.int32), "ends": ends.to(torch.int32), "loss": torch.tensor([qloss.item()], dtype=torch.float32)}
for name, p in qa.named_parameters():
    if p.grad is not None:
        qout["grad." + name.removeprefix("bert.")] = p.grad.detach().float().clone()
save_file({k: v.contiguous() for k, v in qout.items()}, str(OUT / "qa_train_golden.safetensors"))
print("qa loss", qloss.item(), "lengths", lengths.tolist())
