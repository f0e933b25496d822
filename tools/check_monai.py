#!/usr/bin/env python3
"""The encoder against MONAI itself: libemim's export loads with strict=True
into MONAI's ViT (and, for 12-layer models, UNETR's encoder) and gives the
features `emim features` gives on the same preprocessed input; a randomly
initialised MONAI ViT, saved with safetensors and read by
`emim features --weights`, gives MONAI's features in libemim, and
`emim pretrain --init` trains on from it.

Run through tools/check-monai.sh (it makes a virtual environment with torch,
monai, safetensors, nibabel and einops from PyPI), or directly with a
Python that has them: tools/check_monai.py [--emim PATH] [--quick].
Prints one line per check and exits 1 when one fails.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
import monai
from monai.networks.nets import ViT, UNETR
from safetensors.torch import load_file, save_file

TOL = 1e-4  # relative: max |a - b| / max |b|


def run(emim, *args):
    r = subprocess.run([emim, "-q", "-b", "cpu", *args], capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"emim {' '.join(args)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout


def rel(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def vit_of(meta):
    m = json.loads(meta["monai_vit"])
    return ViT(in_channels=m["in_channels"], img_size=m["img_size"], patch_size=m["patch_size"],
               hidden_size=m["hidden_size"], mlp_dim=m["mlp_dim"], num_layers=m["num_layers"],
               num_heads=m["num_heads"], qkv_bias=m["qkv_bias"]), m


def compare(name, vit, feats, failures):
    x = feats["input"]
    with torch.no_grad():
        out, hidden = vit(x)
    worst = rel(out, feats["output"])
    for k, t in feats.items():
        if k.startswith("hidden."):
            worst = max(worst, rel(hidden[int(k.split(".")[1])], t))
    ok = worst <= TOL
    print(f"{'ok  ' if ok else 'FAIL'} {name}: output and {len(hidden)} hidden states, largest relative error {worst:.2e}"
          f" (at most {TOL:g})")
    if not ok:
        failures.append(name)


def meta_of(path):
    from safetensors import safe_open
    with safe_open(path, "pt") as f:
        return f.metadata()


def check(emim, tmp, label, run_args, modalities, size, failures):
    ph = os.path.join(tmp, f"ph-{label}")
    run(emim, "phantom", "--out", ph, "--subjects", "1", "--size", size, "--modalities", str(len(modalities)))
    subj = os.path.join(ph, "PHANTOM-00000-000")
    images = [os.path.join(subj, f"PHANTOM-00000-000-{m}.nii.gz") for m in modalities]
    rdir = os.path.join(tmp, f"run-{label}")
    run(emim, "pretrain", "--data", ph, "--modalities", ",".join(modalities), *run_args, "--check-samples", "0",
        "--erank-every", "0", "--out", rdir)
    enc = os.path.join(tmp, f"{label}.safetensors")
    run(emim, "export", rdir, "--out", enc)
    feat = os.path.join(tmp, f"{label}-features.safetensors")
    run(emim, "features", rdir, *sum((["--image", i] for i in images), []), "--out", feat)
    vit, m = vit_of(meta_of(enc))
    missing = vit.load_state_dict(load_file(enc), strict=True)
    print(f"ok   {label}: strict load into MONAI {monai.__version__}'s ViT ({len(vit.state_dict())} tensors, "
          f"in_channels {m['in_channels']}, img_size {m['img_size']}, patch_size {m['patch_size']}) {missing}")
    vit.eval()
    compare(f"{label}: libemim's export in MONAI's ViT", vit, load_file(feat), failures)
    if m["num_layers"] == 12 and all(s % 16 == 0 for s in m["img_size"]) and m["patch_size"] == [16, 16, 16]:
        unetr = UNETR(in_channels=m["in_channels"], out_channels=2, img_size=m["img_size"], hidden_size=m["hidden_size"],
                      mlp_dim=m["mlp_dim"], num_heads=m["num_heads"], proj_type="conv", qkv_bias=m["qkv_bias"])
        vit_enc = os.path.join(tmp, f"{label}-vit.safetensors")
        run(emim, "export", rdir, "--out", vit_enc, "--prefix", "vit.")
        sd = load_file(vit_enc)
        r = unetr.load_state_dict(sd, strict=False)
        bad = [k for k in r.missing_keys if k.startswith("vit.")] + list(r.unexpected_keys)
        unetr.vit.load_state_dict({k[4:]: v for k, v in sd.items()}, strict=True)
        ok = not bad
        print(f"{'ok  ' if ok else 'FAIL'} {label}: UNETR takes every vit.* tensor ({len(sd)}); its decoder "
              f"keeps its own {len(r.missing_keys)} tensors{'; problems: ' + str(bad[:5]) if bad else ''}")
        if not ok:
            failures.append(label + " UNETR")
        unetr.eval()
        compare(f"{label}: libemim's export in UNETR's encoder", unetr.vit, load_file(feat), failures)
        # a whole UNETR state_dict (its decoder too) read back by libemim
        ufile = os.path.join(tmp, f"{label}-unetr.safetensors")
        save_file({k: v.contiguous() for k, v in unetr.state_dict().items()}, ufile)
        ufeat = os.path.join(tmp, f"{label}-unetr-features.safetensors")
        run(emim, "features", rdir, *sum((["--image", i] for i in images), []), "--weights", ufile, "--out", ufeat)
        compare(f"{label}: a whole UNETR state_dict read by libemim", unetr.vit, load_file(ufeat), failures)
    # the reverse: MONAI's own random weights read by libemim
    torch.manual_seed(0)
    mvit, _ = vit_of(meta_of(enc))
    mvit.eval()
    mfile = os.path.join(tmp, f"{label}-monai.safetensors")
    save_file({k: v.contiguous() for k, v in mvit.state_dict().items()}, mfile)
    mfeat = os.path.join(tmp, f"{label}-monai-features.safetensors")
    run(emim, "features", rdir, *sum((["--image", i] for i in images), []), "--weights", mfile, "--out", mfeat)
    compare(f"{label}: MONAI's random ViT read by libemim", mvit, load_file(mfeat), failures)
    # and trains on from it
    out = run(emim, "pretrain", "--data", ph, "--modalities", ",".join(modalities), *run_args, "--init", mfile,
              "--check-samples", "0", "--erank-every", "0", "--out", os.path.join(tmp, f"run-{label}-init"))
    ok = "the encoder starts from" in out and "done:" in out
    print(f"{'ok  ' if ok else 'FAIL'} {label}: pretrain --init with MONAI's weights trains on")
    if not ok:
        failures.append(label + " --init")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--emim", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "emim"))
    ap.add_argument("--quick", action="store_true", help="skip the ViT-B check")
    a = ap.parse_args()
    torch.set_num_threads(2)
    print(f"MONAI {monai.__version__}, torch {torch.__version__}, emim {run(a.emim, '--version').strip()}")
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        check(a.emim, tmp, "tiny-4", ["--steps", "3"], ["t1n", "t1c", "t2w", "t2f"], "80,80,72", failures)
        check(a.emim, tmp, "2-modality", ["--steps", "3", "--hidden", "48", "--heads", "3", "--layers", "3", "--mlp",
                                          "96", "--img-size", "48,48,32", "--patch", "16,16,8"], ["t1n", "t1c"],
              "60,56,40", failures)
        if not a.quick:
            check(a.emim, tmp, "vit-b", ["--preset", "base", "--steps", "1"], ["t1n", "t1c", "t2w", "t2f"],
                  "100,100,100", failures)
    print(f"{'all checks passed' if not failures else 'FAILED: ' + ', '.join(failures)}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
