#!/bin/sh
# emim pretrain --method: MAE, SimMIM, Barlow Twins and MoCo v2 train the
# same encoder as E-MIM; in
# exact mode a run gives the same checkpoint byte for byte on the CPU twin
# and on OpenCL, for 1 and 2 threads, and when split by --resume; a
# method's options are refused by another method and on resume; spectrum,
# reconstruct, maskvar --run and the collapse check read every method's
# run; a checkpoint of libemim 0.1 (binary, version 2) continues bit for bit.
set -u
EMIM=${EMIM_BUILDDIR:-.}/emim
. "${EMIM_SRCDIR:-.}/tests/testlib.sh"
E="$EMIM -q -b cpu"
MICRO="--hidden 24 --heads 2 --layers 2 --mlp 48 --img-size 32,32,16 --patch 16,16,8 --warmup 1"
have_cl=0
$EMIM -q -b opencl info >/dev/null 2>&1 && have_cl=1

# the data section of a checkpoint (after the 8-byte length and the header)
data_of() {
  size=$(wc -c < "$1"); hl=$(od -An -tu8 -N8 "$1" | tr -d ' ')
  tail -c $((size - 8 - hl)) "$1"
}

for m in mae simmim; do
  R="$MICRO --method $m --exact"
  check "$m-straight" 0 $E pretrain $R --steps 4 --check-samples 4 --out "$tmp/$m-s"
  expect "$m-summary" out "method $m, model"
  expect "$m-check" out "collapse check ($m): the reconstruction's error on the masked voxels"
  case $m in mae) term=mse;; simmim) term=l1;; esac
  head -1 "$tmp/$m-s/metrics.tsv" | grep -q "^step	loss	$term	lr	grad_norm	erank" ||
    { echo "FAIL $m metrics header"; head -1 "$tmp/$m-s/metrics.tsv"; fail=1; }
  grep -q "\"method\": \"$m\"" "$tmp/$m-s/summary.json" || { echo "FAIL $m summary.json"; cat "$tmp/$m-s/summary.json"; fail=1; }
  # the loss column is finite and positive at every step
  awk -F'\t' 'NR > 1 && !($2 > 0 && $2 < 1e30) { bad = 1 } END { exit bad }' "$tmp/$m-s/metrics.tsv" ||
    { echo "FAIL $m loss"; cat "$tmp/$m-s/metrics.tsv"; fail=1; }
  # split by --resume (from another folder), one thread: the same bytes
  check "$m-first-2" 0 $E pretrain $R --steps 2 --schedule-steps 4 --check-samples 4 --out "$tmp/$m-h"
  check "$m-resume" 0 sh -c "cd / && $EMIM -q -b cpu -t 1 pretrain --resume --out '$tmp/$m-h' --steps 4 --check-samples 4"
  cmp "$tmp/$m-s/checkpoint.emim" "$tmp/$m-h/checkpoint.emim" ||
    { echo "FAIL $m-resume: the checkpoint differs from the straight run's"; fail=1; }
  if [ $have_cl -eq 1 ]; then
    check "$m-opencl" 0 $EMIM -q -b opencl pretrain $R --steps 4 --check-samples 0 --out "$tmp/$m-cl"
    cmp "$tmp/$m-s/checkpoint.emim" "$tmp/$m-cl/checkpoint.emim" ||
      { echo "FAIL $m-opencl: the OpenCL checkpoint differs from the CPU twin's"; fail=1; }
  fi
  # the diagnostics read the run
  check "$m-spectrum" 0 $E spectrum "$tmp/$m-s" --init --samples 2 --out "$tmp/$m-sp"
  check "$m-reconstruct" 0 $E reconstruct "$tmp/$m-s" --samples 4 --out "$tmp/$m-rc"
  check "$m-maskvar" 0 $E maskvar --run "$tmp/$m-s" --samples 4 --out "$tmp/$m-mv"
done
if [ $have_cl -eq 0 ]; then echo "no OpenCL device: the CPU/OpenCL comparison does not run"; fi

