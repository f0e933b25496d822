#!/bin/sh
# The emim tool: help, version, usage errors, the op table document, and a
# small validate run on the CPU twin.
set -u
EMIM=${EMIM_BUILDDIR:-.}/emim
SRC=${EMIM_SRCDIR:-.}
fail=0
check() { # check NAME EXPECTED_STATUS COMMAND...
  name=$1; want=$2; shift 2
  "$@" >out.$$ 2>err.$$; got=$?
  if [ "$got" -ne "$want" ]; then
    echo "FAIL $name: exit $got, expected $want"; cat out.$$ err.$$; fail=1
  else
    echo "ok   $name"
  fi
}
check help 0 "$EMIM" --help
grep -q "validate" out.$$ || { echo "FAIL help lists no validate"; fail=1; }
check version 0 "$EMIM" --version
grep -q "libemim" out.$$ || { echo "FAIL version"; fail=1; }
check no-command 2 "$EMIM"
check bad-command 2 "$EMIM" frobnicate
grep -q "unknown command 'frobnicate'" err.$$ || { echo "FAIL bad-command message"; cat err.$$; fail=1; }
check bad-option 2 "$EMIM" --no-such-option info
check bad-backend 2 "$EMIM" --backend=cuda info
grep -q "cuda" err.$$ || { echo "FAIL bad-backend message"; fail=1; }
check bad-env 2 env EMIM_BACKEND=cuda "$EMIM" info
grep -q "EMIM_BACKEND" err.$$ || { echo "FAIL bad-env message"; fail=1; }
check bad-threads 2 "$EMIM" --threads=0 info
check validate-bad-op 1 "$EMIM" -b cpu validate --ops=frobnicate
grep -q "frobnicate" err.$$ || { echo "FAIL validate-bad-op message"; fail=1; }
check info-cpu 0 "$EMIM" -b cpu info
check validate-cpu 0 "$EMIM" -q -b cpu validate --ops=add,sum,rand
grep -q "^[0-9]* passed, 0 failed" out.$$ || { echo "FAIL validate-cpu summary"; cat out.$$; fail=1; }
if "$EMIM" info 2>/dev/null | grep -q "^backends built in: cpu, opencl"; then
  # no OpenCL driver at all: a clear error for opencl, the CPU twin for auto
  check no-icd-opencl 1 env OCL_ICD_VENDORS=/nonexistent "$EMIM" -b opencl validate --ops=add
  grep -q "no OpenCL platform found" err.$$ || { echo "FAIL no-icd-opencl message"; cat err.$$; fail=1; }
  check no-icd-auto 0 env OCL_ICD_VENDORS=/nonexistent "$EMIM" validate --exact --ops=add
  grep -q "validating the CPU twin" err.$$ || { echo "FAIL no-icd-auto message"; cat err.$$; fail=1; }
else
  # built with --disable-opencl: asking for OpenCL says so
  check opencl-disabled 1 "$EMIM" -b opencl validate --ops=add
  grep -q "disable-opencl" err.$$ || { echo "FAIL opencl-disabled message"; cat err.$$; fail=1; }
  check auto-cpu 0 "$EMIM" validate --exact --ops=add
