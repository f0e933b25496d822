#!/bin/sh
# emim probe: a micro model pretrained for a step on the built-in phantom,
# probed on the phantom's own labels and on a written phantom folder's
# labels.tsv; the output's format, AUC and accuracy in [0, 1], the same
# numbers for 1 and 2 threads; bad labels give one-line errors.
set -u
EMIM=${EMIM_BUILDDIR:-.}/emim
. "${EMIM_SRCDIR:-.}/tests/testlib.sh"
E="$EMIM -q -b cpu"
MICRO="--hidden 24 --heads 2 --layers 2 --mlp 48 --img-size 32,32,16 --patch 16,16,8 --warmup 1"

check help 0 $E probe --help
expect help out "Usage: emim [GLOBAL OPTIONS] probe RUN"
check phantom 0 $E phantom --out "$tmp/ph" --subjects 20 --size 32,32,16
expect phantom out "labels.tsv"
head -1 "$tmp/ph/labels.tsv" | grep -q "^subject	label$" || { echo "FAIL labels.tsv header"; fail=1; }
[ "$(grep -c '	[01]$' "$tmp/ph/labels.tsv")" -eq 20 ] || { echo "FAIL labels.tsv rows"; cat "$tmp/ph/labels.tsv"; fail=1; }
grep -q '	0$' "$tmp/ph/labels.tsv" && grep -q '	1$' "$tmp/ph/labels.tsv" || { echo "FAIL labels.tsv: one class"; fail=1; }
check pretrain 0 $E pretrain $MICRO --steps 1 --check-samples 0 --out "$tmp/run"

# probe.tsv: a header, 5 folds for each encoder, AUC and accuracy in [0, 1]
tsv_ok() { # NAME FILE ROWS
  sed -n 2p "$2" | grep -q "^encoder	fold	test	auc	accuracy$" || { echo "FAIL $1: probe.tsv header"; cat "$2"; fail=1; }
  awk -F'\t' -v rows="$3" 'NR > 2 { n++; if (!($1 == "checkpoint" || $1 == "initialisation") || !($4 >= 0 && $4 <= 1) ||
    !($5 >= 0 && $5 <= 1)) bad = 1 } END { exit bad || n != rows }' "$2" || { echo "FAIL $1: probe.tsv rows"; cat "$2"; fail=1; }
}
check builtin 0 $E probe "$tmp/run" --out "$tmp/p1"
expect builtin out "40 subjects of the built-in phantom, 2 classes"
expect builtin out "initialisation (seed"
grep -q "^probe: AUC [0-9.]* ± [0-9.]* (checkpoint) vs [0-9.]* ± [0-9.]* (initialisation), accuracy" "$tmp/out" ||
  { echo "FAIL builtin summary line"; cat "$tmp/out"; fail=1; }
tsv_ok builtin "$tmp/p1/probe.tsv" 10
check builtin-1-thread 0 $EMIM -q -b cpu -t 1 probe "$tmp/run" --out "$tmp/p2"
cmp "$tmp/p1/probe.tsv" "$tmp/p2/probe.tsv" || { echo "FAIL the probe differs for 1 thread"; fail=1; }
check folder 0 $E probe "$tmp/run" --data "$tmp/ph" --folds 4 --layer 0 --out "$tmp/p3"
expect folder out "20 subjects of $tmp/ph, 2 classes ($tmp/ph/labels.tsv), 4 folds"
tsv_ok folder "$tmp/p3/probe.tsv" 8
# concatenated layers: --levels is the PBT pyramid (2 layers: blocks 0 and 1), the same as naming them
check levels 0 $E probe "$tmp/run" --data "$tmp/ph" --folds 4 --levels --out "$tmp/p5"
expect levels out "features: pyramid levels, mean tokens of blocks 0,1 (48)"
tsv_ok levels "$tmp/p5/probe.tsv" 8
check layers 0 $E probe "$tmp/run" --data "$tmp/ph" --folds 4 --layer 0,1 --out "$tmp/p6"
expect layers out "features: layers, mean tokens of blocks 0,1 (48)"
cmp "$tmp/p5/probe.tsv" "$tmp/p6/probe.tsv" || { echo "FAIL --levels differs from --layer 0,1"; fail=1; }
# the features probed: block 0's columns, then the output's, for both encoders
check concat 0 $E probe "$tmp/run" --data "$tmp/ph" --folds 4 --layer 0,-1 --save-features --out "$tmp/p7"
check concat-0 0 $E probe "$tmp/run" --data "$tmp/ph" --folds 4 --layer 0 --save-features --out "$tmp/p8"
check concat-out 0 $E probe "$tmp/run" --data "$tmp/ph" --folds 4 --save-features --out "$tmp/p9"
for e in checkpoint initialisation; do
  [ "$(head -1 "$tmp/p7/features-$e.tsv" | cut -f 1-3,26-27,50)" = "subject	label	block0.0	block0.23	out.0	out.23" ] ||
    { echo "FAIL features-$e.tsv header"; head -c 300 "$tmp/p7/features-$e.tsv"; fail=1; }
  [ "$(wc -l < "$tmp/p7/features-$e.tsv")" -eq 21 ] || { echo "FAIL features-$e.tsv: not 20 subjects"; fail=1; }
  cut -f 3- "$tmp/p9/features-$e.tsv" | paste "$tmp/p8/features-$e.tsv" - | tail -n +2 > "$tmp/joined"
  tail -n +2 "$tmp/p7/features-$e.tsv" | cmp -s - "$tmp/joined" ||
    { echo "FAIL --layer 0,-1's features are not block 0's beside the output's ($e)"; fail=1; }
