#!/bin/sh
# emim pretrain: the model's shape follows the data (1-4 modalities, sizes
# that are not multiples of 16, anisotropic grids and patches), a run
# continues from its folder alone and bit-identically, options given on
# resume must agree with the run, and impossible shapes are refused with a
# message naming the options.
set -u
EMIM=${EMIM_BUILDDIR:-.}/emim
. "${EMIM_SRCDIR:-.}/tests/testlib.sh"
E="$EMIM -q -b cpu"
# a small model: every run below takes a second or less
MICRO="--hidden 24 --heads 2 --layers 2 --mlp 48"

# phantoms with 2 and 4 modalities, 41x37x30 voxels (no axis a multiple of 16)
check phantom-2 0 $E phantom --out "$tmp/ph2" --subjects 3 --size 41,37,30 --modalities 2
expect phantom-2-summary out "(t1n, t1c and seg per subject)"
test -f "$tmp/ph2/PHANTOM-00002-000/PHANTOM-00002-000-t1c.nii.gz" &&
  test ! -e "$tmp/ph2/PHANTOM-00002-000/PHANTOM-00002-000-t2w.nii.gz" ||
  { echo "FAIL phantom-2 files"; ls -R "$tmp/ph2"; fail=1; }
check phantom-bad-modalities 2 $E phantom --out "$tmp/ph5" --modalities 5
check phantom-4 0 $E phantom --out "$tmp/ph4" --subjects 2 --size 41,37,30

# 1, 2, 3 and 4 modalities: the channels follow --modalities
for mods in t2w t1n,t2f t1n,t1c,t2w t1n,t1c,t2w,t2f; do
  n=$(echo "$mods" | tr ',' '\n' | wc -l)
  check "pretrain-$n-modalities" 0 $E pretrain --data "$tmp/ph4" --modalities "$mods" $MICRO \
    --img-size 32,32,16 --patch 16,16,8 --steps 2 --out "$tmp/m$n"
  if [ "$n" -eq 1 ]; then expect "pretrain-$n-channels" out "1 channel, 32x32x16 in patches of 16x16x8 (8 tokens)"
  else expect "pretrain-$n-channels" out "$n channels, 32x32x16 in patches of 16x16x8 (8 tokens)"; fi
  test "$(wc -l < "$tmp/m$n/metrics.tsv")" -eq 3 || { echo "FAIL pretrain-$n metrics"; cat "$tmp/m$n/metrics.tsv"; fail=1; }
done
# the built-in phantom with fewer contrasts cannot be asked for by name: its
# channels are the data's (4); a TSV list gives its own columns
printf 'subject\ta\tb\n' > "$tmp/list.tsv"
for s in 0 1; do
  d="$tmp/ph2/PHANTOM-0000$s-000/PHANTOM-0000$s-000"
  printf 'S%s\t%s-t1n.nii.gz\t%s-t1c.nii.gz\n' "$s" "$d" "$d" >> "$tmp/list.tsv"
done
check pretrain-list-2 0 $E pretrain --data "$tmp/list.tsv" $MICRO --img-size 32,32,16 --patch 16,16,8 --steps 1 \
  --out "$tmp/l2"
expect pretrain-list-2-channels out "2 channels"

# the 2-modality folder, an anisotropic grid: 6 steps straight, and 3 steps
# of a 6-step schedule continued by --resume --steps 6 from another folder,
# give the same checkpoint, byte for byte
RUN="--data $tmp/ph2 --modalities t1n,t1c $MICRO --img-size 48,48,32 --patch 16,16,8 --exact --warmup 2"
check straight-6 0 $E pretrain $RUN --steps 6 --out "$tmp/s6"
check first-3 0 $E pretrain $RUN --steps 3 --schedule-steps 6 --out "$tmp/h6"
# as a run killed after its checkpoint at step 3 leaves it: metrics of later
# steps (the last one half-written) and a half-written checkpoint.emim.tmp;
# the resumed run cuts metrics.tsv back to step 3 and removes the .tmp
printf '4\t9\t9\t9\t9\t9\tnan\t0\t0\n5\t9\t9\t9\t9\t9\tnan\t0\t0\n6\t0.' >> "$tmp/h6/metrics.tsv"
echo half > "$tmp/h6/checkpoint.emim.tmp"
check resume-to-6 0 sh -c "cd / && $E pretrain --resume --out '$tmp/h6' --steps 6"
expect resume-to-6-summary out "resumed, method emim, model (preset tiny): 2 channels, 48x48x32 in patches of 16x16x8 (36 tokens)"
cmp "$tmp/s6/checkpoint.emim" "$tmp/h6/checkpoint.emim" ||
  { echo "FAIL resume-to-6: the checkpoints differ from the straight run's"; fail=1; }
