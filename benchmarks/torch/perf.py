#!/usr/bin/env python3
"""PyTorch reference for `fpt-bench perf`: the same workloads, shapes and optimiser as the
TypeScript side, written from docs/method.md in plain PyTorch (no timm, no authors' code).

Protocol: one JSON request per line on stdin, one JSON answer per line on stdout.
  {"cmd": "hello"}                          -> {"torch": version, "threads": n, "blas": ...}
  {"cmd": "run", "spec": {...}, "memory": b} -> {"seconds": s, "peak_bytes": n or null}
A workload is built (and stepped once, untimed) the first time its spec is seen; each "run" then
times one step. With "memory", the step runs under the profiler instead (untimed) and peak_bytes
is the bytes of live tensors before the step plus the allocator's peak of new allocations during
it: the same quantity tfjs's `tf.profile().peakBytes` reports for the TypeScript side.

Threads: ATen runs element-wise ops on libgomp's OpenMP threads, while Debian's OpenBLAS
(libopenblas0-pthread) runs every GEMM on its own pthreads. libgomp's default wait policy spins an
idle worker for a while after each parallel region, so during the next GEMM the spinning worker
and OpenBLAS's threads share the cores: a ViT training step took 3-5x longer than with passive
waiting on a 2-core machine with any other load (3.5 s against 0.7 s for W3a), and the alternating
protocol's other side paid too. OMP_WAIT_POLICY=PASSIVE (set here unless the caller set it; libgomp
reads it when it loads, so before torch is imported) makes idle workers sleep; a timm
VisionTransformer step is then no faster than ours (benchmarks/torch/timm_reference.py).
"""
import gc
import json
import math
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402  (after the OpenMP setting, which libgomp reads at load time)
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(int(os.environ.get("FPT_TORCH_THREADS", os.cpu_count() or 1)))
torch.manual_seed(0)


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.lora = None  # (A_q, B_q, A_v, B_v, scale) when LoRA is applied

    def qkv_of(self, x):
        y = self.qkv(x)
        if self.lora is not None:
            aq, bq, av, bv, s = self.lora
            d = x.shape[-1]
            uq = (x @ aq.t()) @ bq.t() * s
            uv = (x @ av.t()) @ bv.t() * s
            y = y + F.pad(uq, (0, 2 * d)) + F.pad(uv, (2 * d, 0))
        return y

    def forward(self, x, want_probs=False):
        b, n, d = x.shape
        h = self.heads
        qkv = self.qkv_of(x).reshape(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        # The scale on q [b, h, n, d] rather than on the scores [b, h, n, n], as timm does: 3x fewer
        # multiplies at 197 tokens and 64 per head, forward and backward.
        attn = (q * (d // h) ** -0.5) @ k.transpose(-2, -1)
        attn = attn.softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(b, n, d)
        return self.proj(out), (k, v, attn if want_probs else None)


class Block(nn.Module):
    def __init__(self, d, heads, mlp, eps):
        super().__init__()
        self.norm1 = nn.LayerNorm(d, eps=eps)
        self.attn = Attention(d, heads)
        self.norm2 = nn.LayerNorm(d, eps=eps)
        self.fc1 = nn.Linear(d, mlp)
        self.fc2 = nn.Linear(mlp, d)

    def forward(self, x, extra=None, want_probs=False):
        n = x.shape[1]
        if extra is not None:
            x = torch.cat([x, extra], dim=1)
        a, internals = self.attn(self.norm1(x), want_probs)
        x = x + a
        x = x + self.fc2(F.gelu(self.fc1(self.norm2(x))))
        return (x[:, :n] if extra is not None else x), internals


class ViT(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, p = c["hidden"], c["patch"]
        self.patch = p
        self.grid = c["image"] // p
        self.patch_embed = nn.Conv2d(3, d, p, p)
        self.cls_token = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + self.grid ** 2, d) * 0.02)
        self.blocks = nn.ModuleList([Block(d, c["heads"], c["mlp"], c["eps"]) for _ in range(c["layers"])])
        self.norm = nn.LayerNorm(d, eps=c["eps"])
        self.head = nn.Linear(d, c["classes"]) if c["classes"] > 0 else None

    def pos(self, g):
        if g == self.grid:
            return self.pos_embed
        cls, grid = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        d = grid.shape[-1]
        grid = grid.reshape(1, self.grid, self.grid, d).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(g, g), mode="bicubic", align_corners=False)
        return torch.cat([cls, grid.permute(0, 2, 3, 1).reshape(1, g * g, d)], dim=1)

    def embed(self, pixels):
        x = self.patch_embed(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        return x + self.pos(pixels.shape[-1] // self.patch)

    def forward(self, pixels):
        x = self.embed(pixels)
        for blk in self.blocks:
            x, _ = blk(x)
        x = self.norm(x)
        return x, (self.head(x[:, 0]) if self.head is not None else None)


def adamw(params):
    return torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.999), weight_decay=0.1)


def train_step(loss_fn, params, opt):
    opt.zero_grad(set_to_none=True)
    loss = loss_fn()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    return loss.item()


class Preload:
    """W1: the frozen LPM at high resolution, selected keys/values of the last layers."""

    def __init__(self, s):
        self.vit = ViT(s["vit"]).eval()
        for p in self.vit.parameters():
            p.requires_grad_(False)
        self.layers = s["layers"]
        self.ratio = s["ratio"]
        self.pixels = torch.randn(s["batch"], 3, s["image"], s["image"])

    def step(self):
        with torch.no_grad():
            x = self.vit.embed(self.pixels)
            n = x.shape[1]
            keep = max(1, int(math.floor(n * self.ratio + 1e-9)))
            kv = []
            for i, blk in enumerate(self.vit.blocks[: max(self.layers) + 1]):
                x, (k, v, probs) = blk(x, want_probs=i in self.layers)
                if i in self.layers:
                    idx = probs.mean(dim=2).topk(keep, dim=-1).indices.unsqueeze(-1).expand(-1, -1, -1, k.shape[-1])
                    kv.append((k.gather(2, idx), v.gather(2, idx)))
            return kv


class Forward:
    """W1b: a plain ViT forward without gradients."""

    def __init__(self, s):
        self.vit = ViT(s["vit"]).eval()
        self.pixels = torch.randn(s["batch"], 3, s["image"], s["image"])

    def step(self):
        with torch.no_grad():
            return self.vit(self.pixels)[1]


class FptStep:
    """W2: one FPT+ training step on cached keys/values (docs/method.md: fusion module, side network, head)."""

    def __init__(self, s):
        L, B, H, n, d = s["kv"]
        D = H * d
        side = dict(s["side"])
        self.side = ViT(side).train()
        self.heads = H
        self.prompts = nn.Parameter(torch.randn(L, 1, s["prompts"], D) * 1e-6)
        self.ln = nn.LayerNorm(D, eps=1e-5)
        self.out_proj = nn.Linear(D, side["hidden"])
        self.keys = torch.randn(L, B, H, n, d)
        self.values = torch.randn(L, B, H, n, d)
        self.pixels = torch.randn(B, 3, side["image"], side["image"])
        self.labels = torch.zeros(B, dtype=torch.long)
        self.params = [self.prompts, *self.ln.parameters(), *self.out_proj.parameters(), *self.side.parameters()]
        self.opt = adamw(self.params)

    def loss(self):
        L, B, H, n, d = self.keys.shape
        M = self.prompts.shape[2]
        q = self.ln(self.prompts).reshape(L, 1, M, H, d).permute(0, 1, 3, 2, 4)  # [L, 1, H, M, d]
        a = ((q @ self.keys.transpose(-2, -1)) * d ** -0.5).softmax(dim=-1)  # [L, B, H, M, n]
        c = (a @ self.values).permute(0, 1, 3, 2, 4).reshape(L, B, M, H * d)
        fused = F.dropout(self.out_proj(c + self.prompts), 0.5, training=True)  # [L, B, M, side]
        x = self.side.embed(self.pixels)
        for i, blk in enumerate(self.side.blocks):
            x, _ = blk(x, extra=fused[i])
        logits = self.side.head(self.side.norm(x)[:, 0])
        return F.cross_entropy(logits, self.labels)

    def step(self):
        return train_step(self.loss, self.params, self.opt)


class TrainStep:
    """W3: full fine-tuning or LoRA (rank r on the query and value projections) of a ViT."""

    def __init__(self, s):
        vit = dict(s["vit"])
        self.vit = ViT(vit).train()
        self.pixels = torch.randn(s["batch"], 3, s["image"], s["image"])
        self.labels = torch.zeros(s["batch"], dtype=torch.long)
        if s["method"] == "full":
            self.params = list(self.vit.parameters())
        else:
            for p in self.vit.parameters():
                p.requires_grad_(False)
            r, d = s["rank"], vit["hidden"]
            self.params = []
            for blk in self.vit.blocks:
                aq, av = (nn.Parameter(torch.empty(r, d).uniform_(-d ** -0.5, d ** -0.5)) for _ in range(2))
                bq, bv = (nn.Parameter(torch.zeros(d, r)) for _ in range(2))
                blk.attn.lora = (aq, bq, av, bv, s.get("alpha", r) / r)
                self.params += [aq, bq, av, bv]
            self.vit.head = nn.Linear(d, s["classes"])
            self.params += list(self.vit.head.parameters())
        self.opt = adamw(self.params)

    def step(self):
        return train_step(lambda: F.cross_entropy(self.vit(self.pixels)[1], self.labels), self.params, self.opt)


class Gemm:
    """A plain GEMM [m, k] x [k, n], or by a transposed [n, k] operand, "calls" times back to back."""

    def __init__(self, s):
        self.a = torch.randn(s["m"], s["k"])
        self.b = torch.randn(s["n"], s["k"]).t() if s["transposeB"] else torch.randn(s["k"], s["n"])
        self.calls = s.get("calls", 1)

    def step(self):
        for _ in range(self.calls):
            c = self.a @ self.b
        return c


KINDS = {"preload": Preload, "forward": Forward, "fpt": FptStep, "train": TrainStep, "gemm": Gemm}
built = {}


def live_tensor_bytes():
    seen, total = set(), 0
    for o in gc.get_objects():
        try:
            if isinstance(o, torch.Tensor) and not o.is_meta:
                s = o.storage()
                key = s.data_ptr()
                if key and key not in seen:
                    seen.add(key)
                    total += s.nbytes()
        except Exception:
            pass
    return total


def peak_during(fn):
    from torch.profiler import ProfilerActivity, profile

    gc.collect()
    base = live_tensor_bytes()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((e.start_us(), e.nbytes()) for e in prof.profiler.kineto_results.events() if e.name() == "[memory]")
    live = peak = 0
    for _, n in events:
        live += n
        peak = max(peak, live)
    return base + peak


def handle(req):
    if req["cmd"] == "hello":
        torch.randn(64, 64) @ torch.randn(64, 64)  # loads the BLAS library
        with open("/proc/self/maps") as maps:  # which BLAS the dynamic linker picked (Debian alternatives)
            libs = {line.split("/")[-1].strip() for line in maps if "blas" in line.lower()}
        blas = ", ".join(sorted(libs)) or "unknown"
        wait = os.environ.get("OMP_WAIT_POLICY", "")
        return {"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas, "omp_wait_policy": wait}
    spec = req["spec"]
    key = json.dumps(spec, sort_keys=True)
    if key not in built:
        w = KINDS[spec["kind"]](spec)
        w.step()  # warm-up: optimiser state exists, as in every later step
        built.clear()  # one workload at a time keeps memory figures clean
        gc.collect()
        built[key] = w
    w = built[key]
    if req.get("memory"):
        return {"seconds": None, "peak_bytes": peak_during(w.step)}
    t = time.perf_counter()
    w.step()
    return {"seconds": time.perf_counter() - t, "peak_bytes": None}


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            out = handle(json.loads(line))
        except Exception as e:  # report, keep serving
            out = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
