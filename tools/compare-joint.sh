#!/bin/sh
# The joint-embedding comparison of doc/method.md ("MoCo v2, its fixes,
# Barlow Twins and E-MIM side by side"): equal steps of each method (and of
# E-MIM with its PBT levels ZCA-whitened) on 48
# phantom subjects written as NIfTI, then one `emim spectrum` of every run
# and of a fresh initialisation (the second paper's Fig. 1 on our data).
#
#   tools/compare-joint.sh [DIR [STEPS [BATCH]]]     (defaults: compare-joint 200 8)
#
# DIR/RUN.log holds each run's output (its collapse check at the end),
# DIR/spectrum/spectrum.png the figure, DIR/spectrum.log the effective ranks.
# A run already finished (RUN/summary.json) is kept, so the script resumes.
set -eu
EMIM=${EMIM:-emim}
DIR=${1:-compare-joint}
STEPS=${2:-200}
BATCH=${3:-8}
mkdir -p "$DIR"
cd "$DIR"
[ -d phantom ] || "$EMIM" -q phantom --out phantom --subjects 48
C="--data phantom --batch $BATCH --steps $STEPS --check-samples 16 --seed 1"
run() {
  name=$1; shift
  [ -e "$name/summary.json" ] && return 0
  rm -rf "$name"
  echo "== $name: $*"
  "$EMIM" -q pretrain $C "$@" --out "$name" > "$name.log" 2>&1 || { tail -n 5 "$name.log"; exit 1; }
  grep '^collapse check (' "$name.log"
}
run emim --method emim
run emim-zca --method emim --zca
run moco --method moco --queue $((32 * BATCH))
run moco-local --method moco --queue $((32 * BATCH)) --local-infonce
run moco-zca --method moco --queue $((32 * BATCH)) --zca
run moco-both --method moco --queue $((32 * BATCH)) --local-infonce --zca
run barlow --method barlow
"$EMIM" -q spectrum emim emim-zca moco moco-local moco-zca moco-both barlow --init --samples 16 --out spectrum |
  tee spectrum.log
