#!/bin/sh
# Does pretraining help? (doc/method.md, "Linear probes: E-MIM, MAE and
# SimMIM at equal steps"): equal steps of E-MIM, MAE and SimMIM on phantom
# subjects written as NIfTI, for each pretraining seed of $SEEDS [1], then
# `emim probe` of every run against its fresh initialisation on the
# phantom's lesion-size labels, with the folds of each seed of $FOLD_SEEDS
# [1 2 3 4 5], for the output and for the concatenated pyramid levels.
#
#   tools/compare-probe.sh [DIR [STEPS [BATCH [SUBJECTS]]]]
#                                   (defaults: compare-probe 600 8 48)
#
# DIR/RUN.log holds each run's output; DIR/probes.tsv one row per run,
# features and fold seed (the AUC and accuracy means over the folds);
# the table at the end averages them per method and features. A run
# already finished (RUN/summary.json) is kept, so the script resumes.
set -eu
EMIM=${EMIM:-emim}
DIR=${1:-compare-probe}
STEPS=${2:-600}
BATCH=${3:-8}
SUBJECTS=${4:-48}
SEEDS=${SEEDS:-1}
FOLD_SEEDS=${FOLD_SEEDS:-1 2 3 4 5}
mkdir -p "$DIR"
cd "$DIR"
[ -d phantom ] || "$EMIM" -q phantom --out phantom --subjects "$SUBJECTS"
printf 'method\tseed\tfeatures\tfold_seed\tauc\tauc_init\taccuracy\taccuracy_init\n' > probes.tsv
run() {
  method=$1; seed=$2; shift 2
  name=$method-s$seed
  if [ ! -e "$name/summary.json" ]; then
    rm -rf "$name"
    echo "== $name: --method $method --seed $seed $*"
    "$EMIM" -q pretrain --data phantom --batch "$BATCH" --steps "$STEPS" --check-samples 16 --method "$method" \
      --seed "$seed" "$@" --out "$name" > "$name.log" 2>&1 || { tail -n 5 "$name.log"; exit 1; }
  fi
  grep '^collapse check (' "$name.log" || true
  for f in output levels; do
    for fs in $FOLD_SEEDS; do
      o=probe-$name-$f-$fs
      "$EMIM" -q probe "$name" $([ $f = levels ] && echo --levels) --seed "$fs" --out "$o" > "$o.log" 2>&1 ||
        { tail -n 5 "$o.log"; exit 1; }
      # probe: AUC A ± s (checkpoint) vs I ± s (initialisation), accuracy a vs i; wrote ...
      awk -v m="$method" -v s="$seed" -v f="$f" -v fs="$fs" '/^probe: AUC/ { sub(";", "", $15);
        print m "\t" s "\t" f "\t" fs "\t" $3 "\t" $8 "\t" $13 "\t" $15 }' "$o.log" >> probes.tsv
    done
  done
}
for seed in $SEEDS; do
  run emim "$seed"
  run mae "$seed"
  run simmim "$seed"
done
echo "mean over pretraining seeds ($SEEDS) and fold seeds ($FOLD_SEEDS); $STEPS steps, batch $BATCH, $SUBJECTS subjects:"
awk -F'\t' 'NR > 1 { k = $1 " " $3; if (!(k in n)) order[++K] = k; n[k]++; a[k] += $5; ai[k] += $6; c[k] += $7; ci[k] += $8 }
  END { printf "%-18s %8s %8s %9s %9s\n", "method features", "AUC", "init", "accuracy", "init";
        for (i = 1; i <= K; i++) { k = order[i];
          printf "%-18s %8.3f %8.3f %9.3f %9.3f\n", k, a[k] / n[k], ai[k] / n[k], c[k] / n[k], ci[k] / n[k] } }' probes.tsv |
  tee probes-summary.txt
