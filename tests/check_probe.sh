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
check no-run 2 $E probe
check two-runs 2 $E probe "$tmp/run" "$tmp/run"
exit $fail