cut -f1-6 "$tmp/s6/metrics.tsv" > "$tmp/a"; cut -f1-6 "$tmp/h6/metrics.tsv" > "$tmp/b"
cmp -s "$tmp/a" "$tmp/b" || { echo "FAIL resume-to-6 metrics"; paste "$tmp/a" "$tmp/b"; fail=1; }
test ! -e "$tmp/h6/checkpoint.emim.tmp" || { echo "FAIL resume-to-6: a stale checkpoint.emim.tmp is left"; fail=1; }
check resume-done 0 $E pretrain --resume --out "$tmp/h6"
expect resume-done-message out "the run is at step 6 of 6"
# the same options given again are accepted
check resume-same 0 $E pretrain --resume --out "$tmp/h6" $RUN --schedule-steps 6

# micro-batches: a run of batch 4 in passes of 1 resumes bit-identically
# (the micro-batch is in the checkpoint), differs from one pass of 4 only
# in the last bits, and a different --micro-batch on resume is refused
RUNM="$MICRO --img-size 32,32,32 --patch 16,16,16 --exact --warmup 2 --batch 4 --check-samples 0"
check micro-straight 0 $E pretrain $RUNM --micro-batch 1 --steps 4 --out "$tmp/mu4"
check micro-first 0 $E pretrain $RUNM --micro-batch 1 --steps 2 --schedule-steps 4 --out "$tmp/muh"
check micro-resume 0 $E pretrain --resume --out "$tmp/muh" --steps 4
cmp "$tmp/mu4/checkpoint.emim" "$tmp/muh/checkpoint.emim" ||
  { echo "FAIL micro-resume: the checkpoints differ from the straight run's"; fail=1; }
# exact mode's default is passes of 1 sample (the bits of any number of MPI ranks)
check micro-default 0 $E pretrain $RUNM --steps 4 --out "$tmp/mud"
expect micro-default-says out "batch 4 (micro-batch 1)"
cmp "$tmp/mu4/checkpoint.emim" "$tmp/mud/checkpoint.emim" ||
  { echo "FAIL micro-default: exact mode's default is not passes of 1"; fail=1; }
check micro-whole 0 $E pretrain $RUNM --micro-batch 4 --steps 4 --out "$tmp/mu0"
cmp -s "$tmp/mu4/checkpoint.emim" "$tmp/mu0/checkpoint.emim" &&
  { echo "FAIL micro-whole: passes of 1 and one pass of 4 gave the same bits (the micro-batch was ignored)"; fail=1; }
a=$(sed -n 2p "$tmp/mu4/metrics.tsv" | cut -f2); b=$(sed -n 2p "$tmp/mu0/metrics.tsv" | cut -f2)
awk -v a="$a" -v b="$b" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0 && d <= 1e-5 * a) }' ||
  { echo "FAIL micro-whole: first losses $a and $b"; fail=1; }
check micro-differs 1 $E pretrain --resume --out "$tmp/muh" --micro-batch 2
expect micro-differs-message err "--micro-batch 2 differs from the run's 1"
check micro-bad 2 $E pretrain $RUNM --micro-batch 3 --out "$tmp/x"
expect micro-bad-message err "--micro-batch 3 does not divide --batch 4"

# options on resume that differ from the run are refused, naming both values
check resume-lr 1 $E pretrain --resume --out "$tmp/h6" --lr 0.01
expect resume-lr-message err "--lr 0.01 differs from the run's 0.001"
check resume-flip 1 $E pretrain --resume --out "$tmp/h6" --flip
expect resume-flip-message err "--flip is given, but the run in $tmp/h6/checkpoint.emim was started without it"
check resume-data 1 $E pretrain --resume --out "$tmp/h6" --data "$tmp/ph4"
expect resume-data-message err "--data $tmp/ph4 differs from the run's $tmp/ph2"
check resume-patch 1 $E pretrain --resume --out "$tmp/h6" --patch 16
expect resume-patch-message err "--patch 16,16,16 differs from the run's 16,16,8"
check resume-below 1 $E pretrain --resume --out "$tmp/h6" --steps 4
expect resume-below-message err "--steps 4 is below the 6 steps the run has done"
check resume-past 1 $E pretrain --resume --out "$tmp/h6" --steps 7
expect resume-past-message err "--steps 7 runs past the end of the learning-rate schedule (6 steps"
check resume-none 1 $E pretrain --resume --out "$tmp/nothing"
expect resume-none-message err "no checkpoint there"

