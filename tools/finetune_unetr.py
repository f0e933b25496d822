#!/usr/bin/env python3
"""Segmentation hand-off (doc/finetune.md): MONAI's UNETR fine-tuned from
libemim's encoder against the same UNETR randomly initialised, on a
BraTS-layout folder (segmentations with labels 0 to 3: the phantom's -seg
files, 1 oedema, 2 enhancing rim, 3 necrotic core), printing the validation
Dice of both.

    tools/finetune_unetr.py --run RUN --data DIR [--epochs 20] [--val 12] ...
    tools/finetune_unetr.py --encoder enc.safetensors --data DIR ...

--run exports the encoder with `emim export RUN --prefix vit.` (--emim names
the tool); --encoder takes such an export. The two arms differ only in the
encoder's starting weights: the decoder's initialisation, the subjects, the
crops and their order are the same (--seed). The input is prepared as the
export's `preprocessing` metadata says libemim prepared it in pretraining:
per modality, clipped to its foreground's percentiles and mapped to [0, 1]
(background 0), cropped to the foreground's box, a window of the encoder's
img_size (the centre for validation, a random one and random flips for
training), the segmentation cropped alike.

Writes a table of Dice per class and for the whole lesion, one line per arm,
and --out (a TSV of every epoch). Needs torch, monai, safetensors, nibabel:
tools/finetune-unetr.sh makes a virtual environment with them from PyPI.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np


def die(msg):
    sys.exit(f"finetune_unetr: {msg}")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", help="a libemim run folder or checkpoint (exported with emim export --prefix vit.)")
    src.add_argument("--encoder", help="an export: emim export RUN --prefix vit. --out FILE")
    p.add_argument("--data", required=True, help="BraTS-layout folder: SUBJECT/SUBJECT-<modality>.nii[.gz] and -seg")
    p.add_argument("--emim", default=os.environ.get("EMIM", "emim"), help="the emim tool [emim, or $EMIM]")
    p.add_argument("--epochs", type=int, default=20, help="passes over the training subjects [20]")
    p.add_argument("--val", type=int, default=12, help="the last N subjects (sorted by name) validate [12]")
    p.add_argument("--batch", type=int, default=2, help="volumes per step [2]")
    p.add_argument("--lr", type=float, default=3e-4, help="AdamW's learning rate, both arms (a short schedule: 3 times MONAI tutorials' 1e-4) [3e-4]")
    p.add_argument("--weight-decay", type=float, default=1e-5, help="AdamW's weight decay [1e-5]")
    p.add_argument("--feature-size", type=int, default=16, help="UNETR's feature_size (MONAI's default) [16]")
    p.add_argument("--seed", type=int, default=0, help="decoder initialisation, crops and order [0]")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default) [0]")
    p.add_argument("--device", default="auto", help="torch device: auto (cuda when there is one), cpu, cuda, ... [auto]")
    p.add_argument("--arms", default="pretrained,random",
                   help="which arms, in order: pretrained, random, and none (the encoder's outputs replaced by "
                        "zeros: what UNETR's convolutional path from the image does alone) [pretrained,random]")
    p.add_argument("--names", default="oedema,rim,core",
                   help="the names of labels 1, 2, 3 in the report (the phantom's; BraTS 2023: ncr,ed,et) "
                        "[oedema,rim,core]")
    p.add_argument("--out", default="finetune-unetr.tsv", help="per-epoch TSV [finetune-unetr.tsv]")
    a = p.parse_args()
    if a.epochs < 1 or a.batch < 1 or a.val < 1 or a.feature_size < 1:
        die("--epochs, --batch, --val and --feature-size must be positive")
    arms = a.arms.split(",")
    if not arms or any(x not in ("pretrained", "random", "none") for x in arms) or len(set(arms)) < len(arms):
        die(f"--arms {a.arms}: a list of pretrained, random and none, each once")
    a.arms = arms
    names = a.names.split(",")
    if len(names) != 3 or not all(re.fullmatch(r"[A-Za-z0-9_-]+", n) for n in names):
        die(f"--names {a.names}: three names of letters, digits, - and _")
    CLASSES[:] = [(names[0], [1]), (names[1], [2]), (names[2], [3]), ("lesion", [1, 2, 3])]
    return a


def read_export(path, shown):
    """The export's tensors, its ViT arguments, percentiles and modalities; errors name `shown`."""
    from safetensors import safe_open
    try:
        with safe_open(path, "pt") as f:
            meta = f.metadata() or {}
            sd = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # noqa: BLE001 - one line naming the file
        die(f"{shown}: not a safetensors file: {e}")
    if "monai_vit" not in meta:
        die(f"{shown}: no monai_vit metadata: not written by emim export")
    vit = json.loads(meta["monai_vit"])
    if vit["num_layers"] != 12:
        die(f"{shown}: the encoder has {vit['num_layers']} layers; MONAI's UNETR builds 12 and reads hidden states "
            f"3, 6 and 9: pretrain with --layers 12 (or --preset small or base)")
    if any(p != 16 for p in vit["patch_size"]):
        die(f"{shown}: patches of {vit['patch_size']} voxels; MONAI's UNETR takes 16 on every axis")
    if not all(k.startswith("vit.") for k in sd):
        die(f"{shown}: tensors without the vit. prefix: export with emim export RUN --prefix vit.")
    pre = meta.get("preprocessing", "")
    m = re.search(r"foreground's ([0-9.]+) and ([0-9.]+) percentiles", pre)
    mods = re.search(r"modalities: ([A-Za-z0-9_,.-]+)", pre)
    sp = re.search(r"resampled to ([0-9.,]+) mm", pre)
    if not m or not mods:
        die(f"{shown}: cannot read the preprocessing metadata: '{pre}'")
    if sp and any(float(v) != 0 for v in sp.group(1).split(",")):
        die(f"{shown}: the encoder was pretrained on resampled data ({sp.group(0)}); this script keeps the voxels as "
            f"they are: resample the folder first")
    if "cropped to the foreground" not in pre:
        die(f"{shown}: the encoder was pretrained without the foreground crop; this script always crops")
    return sd, vit, (float(m.group(1)), float(m.group(2))), mods.group(1).split(","), meta


