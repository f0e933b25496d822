#!/bin/sh
# Crashes and write faults.
# A run killed at any moment (SIGKILL: a node failure, the OOM killer) loses
# at most the steps since its last checkpoint: crashed at 24 moments spread
# over a run (inside checkpoint writes: a torn write, before the fsync,
# before the rename; inside metrics writes), then resumed with --resume
# --out DIR alone, every run ends with the checkpoint and the metrics of an
# uninterrupted exact-mode run, byte for byte. The crashes come from
# tests/crashpoint.c (LD_PRELOAD): the Nth call of write, fsync, rename or
# fflush kills the process.
# Write faults at 8 moments each (ENOSPC, EIO: the call fails; short: a
# write writes half): the run either goes on (a short write is written on)
# or stops with exit 1 and one line naming the file and the error; the
# checkpoint left is whole, and --resume finishes the run to the straight
# run's bits.
set -u
EMIM=${EMIM_BUILDDIR:-.}/emim
. "${EMIM_SRCDIR:-.}/tests/testlib.sh"
SHIM=${EMIM_BUILDDIR:-.}/tests/.libs/libcrashpoint.so
if [ ! -f "$SHIM" ]; then
  echo "SKIP: $SHIM not built"
  exit 77
fi
if ldd "$EMIM" 2>/dev/null | grep -q 'libasan'; then
  # the sanitizer's runtime must be loaded first, and intercepts write itself
  echo "SKIP: a sanitizer build (the crash shim is an LD_PRELOAD library)"
  exit 77
fi
E="$EMIM -q -b cpu"
RUN="--hidden 24 --heads 2 --layers 2 --mlp 48 --img-size 32,32,16 --patch 16,16,8 --steps 6 --exact
  --checkpoint-every 2 --check-samples 0 --erank-every 0"
# shellcheck disable=SC2086
check straight 0 $E pretrain $RUN --out "$tmp/s"
cut -f1-6 "$tmp/s/metrics.tsv" > "$tmp/s.m"
# the number of calls an uninterrupted run makes
# shellcheck disable=SC2086
check count 0 env LD_PRELOAD="$SHIM" EMIM_CRASH_COUNT="$tmp/count" $E pretrain $RUN --out "$tmp/c"
total=$(cat "$tmp/count")
if [ "${total:-0}" -lt 24 ]; then
  echo "FAIL count: $total calls"; exit 1
fi
moments=0
k=1
while [ "$k" -le 24 ]; do
  at=$(( (total * k) / 25 + k % 3 ))
  d="$tmp/r$k"
  # shellcheck disable=SC2086
  env LD_PRELOAD="$SHIM" EMIM_CRASH_AT="$at" $E pretrain $RUN --out "$d" >"$tmp/out" 2>"$tmp/err"
  got=$?
  if [ "$got" -ne 137 ] && [ "$got" -ne 0 ]; then
    echo "FAIL crash-$k (call $at of $total): exit $got"; cat "$tmp/err"; fail=1
  fi
  [ "$got" -eq 137 ] && moments=$((moments + 1))
  if [ -f "$d/checkpoint.emim" ]; then
    # shellcheck disable=SC2086
    $E pretrain --resume --out "$d" >"$tmp/out" 2>"$tmp/err" ||
      { echo "FAIL resume-$k (crashed at call $at of $total)"; cat "$tmp/err"; fail=1; }
  else
    # killed before the first checkpoint: nothing to resume, start again
    rm -rf "$d"
    # shellcheck disable=SC2086
    $E pretrain $RUN --out "$d" >"$tmp/out" 2>"$tmp/err" || { echo "FAIL restart-$k"; cat "$tmp/err"; fail=1; }
  fi
  cmp -s "$tmp/s/checkpoint.emim" "$d/checkpoint.emim" ||
    { echo "FAIL crash-$k (call $at of $total): the checkpoint differs from the straight run's"; fail=1; }
  cut -f1-6 "$d/metrics.tsv" > "$tmp/r.m"
  cmp -s "$tmp/s.m" "$tmp/r.m" ||
    { echo "FAIL crash-$k (call $at of $total): metrics.tsv differs"; diff "$tmp/s.m" "$tmp/r.m" | head; fail=1; }
  ls "$d" | grep -q '\.tmp$' && { echo "FAIL crash-$k: a .tmp file is left"; ls "$d"; fail=1; }
  k=$((k + 1))
done
echo "ok   $moments crashes at calls 1..$total of an uninterrupted run, each resumed to the straight run's bits"
[ "$moments" -ge 20 ] || { echo "FAIL only $moments of the 24 runs crashed"; fail=1; }

