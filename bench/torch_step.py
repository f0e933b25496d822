#!/usr/bin/env python3
"""The E-MIM training step of bench/bench_step in PyTorch (float32), for the
side-by-side comparison (bench/compare.sh). A benchmark-only dependency:
neither the build nor the tests need torch.

    python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torch
    /tmp/tv/bin/python bench/torch_step.py --preset small --threads 2

The same step as libemim's trainer (src/objective/emim.c): the image x and
the masked image x_m (masked patches zeroed) through one pre-norm ViT
(MONAI's layout: patch embedding as a linear map of the flattened patch,
learned position embeddings, qkv without bias, exact GELU), a linear head
on the final LayerNorm of x_m, MSE over the whole image, Pyramid Barlow
Twins between the hidden states of both passes at `levels` levels (cosine
correlation of the tokens, mean over the n^2 entries and the batch),
clipping at global norm 1, AdamW. Idiomatic PyTorch: F.layer_norm,
F.scaled_dot_product_attention, torch.optim.AdamW (foreach), on fixed input.

Prints one line: preset, device, median and best seconds per step, peak RSS
(MiB), the number of threads; with --tsv as tab-separated values.
"""
import argparse
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

PRESETS = {  # as emim_vit_preset: image side, hidden, mlp, heads, layers (16^3 patches)
    "tiny": (64, 96, 384, 3, 4),
    "small": (96, 384, 1536, 6, 12),
    "base": (96, 768, 3072, 12, 12),
}


class Block(torch.nn.Module):
    def __init__(self, h, mlp, heads):
        super().__init__()
        self.heads = heads
        self.norm1 = torch.nn.LayerNorm(h, eps=1e-5)
        self.qkv = torch.nn.Linear(h, 3 * h, bias=False)
        self.out_proj = torch.nn.Linear(h, h)
        self.norm2 = torch.nn.LayerNorm(h, eps=1e-5)
        self.linear1 = torch.nn.Linear(h, mlp)
        self.linear2 = torch.nn.Linear(mlp, h)

    def forward(self, x):
        B, N, h = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(B, N, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, N, h)
        x = x + self.out_proj(a)
        return x + self.linear2(F.gelu(self.linear1(self.norm2(x))))


class EMIM(torch.nn.Module):
    def __init__(self, side, h, mlp, heads, layers, channels, patch=16):
        super().__init__()
        self.n = (side // patch) ** 3
        self.pd = channels * patch ** 3
        self.embed = torch.nn.Linear(self.pd, h)
        self.pos = torch.nn.Parameter(0.02 * torch.randn(1, self.n, h))
        self.blocks = torch.nn.ModuleList(Block(h, mlp, heads) for _ in range(layers))
        self.norm = torch.nn.LayerNorm(h, eps=1e-5)
        self.recon = torch.nn.Linear(h, self.pd)

    def encode(self, tok, keep):
        x = self.embed(tok) + self.pos
        hidden = []
        for i, b in enumerate(self.blocks):
            x = b(x)
            if i in keep:
                hidden.append(x)
        return self.norm(x), hidden


def patchify(img, p=16):
    B, C, H, W, D = img.shape
    t = img.reshape(B, C, H // p, p, W // p, p, D // p, p).permute(0, 2, 4, 6, 1, 3, 5, 7)
    return t.reshape(B, (H // p) * (W // p) * (D // p), C * p ** 3)


def pbt(a, b, w_off=1.0):
    """Barlow Twins between the tokens of a and b [B, N, h]: mean over N^2 and B"""
    an, bn = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    c = an @ bn.transpose(1, 2)
    diag = torch.diagonal(c, dim1=1, dim2=2)
    off = (c ** 2).sum((1, 2)) - (diag ** 2).sum(1)
    n = a.shape[1]
    return (((1 - diag) ** 2).sum(1) + w_off * off).mean() / (n * n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--channels", type=int, default=4)
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (fp32, TF32 off)")
    ap.add_argument("--tsv", action="store_true")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    side, h, mlp, heads, layers = PRESETS[a.preset]
    dev = torch.device(a.device)
    model = EMIM(side, h, mlp, heads, layers, a.channels).to(dev)
    levels = 4 if layers % 4 == 0 else 3 if layers % 3 == 0 else 2 if layers % 2 == 0 else 1
    keep = [layers // levels * (l + 1) - 1 for l in range(levels)]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05, betas=(0.9, 0.999), eps=1e-8)
    g = torch.Generator().manual_seed(1)
    img = torch.rand(a.batch, a.channels, side, side, side, generator=g).to(dev)
    n = model.n
    # a fixed mask of the hybrid pattern's density: about half of the (modality, token) blocks
    mask = (torch.rand(a.batch, a.channels, n, generator=g) < 0.5).float().to(dev)

    def step():
        tok = patchify(img)
        keepm = (1 - mask).transpose(1, 2).repeat_interleave(16 ** 3, dim=2)   # [B, N, C*P^3]
        tokm = tok * keepm
        opt.zero_grad(set_to_none=True)
        _, hx = model.encode(tok, keep)
        zm, hm = model.encode(tokm, keep)
        mim = F.mse_loss(model.recon(zm), tok)
        loss = mim + sum(pbt(x, y) for x, y in zip(hx, hm))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    steps = a.steps or {"base": 5, "small": 7, "tiny": 15}[a.preset]
    times = []
    for i in range(a.warmup + steps):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    name = "torch %s %s, %d threads" % (torch.__version__, a.device, torch.get_num_threads())
    if a.tsv:
        print("%s\ttorch\t%s\t%.4f\t%.4f\t%.0f" % (a.preset, name, statistics.median(times), min(times), rss))
    else:
        print("%-6s median %.4f s  best %.4f s  peak RSS %.0f MiB  %s"
              % (a.preset, statistics.median(times), min(times), rss, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
