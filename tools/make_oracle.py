#!/usr/bin/env python3
"""Writes tests/data/oracle.bin: a tiny E-MIM step computed by PyTorch in
double precision, the golden oracle that tests/check_oracle.c compares
libemim's ops against (the C test needs no Python).

How the committed file was made:
    python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torch numpy
    /tmp/tv/bin/python tools/make_oracle.py tests/data/oracle.bin

The step (one pre-norm ViT block, as MONAI's ViT, on a 2-channel 8x8x4 volume
with 4^3 patches):
    tok   = patchify(x)                       [N, C*P^3], MONAI token order
    h0    = tok W_pe^T + b_pe + pos           [N, hidden]
    a     = attn(LN1(h0)) W_o^T + b_o         fused qkv (no bias), 2 heads
    h1    = h0 + a
    h2    = h1 + GELU(LN2(h1) W_1^T + b_1) W_2^T + b_2
    z     = LN(h2)                            the encoder output
  the same encoder on the masked image x_m (masked patches zeroed) gives z_m;
    g     = z_m W_g^T + b_g                   reconstruction [N, C*P^3]
    mim   = mean((g - tok)^2)                 whole image
    pbt   = sum_i (1 - C_ii)^2 + w_off sum_{i!=j} C_ij^2,
            C_ij = <z_i, zm_j> / (|z_i| |zm_j|), |v| = sqrt(sum v^2 + 1e-12)
    loss  = mim + w_pbt * pbt
Every tensor is stored as float32 (inputs rounded from the double values the
reference used, so the C side starts from exactly the same numbers).

File format (little-endian): 8 bytes magic "EMIMORCL", u32 version (1),
u32 count, then per tensor: u32 name length, name bytes, u32 ndim, ndim u32
dims, prod(dims) float32 values.
"""
import struct
import sys

import torch

torch.manual_seed(20261122)
D = torch.float64

C, H, W, Dz, P = 2, 8, 8, 4, 4           # channels, volume, patch size
G = (H // P, W // P, Dz // P)            # patch grid 2 x 2 x 1
N = G[0] * G[1] * G[2]                   # 4 tokens
PD = C * P ** 3                          # 128 values per patch
HID, HEADS, MLP = 16, 2, 32
EPS = 1e-5
W_PBT, W_OFF = 0.5, 1.0


def f32(t):
    """Rounds to float32 and back, so both sides start from the same values."""
    return t.to(torch.float32).to(D)


def patchify(img):
    c, h, w, d = img.shape
    g0, g1, g2 = h // P, w // P, d // P
    t = img.reshape(c, g0, P, g1, P, g2, P).permute(1, 3, 5, 0, 2, 4, 6)
    return t.reshape(g0 * g1 * g2, c * P ** 3)


def layernorm(x, w, b):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + EPS) * w + b


def attention(x, wqkv):
    qkv = x @ wqkv.T                                   # [N, 3*HID]
    dh = HID // HEADS
    q, k, v = qkv[:, :HID], qkv[:, HID:2 * HID], qkv[:, 2 * HID:]
    outs = []
    for hh in range(HEADS):
        sl = slice(hh * dh, (hh + 1) * dh)
        s = q[:, sl] @ k[:, sl].T * dh ** -0.5
        outs.append(torch.softmax(s, dim=-1) @ v[:, sl])
    return torch.cat(outs, dim=1)


def gelu(x):
    return 0.5 * x * (1 + torch.erf(x / 2 ** 0.5))


def encoder(tok, p):
    h0 = tok @ p["w_pe"].T + p["b_pe"] + p["pos"]
    a = attention(layernorm(h0, p["ln1_w"], p["ln1_b"]), p["w_qkv"]) @ p["w_o"].T + p["b_o"]
    h1 = h0 + a
    m = gelu(layernorm(h1, p["ln2_w"], p["ln2_b"]) @ p["w_1"].T + p["b_1"]) @ p["w_2"].T + p["b_2"]
    h2 = h1 + m
    return layernorm(h2, p["ln_w"], p["ln_b"])


def pbt(z, zm):
    zn = z / torch.sqrt((z * z).sum(-1, keepdim=True) + 1e-12)
    zmn = zm / torch.sqrt((zm * zm).sum(-1, keepdim=True) + 1e-12)
    c = zn @ zmn.T
    diag = torch.diagonal(c)
    off = c - torch.diag(diag)
    return ((1 - diag) ** 2).sum() + W_OFF * (off ** 2).sum()


def write_oracle(path, out):
    """The file format of the docstring: (name, tensor) pairs as float32."""
    with open(path, "wb") as f:
        f.write(b"EMIMORCL")
        f.write(struct.pack("<II", 1, len(out)))
        for name, t in out:
            b = name.encode()
            f.write(struct.pack("<I", len(b)) + b)
            f.write(struct.pack("<I", t.dim()) + struct.pack("<%dI" % t.dim(), *t.shape))
            f.write(t.to(torch.float32).contiguous().numpy().astype("<f4").tobytes())


def main(path):
    shapes = {
        "w_pe": (HID, PD), "b_pe": (HID,), "pos": (N, HID),
        "ln1_w": (HID,), "ln1_b": (HID,), "w_qkv": (3 * HID, HID), "w_o": (HID, HID), "b_o": (HID,),
        "ln2_w": (HID,), "ln2_b": (HID,), "w_1": (MLP, HID), "b_1": (MLP,), "w_2": (HID, MLP), "b_2": (HID,),
        "ln_w": (HID,), "ln_b": (HID,), "w_g": (PD, HID), "b_g": (PD,),
    }
    params = {}
    for name, shape in shapes.items():
        if name.endswith("_w") and name.startswith("ln"):
            t = 1 + 0.1 * torch.randn(shape, dtype=D)
        elif name == "pos" or name.startswith("w_"):
            t = torch.randn(shape, dtype=D) / (shape[-1] ** 0.5)
        else:
            t = 0.1 * torch.randn(shape, dtype=D)
        params[name] = f32(t).requires_grad_(True)
    x = f32(torch.rand(C, H, W, Dz, dtype=D))
    mask = torch.zeros(N, dtype=D)
    mask[1] = 1.0                                     # token 1 masked in all channels
    xm_tok = patchify(x) * (1 - mask)[:, None]
    tok = patchify(x)

    z = encoder(tok, params)
    zm = encoder(xm_tok, params)
    g = zm @ params["w_g"].T + params["b_g"]
    mim = ((g - tok) ** 2).mean()
    pb = pbt(z, zm)
    loss = mim + W_PBT * pb
    loss.backward()

    out = [("x", x), ("mask", mask), ("x_m_tokens", xm_tok), ("tokens", tok)]
    out += [(n, t.detach()) for n, t in params.items()]
    out += [("z", z.detach()), ("z_m", zm.detach()), ("g", g.detach()),
            ("mim", mim.detach().reshape(1)), ("pbt", pb.detach().reshape(1)), ("loss", loss.detach().reshape(1)),
            ("w_pbt", torch.tensor([W_PBT], dtype=D)), ("w_off", torch.tensor([W_OFF], dtype=D))]
    out += [("grad_" + n, t.grad.detach()) for n, t in params.items()]
    write_oracle(path, out)
    print("wrote %s: %d tensors, loss %.9g (mim %.9g, pbt %.9g)" % (path, len(out), loss.item(), mim.item(), pb.item()))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/oracle.bin")
