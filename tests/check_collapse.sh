#!/bin/sh
# The collapse diagnostics of the tool: emim maskvar, emim spectrum, and the
# collapse check and erank column of emim pretrain; their files (TSV, PNG,
# JSON) and their errors.
set -u
EMIM=${EMIM_BUILDDIR:-.}/emim
. "${EMIM_SRCDIR:-.}/tests/testlib.sh"
png() { # png NAME FILE: a PNG file (when the tool can draw)
  if "$EMIM" -q -b cpu info | grep -q "^PNG: cairo"; then
    test "$(head -c 8 "$2" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" || { echo "FAIL $1: $2 is no PNG"; fail=1; }
  fi
}
E="$EMIM -q -b cpu"
MICRO="--hidden 24 --heads 2 --layers 2 --mlp 48 --img-size 32,32,16 --patch 16,16,8"

# a short run: the erank column (at step 1 and every --erank-every steps),
# the collapse check and summary.json
check pretrain 0 $E pretrain $MICRO --steps 4 --erank-every 2 --check-samples 4 --out "$tmp/r"
expect pretrain-check out "collapse check (emim): the reconstruction's error on the masked voxels"
head -1 "$tmp/r/metrics.tsv" | grep -q "grad_norm	erank	data_wait" || { echo "FAIL metrics header"; fail=1; }
cut -f7 "$tmp/r/metrics.tsv" | tr '\n' ' ' | grep -Eq '^erank [0-9.]+ [0-9.]+ nan [0-9.]+ $' ||
  { echo "FAIL erank column"; cut -f7 "$tmp/r/metrics.tsv"; fail=1; }
for key in masked_mse var_xm mse_over_collapsed erank erank_init masked_fraction; do
  grep -q "\"$key\": [0-9]" "$tmp/r/summary.json" || { echo "FAIL summary.json has no $key"; cat "$tmp/r/summary.json"; fail=1; }
done
# the initial erank of the check is the erank logged at step 1 (same weights, same batch)
e1=$(sed -n 2p "$tmp/r/metrics.tsv" | cut -f7)
e0=$(grep '"erank_init"' "$tmp/r/summary.json" | sed 's/.*: \([0-9.e+-]*\).*/\1/')
awk -v a="$e1" -v b="$e0" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d < 1e-4 * b) }' ||
  { echo "FAIL erank_init $e0 differs from the erank of step 1 $e1"; fail=1; }
check pretrain-no-check 0 $E pretrain $MICRO --steps 2 --erank-every 0 --check-samples 0 --out "$tmp/r0"
test ! -e "$tmp/r0/summary.json" || { echo "FAIL --check-samples 0 wrote summary.json"; fail=1; }
test "$(cut -f7 "$tmp/r0/metrics.tsv" | tr '\n' ' ')" = "erank nan nan " || { echo "FAIL --erank-every 0"; fail=1; }

# maskvar on the phantom and on the run's own data and masking
check maskvar 0 $E maskvar --samples 4 --img-size 32,32,16 --patch 16,16,8 --out "$tmp/mv"
expect maskvar-table out "HMP's collapsed loss"
test "$(wc -l < "$tmp/mv/maskvar.tsv")" -eq 14 || { echo "FAIL maskvar.tsv rows"; cat "$tmp/mv/maskvar.tsv"; fail=1; }
grep -q "^random 0.5	0.5	0	" "$tmp/mv/maskvar.tsv" || { echo "FAIL maskvar random 0.5"; cat "$tmp/mv/maskvar.tsv"; fail=1; }
png maskvar-png "$tmp/mv/maskvar.png"
check maskvar-run 0 $E maskvar --run "$tmp/r" --samples 4 --out "$tmp/mv2"
expect maskvar-run-converged out "converged loss"
check maskvar-run-data 2 $E maskvar --run "$tmp/r" --img-size 64 --out "$tmp/mv3"
check maskvar-bad-grid 2 $E maskvar --img-size 40 --out "$tmp/mv4"
expect maskvar-bad-grid-message err "not a multiple of the patch size 16"

# spectrum of the run and of its initialisation
check spectrum 0 $E spectrum "$tmp/r" --init --samples 2 --out "$tmp/sp"
expect spectrum-table out "initialisation (seed 1)"
test "$(wc -l < "$tmp/sp/spectrum.tsv")" -eq 26 || { echo "FAIL spectrum.tsv rows"; cat "$tmp/sp/spectrum.tsv"; fail=1; }
png spectrum-png "$tmp/sp/spectrum.png"
check spectrum-ckpt 0 $E spectrum "$tmp/r/checkpoint.emim" --layer 0 --samples 2 --out "$tmp/sp2"
check spectrum-none 2 $E spectrum
check spectrum-missing 1 $E spectrum "$tmp/nothing" --out "$tmp/sp3"
expect spectrum-missing-message err "not a run folder"
check spectrum-layer 2 $E spectrum "$tmp/r" --layer 5 --out "$tmp/sp3"
expect spectrum-layer-message err "--layer 5"
# reconstruct: the four volumes as NIfTI and a montage, on the phantom run
# and on a run over a 2-modality folder (a subject by name)
check reconstruct 0 $E reconstruct "$tmp/r" --samples 4 --out "$tmp/rc"
expect reconstruct-mse out "MSE over all voxels (the mim column's): reconstruction"
for n in original masked reconstruction collapsed; do
  test "$(head -c 2 "$tmp/rc/$n.nii.gz" | od -An -tx1 | tr -d ' \n')" = "1f8b" || { echo "FAIL $n.nii.gz"; fail=1; }
done
png reconstruct-png "$tmp/rc/montage.png"
check reconstruct-subject-on-phantom 2 $E reconstruct "$tmp/r" --subject 1 --out "$tmp/rc2"
check reconstruct-none 2 $E reconstruct --out "$tmp/rc2"
check phantom-2 0 $E phantom --out "$tmp/ph2" --subjects 2 --size 40,36,20 --modalities 2
check pretrain-2 0 $E pretrain --data "$tmp/ph2" --modalities t1n,t1c $MICRO --steps 2 --check-samples 2 --out "$tmp/r2"
check reconstruct-subject 0 $E reconstruct "$tmp/r2" --subject PHANTOM-00001-000 --samples 2 --out "$tmp/rc3"
expect reconstruct-subject-name out "subject PHANTOM-00001-000 (centre window)"
check reconstruct-no-subject 1 $E reconstruct "$tmp/r2" --subject nobody --out "$tmp/rc4"
expect reconstruct-no-subject-message err "--subject nobody: no such subject"
exit $fail