def subjects_of(data, mods):
    if not os.path.isdir(data):
        die(f"{data}: not a folder")
    out = []
    for name in sorted(os.listdir(data)):
        d = os.path.join(data, name)
        if not os.path.isdir(d):
            continue
        files = []
        for m in mods + ["seg"]:
            hit = [os.path.join(d, f"{name}-{m}{ext}") for ext in (".nii.gz", ".nii")]
            hit = [h for h in hit if os.path.exists(h)]
            if not hit:
                die(f"{d}: no {name}-{m}.nii[.gz]")
            files.append(hit[0])
        out.append((name, files))
    if not out:
        die(f"{data}: no subject folders")
    return out


def percentile(v, p):
    # libemim's emim_percentile: linear between the order statistics at p/100 (m - 1)
    return float(np.percentile(v, p, method="linear"))


def prepare(files, p_lo, p_hi):
    """[C, X, Y, Z] in [0, 1] and the segmentation [X, Y, Z], cropped to the foreground's box."""
    import nibabel as nib
    vols = []
    for f in files:
        try:
            vols.append(np.asarray(nib.load(f).get_fdata(dtype=np.float32)))
        except Exception as e:  # noqa: BLE001
            die(f"{f}: cannot read: {e}")
    seg = np.rint(vols.pop()).astype(np.int64)
    if seg.min() < 0 or seg.max() > 3:
        die(f"{files[-1]}: labels {sorted(set(np.unique(seg).tolist()))}: this script segments labels 0 to 3 "
            f"(BraTS 2021 writes 4 for the enhancing tumour: map it to 3 first)")
    x = np.stack(vols)
    if any(v.shape != seg.shape for v in vols):
        die(f"{files[0]}: the modalities and the segmentation differ in shape")
    fg = (x != 0).any(0)
    if not fg.any():
        die(f"{files[0]}: an empty image")
    for c in range(x.shape[0]):
        v = x[c][fg]
        lo, hi = percentile(v, p_lo), percentile(v, p_hi)
        t = (x[c] - lo) / (hi - lo) if hi > lo else np.zeros_like(x[c])
        x[c] = np.where(fg, np.clip(t, 0, 1), 0)
    idx = np.nonzero(fg)
    box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in idx)
    return x[(slice(None),) + box], seg[box]