done
cmp -s "$tmp/p7/features-checkpoint.tsv" "$tmp/p7/features-initialisation.tsv" &&
  { echo "FAIL the checkpoint's features are the initialisation's"; fail=1; }
# several classes: one-vs-rest
awk -F'\t' 'NR == 1 { print; next } { print $1 "\t" (NR % 3 ? "a" : (NR % 2 ? "b" : "c")) }' "$tmp/ph/labels.tsv" > "$tmp/three.tsv"
check three 0 $E probe "$tmp/run" --data "$tmp/ph" --labels "$tmp/three.tsv" --folds 3 --out "$tmp/p4"
expect three out "3 classes"
tsv_ok three "$tmp/p4/probe.tsv" 6

# bad input: one line naming the file and the problem, exit 1
bad() { # NAME TEXT ARGS...: exit 1 and one line on stderr holding TEXT
  n=$1; txt=$2; shift 2
  check "$n" 1 $E probe "$tmp/run" --data "$tmp/ph" --out "$tmp/pb" "$@"
  expect "$n" err "$txt"
  [ "$(wc -l < "$tmp/err")" -eq 1 ] || { echo "FAIL $n: not one line"; cat "$tmp/err"; fail=1; }
}
L="$tmp/l.tsv"
{ cat "$tmp/ph/labels.tsv"; printf 'GHOST-1\t1\n'; } > "$L"
bad unknown-subject "$L:22: subject 'GHOST-1' is not in the data ($tmp/ph)" --labels "$L"
sed 3d "$tmp/ph/labels.tsv" > "$L"
bad unlabelled "$L: no label for 1 of the 20 subjects of $tmp/ph (the first: 'PHANTOM-00001-000')" --labels "$L"
sed 's/	1$/	0/' "$tmp/ph/labels.tsv" > "$L"
bad one-class "$L: every subject has the label '0': a probe needs two classes or more" --labels "$L"
bad few-subjects "$tmp/ph/labels.tsv: 20 subjects, fewer than the 30 folds (--folds)" --folds 30
awk -F'\t' 'NR == 1 { print; next } { print $1 "\t" (NR < 5 ? "rare" : "common") }' "$tmp/ph/labels.tsv" > "$L"
bad small-class "$L: class 'rare' has 3 subjects, fewer than the 5 folds (--folds)" --labels "$L"
{ cat "$tmp/ph/labels.tsv"; printf 'PHANTOM-00004-000\t1\n'; } > "$L"
bad twice "$L:22: subject 'PHANTOM-00004-000' is labelled twice (first on line 6)" --labels "$L"
printf 'subject\tlabel\nPHANTOM-00000-000 1\n' > "$L"
bad malformed "$L:2: expected subject<TAB>label" --labels "$L"
bad no-file "$tmp/none.tsv: cannot read the labels" --labels "$tmp/none.tsv"
mkdir "$tmp/nolab" && cp -r "$tmp/ph/PHANTOM-00000-000" "$tmp/ph/PHANTOM-00001-000" "$tmp/nolab/"
check no-labels 1 $E probe "$tmp/run" --data "$tmp/nolab" --out "$tmp/pb"
expect no-labels err "$tmp/nolab: no labels.tsv there: give --labels FILE"
check bad-layer 2 $E probe "$tmp/run" --layer 5
expect bad-layer err "--layer 5"
check layer-twice 2 $E probe "$tmp/run" --layer 0,-1,0
expect layer-twice err "--layer: 0 is named twice"
check bad-layer-list 2 $E probe "$tmp/run" --layer 0,7
expect bad-layer-list err "--layer 7"
check no-run 2 $E probe
check two-runs 2 $E probe "$tmp/run" "$tmp/run"
exit $fail