# SIGTERM mid-run: a checkpoint after the current step, exit 0, and
# --resume --out DIR alone finishes it bit-identically to a straight run
T="--steps 12 --exact --checkpoint-every 100"
check straight-12 0 $E pretrain $T --out "$tmp/s12"
$E pretrain $T --out "$tmp/k12" >"$tmp/out" 2>"$tmp/err" &
pid=$!
lines() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; }
i=0
while [ "$i" -lt 600 ] && [ "$(lines "$tmp/k12/metrics.tsv")" -lt 3 ]; do
  sleep 0.05; i=$((i + 1))
done
kill -TERM "$pid" 2>/dev/null
wait "$pid"; got=$?
if [ "$got" -ne 0 ]; then
  echo "FAIL sigterm: exit $got, expected 0"; cat "$tmp/err"; fail=1
elif grep -q "continues the run" "$tmp/err"; then
  echo "ok   sigterm (stopped after step $(tail -n 1 "$tmp/k12/metrics.tsv" | cut -f1))"
  expect sigterm-message err "Terminated: stopped after step"
  test ! -e "$tmp/k12/checkpoint.emim.tmp" || { echo "FAIL sigterm left checkpoint.emim.tmp"; fail=1; }
  check resume-alone 0 sh -c "cd / && $E pretrain --resume --out '$tmp/k12'"
else
  echo "ok   sigterm (the run had finished before the signal)"
fi
cmp "$tmp/s12/checkpoint.emim" "$tmp/k12/checkpoint.emim" ||
  { echo "FAIL resume-alone: the checkpoint differs from the straight run's"; fail=1; }
test "$(cut -f1 "$tmp/k12/metrics.tsv" | tr '\n' ' ')" = "step 1 2 3 4 5 6 7 8 9 10 11 12 " ||
  { echo "FAIL resume-alone metrics steps"; cut -f1 "$tmp/k12/metrics.tsv"; fail=1; }

# impossible shapes: one line naming the options and the values, exit 2
check bad-img 2 $E pretrain --img-size 100 --out "$tmp/x"
expect bad-img-message err "--img-size 100,100,100 and --patch 16,16,16: axis X (100) is not a multiple of its patch (16)"
check bad-aniso 2 $E pretrain --img-size 64,64,40 --patch 16,16,16 --out "$tmp/x"
expect bad-aniso-message err "axis Z (40) is not a multiple of its patch (16)"
check bad-heads 2 $E pretrain --hidden 100 --out "$tmp/x"
expect bad-heads-message err "--hidden 100 is not divisible by --heads 3"
check bad-levels 2 $E pretrain --levels 3 --out "$tmp/x"
expect bad-levels-message err "--levels 3 does not divide the 4 layers"
check bad-patch 2 $E pretrain --patch 16,8 --out "$tmp/x"
expect bad-patch-message err "--patch '16,8': expected 1 or 3 comma-separated integers"
check bad-hidden 2 $E pretrain --hidden 0 --out "$tmp/x"
check too-many-tokens 2 $E pretrain --img-size 512 --patch 8 --out "$tmp/x"
expect too-many-tokens-message err "more than 65536 tokens"
check bad-schedule 2 $E pretrain --steps 10 --schedule-steps 5 --warmup 2 --out "$tmp/x"
expect bad-schedule-message err "--steps 10 runs past the end of the learning-rate schedule (5 steps"
check too-many-channels 2 $E pretrain --data "$tmp/ph4" --modalities t1n,t1c,t2w,t2f,t1n,t1c,t2w,t2f,t1n,t1c,t2w,t2f,t1n,t1c,t2w,t2f,t1n,t1c,t2w,t2f,t1n,t1c,t2w,t2f,t1n,t1c,t2w,t2f,t1n,t1c,t2w --out "$tmp/x"
expect too-many-channels-message err "channels 31 (at most 30)"
test ! -e "$tmp/x" || { echo "FAIL a refused run left its folder"; fail=1; }

# exact mode: the CPU twin and OpenCL give the same checkpoint for a
# 2-modality anisotropic model
if "$EMIM" -q -b opencl info >/dev/null 2>&1; then
  A="--data $tmp/ph2 --modalities t1n,t1c $MICRO --img-size 48,48,32 --patch 16,16,8 --exact --steps 3"
  check aniso-cpu 0 $E pretrain $A --out "$tmp/ac"
  check aniso-opencl 0 "$EMIM" -q -b opencl pretrain $A --out "$tmp/ao"
  cmp "$tmp/ac/checkpoint.emim" "$tmp/ao/checkpoint.emim" ||
    { echo "FAIL aniso: CPU and OpenCL checkpoints differ"; paste "$tmp/ac/metrics.tsv" "$tmp/ao/metrics.tsv"; fail=1; }
else
  echo "skip aniso-opencl: no OpenCL device"
fi
exit $fail