# the joint-embedding methods: two augmented views, no masks and no
# reconstructions; exact, resumable (MoCo's momentum encoder and queue are in
# the checkpoint) and the same bytes on OpenCL
for m in barlow moco; do
  case $m in
    barlow) R="$MICRO --method barlow --exact --batch 4"; terms="on_diag	off_diag";;
    moco) R="$MICRO --method moco --exact --batch 4 --queue 8 --local-infonce --zca"; terms="global	local";;
  esac
  check "$m-straight" 0 $E pretrain $R --steps 4 --check-samples 4 --out "$tmp/$m-s"
  expect "$m-summary" out "method $m, model"
  expect "$m-check" out "collapse check ($m): effective rank"
  head -1 "$tmp/$m-s/metrics.tsv" | grep -q "^step	loss	$terms	lr	grad_norm	erank" ||
    { echo "FAIL $m metrics header"; head -1 "$tmp/$m-s/metrics.tsv"; fail=1; }
  grep -q "\"erank\":" "$tmp/$m-s/summary.json" || { echo "FAIL $m summary.json"; cat "$tmp/$m-s/summary.json"; fail=1; }
  awk -F'\t' 'NR > 1 && !($2 > 0 && $2 < 1e30) { bad = 1 } END { exit bad }' "$tmp/$m-s/metrics.tsv" ||
    { echo "FAIL $m loss"; cat "$tmp/$m-s/metrics.tsv"; fail=1; }
  check "$m-first-2" 0 $E pretrain $R --steps 2 --schedule-steps 4 --check-samples 4 --out "$tmp/$m-h"
  check "$m-resume" 0 $EMIM -q -b cpu -t 1 pretrain --resume --out "$tmp/$m-h" --steps 4 --check-samples 4
  cmp "$tmp/$m-s/checkpoint.emim" "$tmp/$m-h/checkpoint.emim" ||
    { echo "FAIL $m-resume: the checkpoint differs from the straight run's"; fail=1; }
  if [ $have_cl -eq 1 ]; then
    check "$m-opencl" 0 $EMIM -q -b opencl pretrain $R --steps 4 --check-samples 0 --out "$tmp/$m-cl"
    cmp "$tmp/$m-s/checkpoint.emim" "$tmp/$m-cl/checkpoint.emim" ||
      { echo "FAIL $m-opencl: the OpenCL checkpoint differs from the CPU twin's"; fail=1; }
  fi
  check "$m-spectrum" 0 $E spectrum "$tmp/$m-s" --init --samples 2 --out "$tmp/$m-sp"
  check "$m-reconstruct" 1 $E reconstruct "$tmp/$m-s" --out "$tmp/$m-rc"
  expect "$m-reconstruct-message" err "method $m does not reconstruct images"
  check "$m-micro" 2 $E pretrain $R --micro-batch 2 --out "$tmp/x"
  expect "$m-micro-message" err "$m's loss holds statistics of the whole batch: the micro-batch 2 must be the batch 4"
done
# the symmetric loss: both directions, exact, the same on OpenCL
S="$MICRO --method moco --exact --batch 2 --queue 8 --symmetric --check-samples 0"
check moco-sym 0 $E pretrain $S --steps 3 --out "$tmp/sym"
if [ $have_cl -eq 1 ]; then
  check moco-sym-opencl 0 $EMIM -q -b opencl pretrain $S --steps 3 --out "$tmp/sym-cl"
  cmp "$tmp/sym/checkpoint.emim" "$tmp/sym-cl/checkpoint.emim" ||
    { echo "FAIL moco-sym-opencl: the OpenCL checkpoint differs from the CPU twin's"; fail=1; }
fi
check moco-queue 2 $E pretrain $MICRO --method moco --queue 5 --out "$tmp/x"
expect moco-queue-message err "the queue of 5 keys is not a multiple of the 2 keys a step queues (the batch 2)"
check moco-grid 2 $E pretrain $MICRO --method moco --local-infonce --local-grid 3 --out "$tmp/x"
expect moco-grid-message err "--local-grid 3 must be from 2 to the smallest axis of the 2 x 2 x 2 patch grid"
check barlow-batch 2 $E pretrain $MICRO --method barlow --batch 1 --out "$tmp/x"
expect barlow-batch-message err "barlow: a batch of 1"

# a method's options are its own
check mae-levels 2 $E pretrain --method mae --levels 2 --out "$tmp/x"
expect mae-levels-message err "--levels is not an option of --method mae"
check simmim-ratio 2 $E pretrain --method simmim --ratio 1.5 --out "$tmp/x"
expect simmim-ratio-message err "--ratio"
check mae-heads 2 $E pretrain --method mae $MICRO --dec-hidden 10 --dec-heads 3 --out "$tmp/x"
expect mae-heads-message err "--dec-hidden 10 is not divisible by --dec-heads 3"
check bad-method 2 $E pretrain --method byol --out "$tmp/x"
expect bad-method-message err "--method 'byol': expected one of emim, mae, simmim, barlow, moco"
check resume-other-value 1 $E pretrain --resume --out "$tmp/mae-h" --ratio 0.5
expect resume-other-value-message err "--ratio 0.5 differs from the run's 0.75"
check resume-other-option 1 $E pretrain --resume --out "$tmp/mae-h" --levels 2
expect resume-other-option-message err "--levels is not an option of the run's method mae"
check resume-other-method 1 $E pretrain --resume --out "$tmp/mae-h" --method simmim
expect resume-other-method-message err "--method simmim differs from the run's mae"
test ! -e "$tmp/x" || { echo "FAIL a refused run left a folder"; fail=1; }

