#!/bin/sh
# emim pretrain under mpirun: exact-mode runs on 1, 2 and 4 processes write
# checkpoints byte-identical to one process's and the same losses; a 2-rank
# run resumed (on 2 or on 4 ranks) equals a straight one; a signal to one
# rank stops every rank after the same step with a checkpoint (exit 0); a
# corrupt subject on one rank ends every rank at once with that rank's
# message. Skipped (77) when emim is built without MPI or mpirun is missing.
set -u
EMIM=${EMIM_BUILDDIR:-.}/emim
. "${EMIM_SRCDIR:-.}/tests/testlib.sh"
"$EMIM" info 2>/dev/null | grep -q '^MPI: yes' || { echo "skip: emim is built without MPI"; exit 77; }
command -v mpirun >/dev/null 2>&1 || { echo "skip: no mpirun"; exit 77; }
# Open MPI: more processes than cores, as root (CI), no single-copy
# transport (containers forbid the ptrace it needs)
OVER=
if mpirun --version 2>&1 | grep -q 'Open MPI'; then
  OVER=--oversubscribe
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
  export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM OMPI_MCA_btl_vader_single_copy_mechanism
  # it wants a remote shell even to start processes here alone
  if ! command -v ssh >/dev/null 2>&1 && ! command -v rsh >/dev/null 2>&1; then
    OMPI_MCA_plm_rsh_agent=false
    export OMPI_MCA_plm_rsh_agent
  fi
fi
# one thread per process (2 cores here, up to 4 processes)
EMIM_THREADS=1
export EMIM_THREADS
run() { # run NP ARGS...: emim under mpirun with NP processes
  np=$1; shift
  # under AddressSanitizer (CI's sanitizer build), no leak report at exit:
  # MPI's plugins are unloaded by then, and their leaks cannot be named in
  # tests/lsan.supp (memory errors are still caught)
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" timeout 300 mpirun -np "$np" $OVER "$EMIM" -q -b cpu "$@"
}
# what a step's line of metrics.tsv holds but its time: step, loss, terms, lr, grad_norm, erank
losses() { awk -F'\t' '{ printf "%s", $1; for (i = 2; i <= NF - 2; i++) printf "\t%s", $i; printf "\n" }' "$1"; }
same_run() { # same_run NAME DIR REF: byte-identical checkpoints, the same losses
  if cmp -s "$2/checkpoint.emim" "$3/checkpoint.emim" && [ "$(losses "$2/metrics.tsv")" = "$(losses "$3/metrics.tsv")" ]
  then echo "ok   $1 (checkpoint and losses equal $(basename "$3")'s)"
  else echo "FAIL $1: $2 differs from $3"; diff "$2/metrics.tsv" "$3/metrics.tsv"; fail=1; fi
}

# the tiny model on 32^3 (8 tokens), a batch of 4, 4 steps
A="pretrain --exact --img-size 32 --batch 4 --schedule-steps 4 --checkpoint-every 2 --check-samples 0 --erank-every 2"
check exact-alone 0 "$EMIM" -q -b cpu $A --steps 4 --out "$tmp/alone"
expect exact-micro out "batch 4 (micro-batch 1)"
for np in 1 2 4; do
  check "exact-np$np" 0 run $np $A --steps 4 --out "$tmp/np$np"
  same_run "exact-np$np-bits" "$tmp/np$np" "$tmp/alone"
done
expect exact-np4-says out "4 processes (MPI; 4 on this node) of 1 samples each"
# another objective: MAE, on 3 processes (uneven shares: 2, 1, 1 samples)
check mae-alone 0 "$EMIM" -q -b cpu $A --method mae --steps 2 --out "$tmp/mae1"
check mae-np3 0 run 3 $A --method mae --steps 2 --out "$tmp/mae3"
same_run mae-np3-bits "$tmp/mae3" "$tmp/mae1"

# resumed: 2 ranks to step 2, then 2 more steps on 2 ranks, or on 4
check resume-first 0 run 2 $A --steps 2 --out "$tmp/r2"
cp -r "$tmp/r2" "$tmp/r4"
check resume-np2 0 run 2 pretrain --resume --out "$tmp/r2" --steps 4 --check-samples 0 --erank-every 2
same_run resume-np2-bits "$tmp/r2" "$tmp/alone"
check resume-np4 0 run 4 pretrain --resume --out "$tmp/r4" --steps 4 --check-samples 0 --erank-every 2
same_run resume-np4-bits "$tmp/r4" "$tmp/alone"

