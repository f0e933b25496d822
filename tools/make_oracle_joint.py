#!/usr/bin/env python3
"""Writes tests/data/oracle-joint.bin: the ops of the joint-embedding
methods (Barlow Twins, MoCo v2: batch norm, cross-entropy, region pooling,
ZCA whitening, and the small rsqrt and add_diag), forward and backward,
computed by PyTorch in double precision, for tests/check_oracle.c (which
needs no Python).

    python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torch numpy
    /tmp/tv/bin/python tools/make_oracle_joint.py tests/data/oracle-joint.bin

Every input is drawn with the fixed seed below and rounded to float32 (so
the C side starts from exactly the same numbers); every output is PyTorch's
double result rounded to float32. Gradients are autograd's of
sum(out * dout) for the stored upstream gradient dout (a scalar dloss for a
scalar loss). Tensors are named "<case>/<what>"; the scalars the C side
passes (eps, temperature, R, T, momentum, alpha) are stored as [1] tensors
too. The cases:

  bn      emim_batchnorm[_backward], affine: x [6, 5] (columns of different
          scales and offsets; column 4 with a spread of 0.01, so eps [1] =
          1e-5 matters), w, b [5], dout [6, 5];
            out = F.batch_norm(x, None, None, w, b, training=True, eps=1e-5)
            mean [5] = column means, rstd [5] = 1 / sqrt(biased var + eps)
            dx, dw, db = the gradients of sum(out * dout)
  bn0     the same x and dout without affine (w = b = None): out, dx
          (mean and rstd are bn's)
  ce      emim_cross_entropy[_backward]: logits x [4, 7], target [4] =
          (3, 0, 6, 3) as floats, temperature 0.2, dloss [1] = 0.7;
            s    = float32(1 / float32(temperature)) (as the C computes it)
            loss = F.cross_entropy(s x, target)          (mean over rows)
            lse  [4] = logsumexp(s x) per row
            dx   = the gradient of dloss * loss
  rp      emim_region_pool[_backward]: x [2, 8, 5] (B, N, D), R = 3,
          region [8] = (0, 2, -1, 0, 2, 2, 0, -1): tokens 2 and 7 in no
          region, region 1 empty;
            out [2, 3, 5]: out[b, r] = mean of x[b, n] over region[n] == r,
                           0 for the empty region
            dx  [2, 8, 5] = the gradient of sum(out * dout), 0 for the
                           tokens in no region
  zca     emim_zca[_backward]: x [12, 4] (correlated columns with offsets),
          T = 5, eps = 1e-5, IterNorm's uncoupled iteration:
            mu = colmean(x), Xc = x - mu, S = Xc^T Xc / 12 + eps I,
            tr = trace(S), A = S / tr, P_0 = I,
            P_{k+1} = 1.5 P_k - 0.5 P_k^3 A (k < 5), W = P_5 / sqrt(tr),
            y = Xc W;  stored: y, W [4, 4], mu [4], tr [1], dy, dx
  zcar    emim_zca_running_init/update and emim_zca_eval: from mean = 0,
          W = I, one update with momentum 0.1 from zca's forward:
            mean = 0.1 mu, W = 0.9 I + 0.1 W_zca;
          then y = (x2 - mean) W for x2 [5, 4]
  rsqrt   emim_rsqrt[_backward]: a [7] in [0.05, 4], out = a^(-1/2),
          da = the gradient of sum(out * dout) = -dout a^(-3/2) / 2
  diag    emim_add_diag[_backward]: a [3, 5] and a2 [5, 3], alpha 0.375:
          out = a + alpha I (the first min(rows, cols) diagonal elements),
          da = dout (and out2, da2 for a2)

File format as tools/make_oracle.py's (version 1).
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_oracle import write_oracle  # noqa: E402

D = torch.float64


def f32(t):
    """Rounds to float32 and back, so both sides start from the same values."""
    return t.to(torch.float32).to(D)


def leaf(t):
    return f32(t).requires_grad_(True)


def grads(out, dout, *inputs):
    """The gradients of sum(out * dout) with respect to inputs."""
    return torch.autograd.grad((out * dout).sum(), inputs)


def case_bn(out):
    n, d, eps = 6, 5, 1e-5
    scale = torch.tensor([1.0, 3.0, 0.2, 1.5, 0.01], dtype=D)
    shift = torch.tensor([0.0, -2.0, 0.5, 1.0, 0.3], dtype=D)
    x = leaf(torch.randn(n, d, dtype=D) * scale + shift)
    w = leaf(1 + 0.1 * torch.randn(d, dtype=D))
    b = leaf(0.1 * torch.randn(d, dtype=D))
    dout = f32(torch.randn(n, d, dtype=D))
    y = F.batch_norm(x, None, None, w, b, training=True, eps=eps)
    dx, dw, db = grads(y, dout, x, w, b)
    mean = x.detach().mean(0)
    rstd = 1 / torch.sqrt(((x.detach() - mean) ** 2).mean(0) + eps)
    out += [("bn/x", x.detach()), ("bn/eps", torch.tensor([eps], dtype=D)), ("bn/w", w.detach()), ("bn/b", b.detach()), ("bn/dout", dout),
            ("bn/out", y.detach()), ("bn/mean", mean), ("bn/rstd", rstd), ("bn/dx", dx), ("bn/dw", dw),
            ("bn/db", db)]
    y0 = F.batch_norm(x, None, None, None, None, training=True, eps=eps)
    (dx0,) = grads(y0, dout, x)
    out += [("bn0/out", y0.detach()), ("bn0/dx", dx0)]


def case_ce(out):
    n, k, temp = 4, 7, 0.2
    x = leaf(torch.randn(n, k, dtype=D))
    target = torch.tensor([3, 0, 6, 3])
    s = (torch.tensor(1.0, dtype=torch.float32) / torch.tensor(temp, dtype=torch.float32)).to(D)
    dloss = torch.tensor([0.7], dtype=D)
    loss = F.cross_entropy(s * x, target)
    lse = torch.logsumexp(s * x.detach(), dim=1)
    (dx,) = grads(loss, dloss[0], x)
    out += [("ce/x", x.detach()), ("ce/target", target.to(D)), ("ce/temperature", torch.tensor([temp], dtype=D)),
            ("ce/dloss", f32(dloss)), ("ce/loss", loss.detach().reshape(1)), ("ce/lse", lse), ("ce/dx", dx)]


def case_rp(out):
    B, N, R, Dd = 2, 8, 3, 5
    region = torch.tensor([0, 2, -1, 0, 2, 2, 0, -1])
    x = leaf(torch.randn(B, N, Dd, dtype=D))
    y = torch.zeros(B, R, Dd, dtype=D)
    for r in range(R):
        sel = region == r
        if sel.any():
            y[:, r] = x[:, sel].mean(1)
    dout = f32(torch.randn(B, R, Dd, dtype=D))
    (dx,) = grads(y, dout, x)
    out += [("rp/x", x.detach()), ("rp/region", region.to(D)), ("rp/R", torch.tensor([R], dtype=D)),
            ("rp/out", y.detach()), ("rp/dout", dout), ("rp/dx", dx)]


def iternorm(x, T, eps):
    n, d = x.shape
    mu = x.mean(0)
    xc = x - mu
    S = xc.T @ xc / n + eps * torch.eye(d, dtype=D)
    tr = torch.trace(S)
    A = S / tr
    P = torch.eye(d, dtype=D)
    for _ in range(T):
        P = 1.5 * P - 0.5 * P @ P @ P @ A
    W = P / torch.sqrt(tr)
    return xc @ W, W, mu, tr


def case_zca(out):
    n, d, T, eps, m = 12, 4, 5, 1e-5, 0.1
    mix = torch.tensor([[1.0, 0.5, 0.0, 0.2], [0.0, 1.0, 0.7, 0.0], [0.3, 0.0, 1.0, -0.4], [0.0, 0.2, 0.0, 0.5]],
                       dtype=D)
    x = leaf(torch.randn(n, d, dtype=D) @ mix + torch.tensor([0.5, -1.0, 2.0, 0.0], dtype=D))
    y, W, mu, tr = iternorm(x, T, eps)
    dy = f32(torch.randn(n, d, dtype=D))
    (dx,) = grads(y, dy, x)
    out += [("zca/x", x.detach()), ("zca/T", torch.tensor([T], dtype=D)), ("zca/eps", torch.tensor([eps], dtype=D)),
            ("zca/y", y.detach()), ("zca/W", W.detach()), ("zca/mu", mu.detach()), ("zca/tr", tr.detach().reshape(1)),
            ("zca/dy", dy), ("zca/dx", dx)]
    rmean = m * mu.detach()
    rW = (1 - m) * torch.eye(d, dtype=D) + m * W.detach()
    x2 = f32(torch.randn(5, d, dtype=D) + 0.5)
    out += [("zcar/momentum", torch.tensor([m], dtype=D)), ("zcar/mean", rmean), ("zcar/W", rW), ("zcar/x", x2),
            ("zcar/y", (x2 - rmean) @ rW)]


def case_small(out):
    a = leaf(0.05 + 3.95 * torch.rand(7, dtype=D))
    y = a ** -0.5
    dout = f32(torch.randn(7, dtype=D))
    (da,) = grads(y, dout, a)
    out += [("rsqrt/a", a.detach()), ("rsqrt/out", y.detach()), ("rsqrt/dout", dout), ("rsqrt/da", da)]
    alpha = 0.375
    out += [("diag/alpha", torch.tensor([alpha], dtype=D))]
    for tag, shape in (("", (3, 5)), ("2", (5, 3))):
        a = leaf(torch.randn(*shape, dtype=D))
        y = a + alpha * torch.eye(*shape, dtype=D)
        dout = f32(torch.randn(*shape, dtype=D))
        (da,) = grads(y, dout, a)
        out += [("diag/a" + tag, a.detach()), ("diag/out" + tag, y.detach()), ("diag/dout" + tag, dout),
                ("diag/da" + tag, da)]


def main(path):
    torch.manual_seed(20261216)
    out = []
    case_bn(out)
    case_ce(out)
    case_rp(out)
    case_zca(out)
    case_small(out)
    write_oracle(path, out)
    loss = dict(out)["ce/loss"].item()
    print("wrote %s: %d tensors (cross-entropy %.9g)" % (path, len(out), loss))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/oracle-joint.bin")
