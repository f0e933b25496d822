#!/usr/bin/env python3
"""Writes tests/data/oracle-step.bin: the E-MIM training step as libemim's
trainer computes it (emim_trainer_step_masks), by PyTorch in double
precision, for tests/check_oracle.c (which needs no Python).

    python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torch numpy
    /tmp/tv/bin/python tools/make_oracle_step.py tests/data/oracle-step.bin

The step: 2 modalities, an 8x8x4 volume in anisotropic 4x4x2 patches (8
tokens of 2*32 values), a 2-block pre-norm ViT (hidden 16, 2 heads, MLP 32,
MONAI's layout and names), batch 1, a mask on [modality, token]:
    tok    = patchify(x)          token n = (i0*2 + i1)*2 + i2, element ((c*4 + a)*4 + b)*2 + d
    x_m    = tok with the masked (modality, token) blocks zeroed
    h_l    = the hidden state after block l (l = 0, 1), before the final LayerNorm
    z      = LN(h_1);  z_m, h_m,l the same on x_m
    g      = z_m W_g^T + b_g;  mim = mean((g - tok)^2) over every value
    pbt_l  = [sum_i (1 - C_ii)^2 + w_off sum_{i!=j} C_ij^2] / n^2,  C_ij = cos(h_l,i, h_m,l,j)
    pbt    = pbt_0 + pbt_1  (the PBT levels after blocks 1 and 2; --pbt-norm mean)
    loss   = mim + w_pbt pbt
and the gradient of loss with respect to every parameter. File format as
tools/make_oracle.py's (version 1), tensors named as libemim's parameters,
their gradients as "grad/NAME".
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_oracle  # noqa: E402  (its LayerNorm, attention and GELU: the same hidden size and heads)
from make_oracle import attention, gelu, layernorm, write_oracle  # noqa: E402

torch.manual_seed(20261202)
D = torch.float64

C, H, W, Dz = 2, 8, 8, 4
P = (4, 4, 2)
G = (H // P[0], W // P[1], Dz // P[2])     # 2 x 2 x 2
N = G[0] * G[1] * G[2]                      # 8 tokens
PD = C * P[0] * P[1] * P[2]                 # 64
HID, HEADS, MLP, LAYERS = 16, 2, 32, 2
EPS = 1e-5
assert (make_oracle.HID, make_oracle.HEADS, make_oracle.EPS) == (HID, HEADS, EPS)
W_PBT, W_OFF = 0.5, 1.0


def f32(t):
    return t.to(torch.float32).to(D)


def patchify(img):
    t = img.reshape(C, G[0], P[0], G[1], P[1], G[2], P[2]).permute(1, 3, 5, 0, 2, 4, 6)
    return t.reshape(N, PD)


def encoder(tok, p):
    h = tok @ p["patch_embedding.patch_embeddings.weight"].reshape(HID, PD).T
    h = h + p["patch_embedding.patch_embeddings.bias"] + p["patch_embedding.position_embeddings"][0]
    hidden = []
    for l in range(LAYERS):
        b = "blocks.%d." % l
        a = attention(layernorm(h, p[b + "norm1.weight"], p[b + "norm1.bias"]), p[b + "attn.qkv.weight"])
        h = h + a @ p[b + "attn.out_proj.weight"].T + p[b + "attn.out_proj.bias"]
        m = layernorm(h, p[b + "norm2.weight"], p[b + "norm2.bias"]) @ p[b + "mlp.linear1.weight"].T
        m = gelu(m + p[b + "mlp.linear1.bias"]) @ p[b + "mlp.linear2.weight"].T + p[b + "mlp.linear2.bias"]
        h = h + m
        hidden.append(h)
    return layernorm(h, p["norm.weight"], p["norm.bias"]), hidden


def pbt_level(z, zm):
    """make_oracle's PBT term (the same w_off), as a mean over the n^2 entries"""
    assert make_oracle.W_OFF == W_OFF
    return make_oracle.pbt(z, zm) / (N * N)


def main(path):
    shapes = [("patch_embedding.position_embeddings", (1, N, HID)),
              ("patch_embedding.patch_embeddings.weight", (HID, C) + P),
              ("patch_embedding.patch_embeddings.bias", (HID,))]
    for l in range(LAYERS):
        b = "blocks.%d." % l
        shapes += [(b + "norm1.weight", (HID,)), (b + "norm1.bias", (HID,)), (b + "attn.qkv.weight", (3 * HID, HID)),
                   (b + "attn.out_proj.weight", (HID, HID)), (b + "attn.out_proj.bias", (HID,)),
                   (b + "norm2.weight", (HID,)), (b + "norm2.bias", (HID,)), (b + "mlp.linear1.weight", (MLP, HID)),
                   (b + "mlp.linear1.bias", (MLP,)), (b + "mlp.linear2.weight", (HID, MLP)),
                   (b + "mlp.linear2.bias", (HID,))]
    shapes += [("norm.weight", (HID,)), ("norm.bias", (HID,)), ("recon.weight", (PD, HID)), ("recon.bias", (PD,))]
    params = {}
    for name, shape in shapes:
        if "norm" in name and name.endswith(".weight"):
            t = 1 + 0.1 * torch.randn(shape, dtype=D)
        elif "position" in name:
            t = 0.25 * torch.randn(shape, dtype=D)
        elif name.endswith(".weight"):
            fan_in = 1
            for d in shape[1:]:
                fan_in *= d
            t = torch.randn(shape, dtype=D) / fan_in ** 0.5
        else:
            t = 0.1 * torch.randn(shape, dtype=D)
        params[name] = f32(t).requires_grad_(True)
    x = f32(torch.rand(C, H, W, Dz, dtype=D))
    mask = torch.zeros(C, N, dtype=D)
    mask[:, 1] = 1          # token 1: every modality
    mask[0, 3] = 1          # token 3: modality 0 only (a patch mask)
    mask[1, 6] = 1          # token 6: modality 1 only
    tok = patchify(x)
    keep = (1 - mask).T.repeat_interleave(P[0] * P[1] * P[2], dim=1)   # [N, PD]
    xm_tok = tok * keep

    z, hx = encoder(tok, params)
    zm, hm = encoder(xm_tok, params)
    g = zm @ params["recon.weight"].T + params["recon.bias"]
    mim = ((g - tok) ** 2).mean()
    pb = sum(pbt_level(a, b) for a, b in zip(hx, hm))
    loss = mim + W_PBT * pb
    loss.backward()

    out = [("x", x), ("mask", mask), ("z", z.detach()), ("g", g.detach()), ("mim", mim.detach().reshape(1)),
           ("pbt", pb.detach().reshape(1)), ("loss", loss.detach().reshape(1)),
           ("w_pbt", torch.tensor([W_PBT], dtype=D)), ("w_off", torch.tensor([W_OFF], dtype=D))]
    out += [(n, t.detach()) for n, t in params.items()]
    out += [("grad/" + n, t.grad.detach()) for n, t in params.items()]
    write_oracle(path, out)
    print("wrote %s: %d tensors, loss %.9g (mim %.9g, pbt %.9g)" % (path, len(out), loss.item(), mim.item(), pb.item()))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/oracle-step.bin")