# the encoder to MONAI's names and back: export, then --init another method
check export 0 $E export "$tmp/mae-s" --out "$tmp/enc.safetensors" --prefix vit.
expect export-summary out "the mae encoder of"
check export-no-out 2 $E export "$tmp/mae-s"
check export-bad-version 2 $E export "$tmp/mae-s" --out "$tmp/x.safetensors" --monai-version 0.9
check init 0 $E pretrain --method simmim $MICRO --init "$tmp/enc.safetensors" --steps 1 --check-samples 0 --out "$tmp/i1"
expect init-summary out "the encoder starts from $tmp/enc.safetensors"
check init-resume-other 1 $E pretrain --resume --out "$tmp/i1" --init "$tmp/other.safetensors"
expect init-resume-other-message err "--init $tmp/other.safetensors differs from the run's $tmp/enc.safetensors"
check init-wrong-model 1 $E pretrain --init "$tmp/enc.safetensors" --steps 1 --out "$tmp/i2"
expect init-wrong-model-message err "enc.safetensors: not this model's ViT weights"
test ! -e "$tmp/i2" || { echo "FAIL init-wrong-model left a run folder"; fail=1; }

# one subject's features: the input volume, the output and the hidden states
check feat-phantom 0 $E phantom --out "$tmp/fph" --subjects 1 --size 40,36,24
F="$tmp/fph/PHANTOM-00000-000/PHANTOM-00000-000"
check features 0 $E features "$tmp/mae-s" --image "$F-t1n.nii.gz" --image "$F-t1c.nii.gz" --image "$F-t2w.nii.gz" \
  --image "$F-t2f.nii.gz" --layers 1 --out "$tmp/feat.safetensors"
expect features-summary out "features: input [1, 4, 32, 32, 16], output and 1 hidden state [1, 8, 24]"
head -c 600 "$tmp/feat.safetensors" | tr -d '\0' | grep -q '"input":{"dtype":"F32","shape":\[1,4,32,32,16\]' &&
  head -c 600 "$tmp/feat.safetensors" | grep -q '"hidden.1":{"dtype":"F32","shape":\[1,8,24\]' ||
  { echo "FAIL features header"; head -c 600 "$tmp/feat.safetensors"; fail=1; }
check features-count 2 $E features "$tmp/mae-s" --image "$F-t1n.nii.gz" --out "$tmp/f2.safetensors"
expect features-count-message err "PHANTOM-00000-000-t1n.nii.gz holds 1 channel; the model takes 4: give one --image per modality, or one 4D file"
check features-layers 2 $E features "$tmp/mae-s" --image "$F-t1n.nii.gz" --image "$F-t1c.nii.gz" \
  --image "$F-t2w.nii.gz" --image "$F-t2f.nii.gz" --layers 5 --out "$tmp/f2.safetensors"
check features-weights 1 $E features "$tmp/mae-s" --image "$F-t1n.nii.gz" --image "$F-t1c.nii.gz" \
  --image "$F-t2w.nii.gz" --image "$F-t2f.nii.gz" --weights "$tmp/feat.safetensors" --out "$tmp/f2.safetensors"
expect features-weights-message err "feat.safetensors: not this model's ViT weights"

# libemim 0.1's checkpoint (E-MIM, 2 of 3 steps, exact): resumed for the
# third step, the weights and moments are those of a straight run
mkdir "$tmp/v2"
cp "${EMIM_SRCDIR:-.}/tests/data/checkpoint-v2.emim" "$tmp/v2/checkpoint.emim"
V2="--hidden 8 --heads 2 --layers 1 --mlp 16 --img-size 8,8,8 --patch 4,4,4 --exact --micro-batch 2 --warmup 1 --check-samples 0"
check v2-resume 0 $E pretrain --resume --out "$tmp/v2" --steps 3 --check-samples 0
expect v2-resume-summary out "resumed, method emim"
check v2-straight 0 $E pretrain $V2 --steps 3 --out "$tmp/v3"
data_of "$tmp/v2/checkpoint.emim" > "$tmp/a"; data_of "$tmp/v3/checkpoint.emim" > "$tmp/b"
cmp -s "$tmp/a" "$tmp/b" || { echo "FAIL v2-resume: the tensors differ from a straight run's"; fail=1; }
# not a checkpoint, another safetensors file
printf 'junk that is not a checkpoint at all' > "$tmp/v2/checkpoint.emim"
check v2-junk 1 $E pretrain --resume --out "$tmp/v2" --steps 4
expect v2-junk-message err "checkpoint.emim: not a libemim checkpoint"
exit $fail
