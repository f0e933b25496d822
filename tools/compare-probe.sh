#!/bin/sh
# Does pretraining help? (doc/method.md, "Linear probes: E-MIM, MAE and
# SimMIM at equal steps"): equal steps of E-MIM, MAE and SimMIM on
# phantom subjects written as NIfTI, then `emim probe` of each run against
# a fresh initialisation on the phantom's lesion-size labels, on the same
# folds, for the output and for the concatenated pyramid levels.
#
#   tools/compare-probe.sh [DIR [STEPS [BATCH [SUBJECTS]]]]
#                                   (defaults: compare-probe 600 8 48)
#
# DIR/RUN.log holds each run's output, DIR/probe-RUN.log and
# DIR/probe-RUN-levels.log its probes (DIR/probe-RUN*/probe.tsv the folds).
# A run already finished (RUN/summary.json) is kept, so the script resumes.
set -eu
EMIM=${EMIM:-emim}
DIR=${1:-compare-probe}
STEPS=${2:-600}
BATCH=${3:-8}
SUBJECTS=${4:-48}
mkdir -p "$DIR"
cd "$DIR"
[ -d phantom ] || "$EMIM" -q phantom --out phantom --subjects "$SUBJECTS"
C="--data phantom --batch $BATCH --steps $STEPS --check-samples 16 --seed 1"
run() {
  name=$1; shift
  if [ ! -e "$name/summary.json" ]; then
    rm -rf "$name"
    echo "== $name: $*"
    "$EMIM" -q pretrain $C "$@" --out "$name" > "$name.log" 2>&1 || { tail -n 5 "$name.log"; exit 1; }
  fi
  for f in "" --levels; do
    log=probe-$name${f:+-levels}
    "$EMIM" -q probe "$name" $f --out "$log" > "$log.log" 2>&1 || { tail -n 5 "$log.log"; exit 1; }
    tail -n 1 "$log.log"
  done
}
run emim --method emim
run mae --method mae
run simmim --method simmim
