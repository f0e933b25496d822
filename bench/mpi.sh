#!/bin/sh
# Data-parallel pretraining on this machine, side by side in one run: steps
# per second of the same run alone and on 2 MPI processes, fast and exact
# mode, with the micro-batches each needs, and the share of rank 0's time
# spent in the gradients' exchange (emim pretrain's "ranks:" line).
#
#   bench/mpi.sh [STEPS [BATCH [PRESET [IMG]]]]     [20 4 tiny 64]
#
# Every process gets cores / processes threads (EMIM_THREADS), so each line
# uses the whole machine. Needs an MPI build of emim and mpirun.
set -u
STEPS=${1:-20}; B=${2:-4}; PRESET=${3:-tiny}; IMG=${4:-64}
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
A="pretrain -q --preset $PRESET --img-size $IMG --batch $B --steps $STEPS --warmup 2 --erank-every 0 --check-samples 0"
base=
one() { # one LABEL NP ARGS...: a run's steps/s and exchange share
  label=$1; np=$2; shift 2
  th=$((CORES / np)); [ $th -ge 1 ] || th=1
  rm -rf "$tmp/run"
  if [ "$np" -eq 1 ]; then EMIM_THREADS=$th "$EMIM" -q -b cpu $A "$@" --out "$tmp/run" >"$tmp/out" 2>&1
  else EMIM_THREADS=$th mpirun -np "$np" $OVER "$EMIM" -q -b cpu $A "$@" --out "$tmp/run" >"$tmp/out" 2>&1; fi
  sps=$(sed -n 's/^done: .*; \([0-9.]*\) steps\/s .*/\1/p' "$tmp/out")
  ex=$(sed -n 's/^ranks: rank 0 spent \([0-9.]*\) s (\([0-9.]*\)% .*/\2%/p' "$tmp/out")
  [ -n "$sps" ] || { echo "$label: failed:"; cat "$tmp/out"; return; }
  [ -n "$base" ] || base=$sps
  printf '%-44s %3d x %-2d %8s %8.2f %10s\n' "$label" "$np" "$th" "$sps" "$(echo "$sps $base" | awk '{ print $1 / $2 }')" "${ex:--}"
}
echo "emim pretrain, preset $PRESET at ${IMG}^3, batch $B, $STEPS steps (the built-in phantom; $CORES cores)"
printf '%-44s %-8s %8s %8s %10s\n' "run" "procs x threads" "steps/s" "ratio" "exchange"
one "fast, alone, one pass" 1
one "fast, 2 processes (micro-batch $((B / 2)), allreduce)" 2
one "exact, alone, one pass (--micro-batch $B)" 1 --exact --micro-batch $B
one "exact, alone, passes of 1 (the default)" 1 --exact
one "exact, 2 processes, passes of 1 (tree)" 2 --exact
one "exact, 2 processes, passes of $((B / 2)) (tree)" 2 --exact --micro-batch $((B / 2))