# more processes than micro-batches: refused, with the numbers
check too-many-ranks 1 run 2 pretrain --img-size 32 --batch 2 --micro-batch 2 --steps 2 --out "$tmp/few"
expect too-many-ranks-says err "2 processes but only 1 micro-batch a step (batch 2, micro-batch 2)"
test ! -e "$tmp/few" || { echo "FAIL too-many-ranks: left $tmp/few behind"; fail=1; }
# batch statistics (Barlow Twins, MoCo) do not split over processes
check whole-batch-ranks 1 run 2 pretrain --img-size 32 --method barlow --batch 4 --steps 2 --out "$tmp/bt"
expect whole-batch-ranks-says err "barlow's loss holds statistics of the whole batch: it runs in one process, not 2"
test ! -e "$tmp/bt" || { echo "FAIL whole-batch-ranks: left $tmp/bt behind"; fail=1; }
# fast mode shares the batch in micro-batches of batch / processes
check fast-np2 0 run 2 pretrain --img-size 32 --batch 4 --steps 2 --check-samples 0 --out "$tmp/fast"
expect fast-np2-micro out "batch 4 (micro-batch 2), 2 processes"

# a signal to one rank: every rank stops after the same step, with a
# checkpoint, and exits 0; the resumed run equals a straight one
S="pretrain --exact --img-size 32 --batch 2 --schedule-steps 400 --checkpoint-every 1000 --check-samples 0 --erank-every 0"
run 2 $S --steps 400 --out "$tmp/sig" >"$tmp/sig.out" 2>"$tmp/sig.err" &
mp=$!
i=0
while [ "$(cat "$tmp/sig/metrics.tsv" 2>/dev/null | wc -l)" -lt 4 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
victim=$(pgrep -f -- "--out $tmp/sig" | while read -r p; do
  [ "$(cat /proc/"$p"/comm 2>/dev/null)" = emim ] && echo "$p"; done | tail -n 1)
[ -n "$victim" ] && kill -TERM "$victim"
wait $mp; got=$?
stopped=$(tail -n 1 "$tmp/sig/metrics.tsv" | cut -f1)
if [ -n "$victim" ] && [ $got -eq 0 ] && grep -q "with a checkpoint" "$tmp/sig.err" && [ "$stopped" -lt 400 ]; then
  echo "ok   signal-one-rank (stopped after step $stopped, exit 0)"
else
  echo "FAIL signal-one-rank: victim '$victim', exit $got, step $stopped"; cat "$tmp/sig.err"; fail=1
fi
check signal-straight 0 "$EMIM" -q -b cpu $S --steps "$stopped" --out "$tmp/sig1"
# (the checkpoints differ in the run record's --steps until the resume below)
[ "$(losses "$tmp/sig/metrics.tsv")" = "$(losses "$tmp/sig1/metrics.tsv")" ] && echo "ok   signal-losses" ||
  { echo "FAIL signal-losses"; diff "$tmp/sig/metrics.tsv" "$tmp/sig1/metrics.tsv"; fail=1; }
check signal-resume 0 run 2 pretrain --resume --out "$tmp/sig" --steps $((stopped + 2)) --erank-every 0
check signal-straight-2 0 "$EMIM" -q -b cpu pretrain --resume --out "$tmp/sig1" --steps $((stopped + 2)) --erank-every 0
same_run signal-resume-bits "$tmp/sig" "$tmp/sig1"

# a corrupt subject: whichever rank loads it ends every rank, quickly, with
# its message (each of the 4 subjects in turn, 4 ranks of 1 sample: every
# rank meets one of them at step 1)
"$EMIM" -q phantom --out "$tmp/ph" --subjects 4 --size 40,40,40 >/dev/null
others=0
for k in 0 1 2 3; do
  printf 'subject\tt1n\tt2w\n' > "$tmp/list$k.tsv"
  for s in 0 1 2 3; do
    d="$tmp/ph/PHANTOM-0000$s-000/PHANTOM-0000$s-000"
    t1n="$d-t1n.nii.gz"
    if [ $s -eq $k ]; then head -c 3000 "$t1n" > "$tmp/bad$k.nii.gz"; t1n="$tmp/bad$k.nii.gz"; fi
    printf 'S%s\t%s\t%s\n' $s "$t1n" "$d-t2w.nii.gz" >> "$tmp/list$k.tsv"
  done
  t0=$(date +%s)
  check "corrupt-$k" 1 run 4 pretrain --data "$tmp/list$k.tsv" --img-size 32 --batch 4 --steps 3 --out "$tmp/c$k"
  took=$(( $(date +%s) - t0 ))
  expect "corrupt-$k-says" err "bad$k.nii.gz: truncated"
  [ "$took" -le 30 ] || { echo "FAIL corrupt-$k: took $took s"; fail=1; }
  grep -q '(rank [123] of 4): step 1:' "$tmp/err" && others=$((others + 1))
done
[ $others -ge 1 ] && echo "ok   corrupt-other-rank ($others of 4 on a rank other than 0)" ||
  { echo "FAIL corrupt-other-rank: rank 0 held every corrupt subject"; fail=1; }
exit $fail
