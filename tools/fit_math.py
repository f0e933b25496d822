#!/usr/bin/env python3
"""Fit the polynomial coefficients of the elementary functions in src/core/emim_math.h.

How the coefficients in the header were produced: this script, run as

    pip install mpmath numpy
    python3 tools/fit_math.py

prints every coefficient as a C/OpenCL hex float literal (f suffix); they were
pasted into src/core/emim_math.h unchanged.  For each polynomial:

  * the target function is evaluated with mpmath at 50 digits on a dense grid
    (Chebyshev nodes of the interval plus its end points);
  * the error that matters (relative error of the whole function value, or
    the error of erf caused by an error in log(erfc)) is minimised in the
    max norm by Lawson's iteratively reweighted least squares (numpy, double
    precision; it converges to the minimax polynomial);
  * the coefficients are then rounded to float one at a time, most
    significant first, refitting the remaining ones after each rounding, so
    that the rounding of earlier coefficients is compensated by later ones.

Leading coefficients that are exact (1, -1/2) are fixed, not fitted.  The
printed "max err" is that of the float-coefficient polynomial evaluated
exactly; the errors of the float evaluation are measured in tests/check_math.c.

Polynomials (v = the reduced argument):
  exp:  exp(r) = 1 + r + r^2 P(r),            |r| <= ln2/2 (+ margin)
  log:  log(1+f) = f + f^2 (-1/2 + f P(f)),   f in [sqrt(1/2)-1, sqrt(2)-1]
  erf:  erf(x) = x + x Q(x^2),                |x| < 1
        erfc(a) = exp(G(a - 5/2) - a^2),      1 <= a <= 4
  sin:  sin(pi/2 f) = f pi/2 + f^3 S(f^2),    |f| <= 1/2 (pi/2 = hi + lo)
  cos:  cos(pi/2 f) = 1 + f^2 C(f^2),         |f| <= 1/2
It also prints the split constants ln2_hi/ln2_lo and log2(e).
"""
import mpmath as mp
import numpy as np

mp.mp.dps = 50


def f32(v):
    return float(np.float32(v))


def hexf(v):
    """A float (already representable in binary32) as a C hex literal with f suffix."""
    v = float(v)
    assert v == f32(v), v
    if v == 0.0:
        return "0.0f"
    s = v.hex()  # e.g. '-0x1.5555560000000p-3'
    sign = "-" if s.startswith("-") else ""
    s = s.lstrip("-")
    mant, exp = s[2:].split("p")
    if "." in mant:
        ip, fp = mant.split(".")
        fp = fp.rstrip("0") or "0"
        mant = ip + "." + fp
    e = int(exp)
    return "%s0x%sp%+df" % (sign, mant, e)


def nodes(lo, hi, n=4000):
    k = np.arange(n)
    x = np.cos(np.pi * (k + 0.5) / n)
    x = np.concatenate([x, [-1.0, 1.0]])
    return [mp.mpf(lo) + (mp.mpf(hi) - mp.mpf(lo)) * (mp.mpf(float(t)) + 1) / 2 for t in x]


def lawson(A, t, iters=600):
    """min_c max_i |t_i - (A c)_i| by Lawson's algorithm."""
    w = np.ones(len(t)) / len(t)
    c = None
    for _ in range(iters):
        sw = np.sqrt(w)
        c, *_ = np.linalg.lstsq(A * sw[:, None], t * sw, rcond=None)
        r = np.abs(t - A @ c)
        w = w * r
        s = w.sum()
        if s == 0.0:
            break
        w /= s
        w = np.maximum(w, 1e-300)
    return c


def fit(cols, target, iters=600):
    """cols: list of arrays (already weighted); target: array (weighted).
    Returns float32-representable coefficients and the final max error."""
    cols = [np.asarray(c, dtype=float) for c in cols]
    t = np.asarray(target, dtype=float).copy()
    out = []
    m = len(cols)
    for j in range(m):
        A = np.stack(cols[j:], axis=1)
        c = lawson(A, t, iters)
        if j == 0:
            print("  (unrounded max err %.3g)" % np.max(np.abs(t - A @ c)))
        cj = f32(c[0])
        out.append(cj)
        t = t - cj * cols[j]
    return out, float(np.max(np.abs(t)))


def fl(xs):
    return np.array([float(v) for v in xs])


