#!/usr/bin/env python3
"""Checks that perf.py's PyTorch reference is as fast as a competent PyTorch user's code: the same
W3a step (full fine-tuning of ViT-Ti/16 at 224, batch 8, 5 classes, AdamW with weight decay 0.1,
clipping at 1.0) with perf.py's ViT and with timm's VisionTransformer, alternating step by step in
one process, and a 1024x768x3072 GEMM with perf.py's `a @ b` and with `torch.mm(a, b, out=c)`.
Needs timm (not a project dependency: `pip install --no-deps timm` next to Debian's python3-torch
and python3-torchvision). Usage: timm_reference.py [reps]
"""
import importlib.util
import os
import statistics
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("perf", os.path.join(here, "perf.py"))
perf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(perf)  # perf.py's thread settings apply to both sides

import timm  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    vit = dict(hidden=192, layers=12, heads=3, mlp=768, patch=16, image=224, eps=1e-6, classes=5)
    ours = perf.TrainStep(dict(kind="train", method="full", vit=vit, image=224, batch=8, classes=5))
    model = timm.create_model("vit_tiny_patch16_224", num_classes=5).train()
    pixels, labels = torch.randn(8, 3, 224, 224), torch.zeros(8, dtype=torch.long)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.999), weight_decay=0.1)

    def timm_step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(pixels), labels).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    a, b, c = torch.randn(1024, 768), torch.randn(768, 3072), torch.empty(1024, 3072)
    pairs = {"W3a step": (ours.step, timm_step), "GEMM 1024x768x3072": (lambda: a @ b, lambda: torch.mm(a, b, out=c))}
    print(f"torch {torch.__version__}, timm {timm.__version__}, {torch.get_num_threads()} threads, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '')}, median of {reps}")
    for name, (mine, theirs) in pairs.items():
        mine(), theirs()  # warm-up: optimiser state, allocator, threads
        x, y = [], []
        for _ in range(reps):  # alternate, so load changes hit both sides alike
            x.append(timed(mine))
            y.append(timed(theirs))
        mx, my = statistics.median(x), statistics.median(y)
        print(f"{name}: perf.py {mx:.4f} s, {'timm' if 'step' in name else 'torch.mm(out=)'} {my:.4f} s, ratio {mx / my:.2f}")


if __name__ == "__main__":
    main()