def window(x, seg, size, rng):
    """A window of `size` voxels: the centre (rng None) or a random one with random flips; pads with 0."""
    out = np.zeros((x.shape[0],) + tuple(size), np.float32)
    sout = np.zeros(tuple(size), np.int64)
    src, dst = [], []
    for a in range(3):
        n, s = x.shape[1 + a], size[a]
        if n > s:
            st = int(rng.integers(0, n - s + 1)) if rng is not None else (n - s) // 2
            src.append(slice(st, st + s))
            dst.append(slice(0, s))
        else:
            off = (s - n) // 2
            src.append(slice(0, n))
            dst.append(slice(off, off + n))
    out[(slice(None),) + tuple(dst)] = x[(slice(None),) + tuple(src)]
    sout[tuple(dst)] = seg[tuple(src)]
    if rng is not None:
        for a in range(3):
            if rng.integers(0, 2):
                out = np.flip(out, 1 + a)
                sout = np.flip(sout, a)
    return np.ascontiguousarray(out), np.ascontiguousarray(sout)


# (name, labels): Dice per label 1, 2, 3 (--names) and for the whole lesion
CLASSES = [("oedema", [1]), ("rim", [2]), ("core", [3]), ("lesion", [1, 2, 3])]


def dice(pred, gt):
    """Dice per entry of CLASSES; nan where both are empty."""
    out = []
    for _, labels in CLASSES:
        p, g = np.isin(pred, labels), np.isin(gt, labels)
        s = p.sum() + g.sum()
        out.append(2.0 * np.logical_and(p, g).sum() / s if s else float("nan"))
    return out


def no_encoder(torch, tokens, hidden, layers):
    """A stand-in for UNETR's ViT: zeros for its output and every hidden state."""
    class NoEncoder(torch.nn.Module):
        def forward(self, x):
            z = x.new_zeros(x.shape[0], tokens, hidden)
            return z, [z] * layers
    return NoEncoder()


