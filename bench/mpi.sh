#!/bin/sh
# Data-parallel pretraining on this machine, side by side in one run: steps
# per second of the same run alone and on 2 MPI processes, fast and exact
# mode, with the micro-batches each needs, and the share of the time spent
# in the gradients' exchange (emim pretrain's "ranks:" line: on the rank that
# waited least, the exchange's own cost; on the one that waited most, with
# the waiting for slower ranks).
#
#   bench/mpi.sh [STEPS [BATCH [PRESET [IMG]]]]     [30 4 tiny 64]
#
# Every process gets cores / processes threads (EMIM_THREADS), so each line
# uses the whole machine. Needs an MPI build of emim and mpirun.
set -u
STEPS=${1:-30}; B=${2:-4}; PRESET=${3:-tiny}; IMG=${4:-64}
EMIM=${EMIM:-$(dirname "$0")/../emim}
"$EMIM" info 2>/dev/null | grep -q '^MPI: yes' || { echo "bench/mpi.sh: $EMIM is built without MPI" >&2; exit 1; }
command -v mpirun >/dev/null 2>&1 || { echo "bench/mpi.sh: no mpirun" >&2; exit 1; }
if mpirun --version 2>&1 | grep -q 'Open MPI'; then
  OVER="--oversubscribe --bind-to none"
  if [ "$(id -u)" -eq 0 ]; then OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM; fi
  OMPI_MCA_btl_vader_single_copy_mechanism=none; export OMPI_MCA_btl_vader_single_copy_mechanism
else
  OVER=
fi
CORES=$(nproc)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# the data: phantom subjects as NIfTI, cached once prepared (the built-in
# phantom draws a new subject per sample, which costs more than a tiny
# model's step on a few cores and would make this a benchmark of the data)
"$EMIM" -q phantom --out "$tmp/ph" --subjects 8 --size $((IMG + 8)) >/dev/null || exit 1
A="pretrain --preset $PRESET --img-size $IMG --batch $B --steps $STEPS --warmup 2 --erank-every 0 --check-samples 0 --data $tmp/ph"
SKIP=6   # steps/s over the steps after the first SKIP (the cache is full by then)
base=
one() { # one LABEL NP ARGS...: a run's steps/s and exchange share
  label=$1; np=$2; shift 2
  th=$((CORES / np)); [ $th -ge 1 ] || th=1
  rm -rf "$tmp/run"
  if [ "$np" -eq 1 ]; then EMIM_THREADS=$th "$EMIM" -q -b cpu $A "$@" --out "$tmp/run" >"$tmp/out" 2>&1
  else EMIM_THREADS=$th mpirun -np "$np" $OVER "$EMIM" -q -b cpu $A "$@" --out "$tmp/run" >"$tmp/out" 2>&1; fi
  sps=$(awk -F'\t' -v k=$SKIP 'NR == k + 1 { t0 = $NF; s0 = $1 } END { if (NR > k + 2) printf "%.3f", ($1 - s0) / ($NF - t0) }' "$tmp/run/metrics.tsv" 2>/dev/null)
  ex=$(sed -n 's/^ranks: .* waited least (\([0-9.]*\)% .* waited most (\([0-9.]*\)%).*/\1% \2%/p' "$tmp/out")
  [ -n "$sps" ] || { echo "$label: failed:"; cat "$tmp/out"; return; }
  [ -n "$base" ] || base=$sps
  printf '%-44s %3d x %-2d %8s %8.2f   %s\n' "$label" "$np" "$th" "$sps" "$(echo "$sps $base" | awk '{ print $1 / $2 }')" "${ex:--}"
}
echo "emim pretrain, preset $PRESET at ${IMG}^3, batch $B, steps $((SKIP + 1)) to $STEPS (8 phantom subjects, cached; $CORES cores)"
printf '%-44s %-8s %8s %8s   %s\n' "run" "procs x threads" "steps/s" "ratio" "exchange: least and most waiting (share of the time)"
one "fast, alone, one pass" 1
one "fast, 2 processes (micro-batch $((B / 2)), allreduce)" 2
one "exact, alone, one pass (--micro-batch $B)" 1 --exact --micro-batch $B
one "exact, alone, passes of 1 (the default)" 1 --exact
one "exact, 2 processes, passes of 1 (tree)" 2 --exact
one "exact, 2 processes, passes of $((B / 2)) (tree)" 2 --exact --micro-batch $((B / 2))