stopped=0
for how in enospc eio short; do
  k=1
  while [ "$k" -le 8 ]; do
    at=$(( (total * k) / 9 + k % 2 ))
    d="$tmp/f-$how-$k"
    # shellcheck disable=SC2086
    env LD_PRELOAD="$SHIM" EMIM_FAIL_AT="$at" EMIM_FAIL_HOW="$how" $E pretrain $RUN --out "$d" >"$tmp/out" 2>"$tmp/err"
    got=$?
    case "$how" in enospc) why="No space left on device" ;; eio) why="Input/output error" ;; *) why="" ;; esac
    if [ "$got" -eq 1 ] && [ -n "$why" ]; then
      stopped=$((stopped + 1))
      [ "$(wc -l < "$tmp/err")" -eq 1 ] && grep -qF "$d/" "$tmp/err" && grep -qF "$why" "$tmp/err" ||
        { echo "FAIL fault-$how-$k (call $at): not one line naming the file and '$why':"; cat "$tmp/err"; fail=1; }
    elif [ "$got" -ne 0 ]; then
      echo "FAIL fault-$how-$k (call $at of $total): exit $got"; cat "$tmp/err"; fail=1
    fi
    if [ "$got" -ne 0 ]; then
      if [ -f "$d/checkpoint.emim" ]; then
        # shellcheck disable=SC2086
        $E pretrain --resume --out "$d" >"$tmp/out" 2>"$tmp/err" ||
          { echo "FAIL fault-$how-$k: the checkpoint left does not resume"; cat "$tmp/err"; fail=1; }
      else
        rm -rf "$d"
        # shellcheck disable=SC2086
        $E pretrain $RUN --out "$d" >"$tmp/out" 2>"$tmp/err" || { echo "FAIL fault-restart-$k"; fail=1; }
      fi
    fi
    cmp -s "$tmp/s/checkpoint.emim" "$d/checkpoint.emim" ||
      { echo "FAIL fault-$how-$k (call $at of $total): the final checkpoint differs from the straight run's"; fail=1; }
    cut -f1-6 "$d/metrics.tsv" > "$tmp/r.m"
    cmp -s "$tmp/s.m" "$tmp/r.m" || { echo "FAIL fault-$how-$k: metrics.tsv differs"; fail=1; }
    k=$((k + 1))
  done
done
echo "ok   write faults (ENOSPC, EIO, short writes) at 8 moments each: $stopped runs stopped with a message, every run resumed or went on to the straight run's bits"
[ "$stopped" -ge 8 ] || { echo "FAIL only $stopped of the 16 ENOSPC/EIO runs stopped"; fail=1; }

# NIfTI writes (emim phantom): ENOSPC and EIO at every call of a short run:
# exit 0, or 1 with one line naming the file and the error; no .tmp file
# is left (a file is written whole under a temporary name, then renamed)
check phantom-count 0 env LD_PRELOAD="$SHIM" EMIM_CRASH_COUNT="$tmp/pcount" $E phantom --out "$tmp/p0" --subjects 1 \
  --size 24,24,16 --modalities 2
pt=$(cat "$tmp/pcount")
nstop=0
for how in enospc eio; do
  at=1
  while [ "$at" -le "$pt" ]; do
    d="$tmp/p-$how-$at"
    env LD_PRELOAD="$SHIM" EMIM_FAIL_AT="$at" EMIM_FAIL_HOW="$how" $E phantom --out "$d" --subjects 1 --size 24,24,16 \
      --modalities 2 >"$tmp/out" 2>"$tmp/err"
    got=$?
    if [ "$got" -eq 1 ]; then
      nstop=$((nstop + 1))
      [ "$(wc -l < "$tmp/err")" -eq 1 ] && grep -qF "$d/" "$tmp/err" ||
        { echo "FAIL phantom-$how-$at: not one line naming the file:"; cat "$tmp/err"; fail=1; }
    elif [ "$got" -ne 0 ]; then
      echo "FAIL phantom-$how-$at: exit $got"; cat "$tmp/err"; fail=1
    fi
    if [ -d "$d" ] && find "$d" -name '*.tmp*' | grep -q .; then
      echo "FAIL phantom-$how-$at: a .tmp file is left"; find "$d"; fail=1
    fi
    at=$((at + 1))
  done
done
echo "ok   NIfTI writes: ENOSPC and EIO at each of $pt calls, $nstop stopped with one line naming the file"
exit $fail