def fit_exp(deg=5):
    h = mp.log(2) / 2 * mp.mpf("1.002")
    xs = [x for x in nodes(-h, h) if x != 0]
    ex = [mp.exp(x) for x in xs]
    target = fl([(e - 1 - x) / e for x, e in zip(xs, ex)])
    cols = [fl([x ** (2 + j) / e for x, e in zip(xs, ex)]) for j in range(deg + 1)]
    return fit(cols, target)


def fit_log(deg):
    lo = mp.mpf(f32(mp.sqrt(0.5))) - 1 - mp.mpf("1e-7")
    hi = mp.sqrt(2) - 1 + mp.mpf("1e-7")
    xs = [x for x in nodes(lo, hi) if x != 0]
    ly = [mp.log1p(x) for x in xs]
    target = fl([(l - x + x * x / 2) / l for x, l in zip(xs, ly)])
    cols = [fl([x ** (3 + j) / l for x, l in zip(xs, ly)]) for j in range(deg + 1)]
    return fit(cols, target)


def fit_erf_small(deg, b=1.0):
    xs = [x for x in nodes(-b, b) if x > 0]
    ey = [mp.erf(x) for x in xs]
    target = fl([(e - x) / e for x, e in zip(xs, ey)])
    cols = [fl([x ** (1 + 2 * j) / e for x, e in zip(xs, ey)]) for j in range(deg + 1)]
    return fit(cols, target)


def fit_erf_large(deg, b=1.0, c=4.0, mid=2.5):
    xs = nodes(b, c)
    # weight: an error d in G changes erf by erfc*d; relative to erf.
    w = [mp.erfc(a) / mp.erf(a) for a in xs]
    target = fl([(mp.log(mp.erfc(a)) + a * a) * wi for a, wi in zip(xs, w)])
    cols = [fl([(a - mid) ** j * wi for a, wi in zip(xs, w)]) for j in range(deg + 1)]
    return fit(cols, target)


def fit_sin(deg):
    # pi/2 is fixed as hi + lo (both floats); S' is fitted.
    xs = [x for x in nodes(-0.5, 0.5) if x != 0]
    sy = [mp.sin(mp.pi / 2 * x) for x in xs]
    p2 = mp.pi / 2
    target = fl([(s - x * p2) / s for x, s in zip(xs, sy)])
    cols = [fl([x ** (3 + 2 * j) / s for x, s in zip(xs, sy)]) for j in range(deg + 1)]
    return fit(cols, target)


def fit_cos(deg):
    xs = [x for x in nodes(-0.5, 0.5) if x != 0]
    cy = [mp.cos(mp.pi / 2 * x) for x in xs]
    target = fl([(cc - 1) / cc for cc in cy])
    cols = [fl([x ** (2 + 2 * j) / cc for x, cc in zip(xs, cy)]) for j in range(deg + 1)]
    return fit(cols, target)


def show(name, res):
    coefs, err = res
    print("%s: max err %.3g (2^%.1f)" % (name, err, float(mp.log(err, 2)) if err > 0 else -999))
    for i, cc in enumerate(coefs):
        print("    c%d = %s  /* %.9g */" % (i, hexf(cc), cc))


import os
EXP_DEG = int(os.environ.get("EXP_DEG", 4))
LOG_DEG = int(os.environ.get("LOG_DEG", 7))
ERF_SMALL_DEG = int(os.environ.get("ERF_SMALL_DEG", 6))
ERF_LARGE_DEG = int(os.environ.get("ERF_LARGE_DEG", 7))
SIN_DEG = int(os.environ.get("SIN_DEG", 3))
COS_DEG = int(os.environ.get("COS_DEG", 3))


def main():
    ln2 = mp.log(2)
    hi = f32(ln2)
    lo = f32(ln2 - hi)
    print("ln2_hi = %s, ln2_lo = %s, log2e = %s" % (hexf(hi), hexf(lo), hexf(f32(1 / ln2))))
    p2 = mp.pi / 2
    print("pi/2 hi = %s, lo = %s" % (hexf(f32(p2)), hexf(f32(p2 - f32(p2)))))
    show("exp P (r^0..)", fit_exp(EXP_DEG))
    show("log P (f^0..)", fit_log(LOG_DEG))
    show("erf small Q (x^2 powers)", fit_erf_small(ERF_SMALL_DEG))
    show("erf large G (t^0..), t = a - 2.5", fit_erf_large(ERF_LARGE_DEG))
    show("sin S (f^2 powers, from f^3)", fit_sin(SIN_DEG))
    show("cos C (f^2 powers)", fit_cos(COS_DEG))


if __name__ == "__main__":
    main()