fi
if "$EMIM" -q -b opencl info >/dev/null 2>&1; then
  # a kernel that fails to build: the error shows the build log and the file
  tmp=$(mktemp -d)
  mkdir -p "$tmp/src/core" "$tmp/kernels-cl"
  cp "$SRC/src/core/emim_math.h" "$tmp/src/core/" && cp "$SRC"/kernels-cl/*.cl "$tmp/kernels-cl/"
  echo "kernel void broken(global float *x) { x[0] = undefined_identifier; }" >> "$tmp/kernels-cl/elementwise.cl"
  check broken-kernel 1 env EMIM_CL_SOURCE_DIR="$tmp" "$EMIM" -b opencl validate --ops=add
  grep -q "build log" err.$$ && grep -q "elementwise.cl" err.$$ && grep -q "undefined_identifier" err.$$ ||
    { echo "FAIL broken-kernel message"; cat err.$$; fail=1; }
  rm -rf "$tmp"
  # every CPU exact GEMM micro-kernel gives the OpenCL twin's bits
  for k in generic avx2 avx512; do
    check "gemm-kernel-$k" 0 env EMIM_GEMM_KERNEL=$k "$EMIM" -q -b opencl validate --exact --ops=gemm
  done
  # pretrain --exact: the CPU twin and OpenCL print the same losses
  ex=$(mktemp -d)
  check pretrain-exact-cpu 0 "$EMIM" -q -b cpu pretrain --exact --steps 3 --out "$ex/cpu"
  check pretrain-exact-opencl 0 "$EMIM" -q -b opencl pretrain --exact --steps 3 --out "$ex/cl"
  cut -f1-6 "$ex/cpu/metrics.tsv" > "$ex/a"; cut -f1-6 "$ex/cl/metrics.tsv" > "$ex/b"
  cmp -s "$ex/a" "$ex/b" || { echo "FAIL pretrain --exact: CPU and OpenCL losses differ"; paste "$ex/a" "$ex/b"; fail=1; }
  rm -rf "$ex"
  check bad-device 1 "$EMIM" -b opencl -d no-such-device info
  grep -q "no-such-device" out.$$ err.$$ || { echo "FAIL bad-device message"; fail=1; }
else
  echo "skip broken-kernel, bad-device: no OpenCL device"
fi
# pretrain: a short run, a refused overwrite, a resumed run, bad options
run=$(mktemp -d)
check pretrain-short 0 "$EMIM" -q -b cpu pretrain --steps 3 --out "$run/r" --checkpoint-every 2
test -f "$run/r/checkpoint.emim" && test "$(wc -l < "$run/r/metrics.tsv")" -eq 4 ||
  { echo "FAIL pretrain-short files"; ls -l "$run/r"; fail=1; }
check pretrain-no-overwrite 1 "$EMIM" -q -b cpu pretrain --steps 3 --out "$run/r"
grep -q "already holds a run" err.$$ || { echo "FAIL pretrain-no-overwrite message"; cat err.$$; fail=1; }
check pretrain-resume 0 "$EMIM" -q -b cpu pretrain --steps 5 --out "$run/r" --resume
test "$(wc -l < "$run/r/metrics.tsv")" -eq 6 || { echo "FAIL pretrain-resume metrics"; cat "$run/r/metrics.tsv"; fail=1; }
head -c 100 "$run/r/checkpoint.emim" > "$run/r/bad.emim" && mv "$run/r/bad.emim" "$run/r/checkpoint.emim"
check pretrain-truncated 1 "$EMIM" -q -b cpu pretrain --steps 6 --out "$run/r" --resume
grep -q "checkpoint.emim: the checkpoint is truncated or corrupt" err.$$ || { echo "FAIL pretrain-truncated message"; cat err.$$; fail=1; }
check pretrain-bad-preset 2 "$EMIM" pretrain --preset=huge --out "$run/x"
check pretrain-bad-ratio 2 "$EMIM" pretrain --r-pos=1.5 --out "$run/x"
# a batch too large for the memory: refused before training, one line, no run folder
EMIM_MEM_LIMIT=256M check pretrain-batch-memory 1 "$EMIM" -q -b cpu pretrain --batch 4096 --out "$run/big"
test "$(wc -l < err.$$)" -eq 1 && grep -q "a batch of 4096 (method emim) does not fit: .*memory cap of 0.25 GiB" err.$$ ||
  { echo "FAIL pretrain-batch-memory message"; cat err.$$; fail=1; }
test ! -e "$run/big/checkpoint.emim" || { echo "FAIL pretrain-batch-memory wrote a checkpoint"; fail=1; }
# several processes that cannot see each other (srun without an MPI plugin,
# or an emim without MPI under a launcher) would each train alone into the
# same folder: refused before anything is written
check pretrain-srun-no-mpi 1 env SLURM_STEP_NUM_TASKS=2 "$EMIM" -q -b cpu pretrain --out "$run/srun"
if "$EMIM" info | grep -q '^MPI: yes'; then
  grep -q "srun started 2 tasks, but none of MPI's variables is set" err.$$ || { echo "FAIL srun message"; cat err.$$; fail=1; }
else
  grep -q "started as one of 2 processes, but this emim is built without MPI" err.$$ ||
    { echo "FAIL srun message"; cat err.$$; fail=1; }
  check pretrain-mpirun-no-mpi 1 env OMPI_COMM_WORLD_SIZE=4 "$EMIM" -q -b cpu pretrain --out "$run/srun"
  grep -q "one of 4 processes, but this emim is built without MPI" err.$$ || { echo "FAIL mpirun message"; cat err.$$; fail=1; }
fi
test ! -e "$run/srun" || { echo "FAIL pretrain-srun-no-mpi: $run/srun was made"; fail=1; }
check bad-mem-limit 2 env EMIM_MEM_LIMIT=lots "$EMIM" info
grep -q "EMIM_MEM_LIMIT='lots'" err.$$ || { echo "FAIL bad-mem-limit message"; cat err.$$; fail=1; }
# real data: the phantom as a BraTS folder, a short run on it, bad data
check phantom-write 0 "$EMIM" phantom --out "$run/ph" --subjects 3 --size 40,36,32
test -f "$run/ph/PHANTOM-00002-000/PHANTOM-00002-000-t2f.nii.gz" || { echo "FAIL phantom files"; ls -R "$run/ph"; fail=1; }
check phantom-exists 1 "$EMIM" phantom --out "$run/ph" --subjects 1
grep -q "already exists" err.$$ || { echo "FAIL phantom-exists message"; cat err.$$; fail=1; }
check phantom-no-out 2 "$EMIM" phantom
check pretrain-data 0 "$EMIM" -q -b cpu pretrain --data "$run/ph" --steps 3 --batch 2 --out "$run/d" --flip
head -1 "$run/d/metrics.tsv" | grep -q "data_wait" && test "$(wc -l < "$run/d/metrics.tsv")" -eq 4 ||
  { echo "FAIL pretrain-data metrics"; cat "$run/d/metrics.tsv"; fail=1; }
grep -q "BraTS-layout folder $run/ph, 3 subjects" out.$$ || { echo "FAIL pretrain-data summary"; cat out.$$; fail=1; }
check pretrain-data-missing 1 "$EMIM" -q -b cpu pretrain --data "$run/none" --out "$run/m"
grep -q "$run/none" err.$$ || { echo "FAIL pretrain-data-missing message"; cat err.$$; fail=1; }
test ! -e "$run/m" || { echo "FAIL pretrain-data-missing left a run folder"; fail=1; }
check pretrain-data-modalities 1 "$EMIM" -q -b cpu pretrain --data "$run/ph" --modalities t1n,flair,t2w,t2f --out "$run/m"
grep -q "no file for modality flair" err.$$ || { echo "FAIL pretrain-data-modalities message"; cat err.$$; fail=1; }
printf 'not gzip at all' > "$run/ph/PHANTOM-00001-000/PHANTOM-00001-000-t1c.nii.gz"
check pretrain-data-corrupt 1 "$EMIM" -q -b cpu pretrain --data "$run/ph" --out "$run/m"
grep -q "PHANTOM-00001-000-t1c.nii.gz: .*too short" err.$$ || { echo "FAIL pretrain-data-corrupt message"; cat err.$$; fail=1; }
check pretrain-bad-spacing 2 "$EMIM" pretrain --spacing=1,2 --out "$run/x"
check pretrain-bad-percentiles 2 "$EMIM" pretrain --percentiles=99,1 --out "$run/x"
rm -rf "$run"
check ops-markdown 0 "$EMIM" ops --markdown
if ! cmp -s out.$$ "$SRC/doc/ops.md"; then
  echo "FAIL doc/ops.md differs from 'emim ops --markdown' (regenerate it):"; diff out.$$ "$SRC/doc/ops.md"; fail=1
fi
rm -f out.$$ err.$$
exit $fail
