"""Golden values and gradients of the distillation loss terms (PyTorch autograd, float64), on
random tensors with padding. Writes Tests/KBDistillTests/Fixtures/distill_golden.safetensors.

The reference definitions (the Swift code must agree):
  hidden MSE:    mean over real tokens and features of (s - t)^2
  attention MSE: mean over (b, head, i, j) with i and j real tokens of (s - t)^2
  logits:        mean_b sum_c -softmax(t_b/T)_c log softmax(s_b/T)_c  (T = 2), MSE when C = 1
                 or with --logit-loss mse: mean over (b, c) of (s - t)^2

    python tools/gen_distill_golden.py
"""
import pathlib
import torch
from safetensors.torch import save_file

OUT = pathlib.Path(__file__).resolve().parent.parent / "Tests/KBDistillTests/Fixtures/distill_golden.safetensors"
torch.manual_seed(0)
B, NH, T, H, C = 3, 2, 5, 7, 3
mask = torch.ones(B, T)
mask[1, 3:] = 0; mask[2, 1:] = 0
out = {"mask": mask.to(torch.int32)}
hs, ht = torch.randn(B, T, H, dtype=torch.float64, requires_grad=True), torch.randn(B, T, H, dtype=torch.float64)
m = mask.double()[:, :, None]
loss = (((hs - ht) ** 2) * m).sum() / (m.sum() * H)
loss.backward()
out.update({"hidden.s": hs.detach().float(), "hidden.t": ht.float(), "hidden.loss": loss.detach().float().reshape(1), "hidden.grad": hs.grad.float()})
ss, st = torch.randn(B, NH, T, T, dtype=torch.float64, requires_grad=True), torch.randn(B, NH, T, T, dtype=torch.float64)
pm = (mask.double()[:, None, :, None] * mask.double()[:, None, None, :]).expand(B, NH, T, T)
loss = (((ss - st) ** 2) * pm).sum() / pm.sum()
loss.backward()
out.update({"attn.s": ss.detach().float(), "attn.t": st.float(), "attn.loss": loss.detach().float().reshape(1), "attn.grad": ss.grad.float()})
ls, lt = torch.randn(B, C, dtype=torch.float64, requires_grad=True), torch.randn(B, C, dtype=torch.float64)
Tm = 2.0
loss = (-(torch.softmax(lt / Tm, -1) * torch.log_softmax(ls / Tm, -1)).sum(-1)).mean()
loss.backward()
out.update({"logits.s": ls.detach().float(), "logits.t": lt.float(), "logits.loss": loss.detach().float().reshape(1), "logits.grad": ls.grad.float()})
save_file({k: v.contiguous() for k, v in out.items()}, str(OUT))
print("wrote", OUT)

# Extractive QA's prediction term (drawn after the others: their values are unchanged):
#   span logits [B, T, 2]: mean_b (CE_T(start) + CE_T(end)) / 2, each softmax over real tokens (T = 2)
qs, qt = torch.randn(B, T, 2, dtype=torch.float64, requires_grad=True), torch.randn(B, T, 2, dtype=torch.float64)
neg = torch.finfo(torch.float64).min
ce = 0
for k in range(2):
    ls_k = (qs[:, :, k] / Tm).masked_fill(mask == 0, neg)
    lt_k = (qt[:, :, k] / Tm).masked_fill(mask == 0, neg)
    ce = ce + (-(torch.softmax(lt_k, -1) * torch.log_softmax(ls_k, -1)).sum(-1)).mean() / 2
ce.backward()
out.update({"span.s": qs.detach().float(), "span.t": qt.float(), "span.loss": ce.detach().float().reshape(1), "span.grad": qs.grad.float()})
save_file({k: v.contiguous() for k, v in out.items()}, str(OUT))
print("span loss", ce.item())

# `--logit-loss mse` (after the others: their values are unchanged): a classifier's logits matched
# by the mean squared error over every (example, class) element, on the same logits as above.
ms = ls.detach().clone().requires_grad_(True)
mse = torch.nn.functional.mse_loss(ms, lt)
mse.backward()
out.update({"logits.mse.loss": mse.detach().float().reshape(1), "logits.mse.grad": ms.grad.float()})
save_file({k: v.contiguous() for k, v in out.items()}, str(OUT))
print("logit mse", mse.item())