def main():
    a = parse_args()
    import torch
    import monai
    from monai.losses import DiceCELoss
    from monai.networks.nets import UNETR

    if a.threads:
        torch.set_num_threads(a.threads)
    dev = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if a.device == "auto" else a.device)
    tmp = None
    enc = a.encoder
    if a.run:
        tmp = tempfile.TemporaryDirectory(prefix="finetune-unetr-")
        enc = os.path.join(tmp.name, "encoder.safetensors")
        r = subprocess.run([a.emim, "-q", "export", a.run, "--prefix", "vit.", "--out", enc],
                           capture_output=True, text=True)
        if r.returncode:
            die(f"emim export {a.run} failed: {(r.stderr or r.stdout).strip()}")
    shown = a.run or enc
    sd, vit, (p_lo, p_hi), mods, meta = read_export(enc, shown)
    size = vit["img_size"]
    subj = subjects_of(a.data, mods)
    if len(subj) <= a.val:
        die(f"{a.data}: {len(subj)} subjects: --val {a.val} leaves none to train on")
    if len(mods) != vit["in_channels"]:
        die(f"{shown}: {vit['in_channels']} input channels but {len(mods)} modalities in its metadata")
    t0 = time.time()
    prepared = [prepare(f, p_lo, p_hi) for _, f in subj]
    train, val = prepared[:-a.val], prepared[-a.val:]
    val_w = [window(x, s, size, None) for x, s in val]
    print(f"MONAI {monai.__version__}, torch {torch.__version__}; encoder {a.run or a.encoder} "
          f"({meta.get('method', '?')}, step {meta.get('step', '?')}; hidden {vit['hidden_size']}, "
          f"{vit['num_layers']} layers, img_size {size}); {len(train)} training and {len(val)} validation subjects "
          f"of {a.data} (prepared in {time.time() - t0:.1f} s); {a.epochs} epochs, batch {a.batch}, lr {a.lr:g}, "
          f"feature_size {a.feature_size}, seed {a.seed}, on {dev}", flush=True)

    rows, final = [], {}
    for arm in a.arms:
        torch.manual_seed(a.seed)
        net = UNETR(in_channels=vit["in_channels"], out_channels=4, img_size=size, feature_size=a.feature_size,
                    hidden_size=vit["hidden_size"], mlp_dim=vit["mlp_dim"], num_heads=vit["num_heads"],
                    proj_type="conv", norm_name="instance", res_block=True, dropout_rate=0.0,
                    qkv_bias=vit["qkv_bias"])
        if arm == "pretrained":
            r = net.load_state_dict(sd, strict=False)
            bad = [k for k in r.missing_keys if k.startswith("vit.")] + list(r.unexpected_keys)
            if bad:
                die(f"{shown}: UNETR's encoder does not take the export: {bad[:5]}")
        if arm == "none":
            net.vit = no_encoder(torch, int(np.prod([s // 16 for s in size])), vit["hidden_size"], vit["num_layers"])
        net = net.to(dev)
        opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=a.weight_decay)
        loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
        rng = np.random.default_rng(a.seed)
        for ep in range(1, a.epochs + 1):
            t1 = time.time()
            net.train()
            order = rng.permutation(len(train))
            total, steps = 0.0, 0
            for b0 in range(0, len(order), a.batch):
                ws = [window(*train[i], size, rng) for i in order[b0:b0 + a.batch]]
                x = torch.from_numpy(np.stack([w[0] for w in ws])).to(dev)
                y = torch.from_numpy(np.stack([w[1] for w in ws]))[:, None].to(dev)
                loss = loss_fn(net(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item()
                steps += 1
            net.eval()
            scores = []
            with torch.no_grad():
                for x, s in val_w:
                    pred = net(torch.from_numpy(x)[None].to(dev)).argmax(1)[0].cpu().numpy()
                    scores.append(dice(pred, s))
            mean = np.nanmean(np.array(scores, dtype=float), axis=0)
            rows.append([arm, ep, total / steps] + list(mean))
            print(f"{arm:<10} epoch {ep:>3}: loss {total / steps:.4f}, validation Dice "
                  + ", ".join(f"{n} {v:.3f}" for (n, _), v in zip(CLASSES, mean))
                  + f" ({time.time() - t1:.0f} s)", flush=True)
        final[arm] = mean
    with open(a.out, "w") as f:
        f.write("# " + " ".join(sys.argv) + "\n")
        f.write("arm\tepoch\ttrain_loss\t" + "\t".join(f"dice_{n}" for n, _ in CLASSES) + "\n")
        for r in rows:
            f.write("\t".join(str(v) if isinstance(v, (str, int)) else f"{v:.6f}" for v in r) + "\n")
    print(f"\nvalidation Dice after {a.epochs} epochs ({len(val)} subjects, centre windows):")
    print(f"{'arm':<12}" + "".join(f"{n:>9}" for n, _ in CLASSES) + f"{'mean(3)':>9}")
    for arm, m in final.items():
        print(f"{arm:<12}" + "".join(f"{v:9.3f}" for v in m) + f"{np.nanmean(m[:3]):9.3f}")
    if "pretrained" in final and "random" in final:
        d = np.nanmean(final["pretrained"][:3]) - np.nanmean(final["random"][:3])
        print(f"pretrained - random: {d:+.3f} mean Dice of the three classes")
    print(f"wrote {a.out}")
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
