"""Writes Tests/KBSafeTensorsTests/Fixtures/golden.safetensors with the Python `safetensors` package
(pinned in tools/requirements.txt) and golden.json with the expected values as float64 lists.

    python tools/gen_safetensors_golden.py
"""
import json, pathlib
import numpy as np
from safetensors.numpy import save_file

out = pathlib.Path(__file__).resolve().parent.parent / "Tests/KBSafeTensorsTests/Fixtures"
rng = np.random.default_rng(0)
tensors = {
    "a.f32": rng.standard_normal((3, 7)).astype(np.float32),
    "b.f16": (rng.standard_normal((5,)) * 100).astype(np.float16),
    "c.i64": np.arange(-3, 9, dtype=np.int64).reshape(3, 4),
    "d.i32": np.array([[7, -1]], dtype=np.int32),
    "e.empty": np.zeros((0, 4), dtype=np.float32),
    "f.scalar": np.array(2.5, dtype=np.float32),
}
save_file(tensors, str(out / "golden.safetensors"), metadata={"format": "pt"})
# BF16 via torch (numpy has no bfloat16).
import torch
from safetensors.torch import save_file as save_torch
bf = torch.tensor([1.0, -2.5, 3.140625, 1e-3, 65504.0, -0.0], dtype=torch.bfloat16)
save_torch({"g.bf16": bf}, str(out / "golden_bf16.safetensors"))
expect = {k: {"shape": list(v.shape), "values": v.astype(np.float64).reshape(-1).tolist()} for k, v in tensors.items()}
expect["g.bf16"] = {"shape": [6], "values": bf.float().tolist()}
(out / "golden.json").write_text(json.dumps(expect, indent=1))
print("wrote", out)
