#!/bin/sh
# tools/gpu-bundle.sh: the bundle holds every library the programs load but
# glibc's, stays within its size limit, and runs from another folder with a
# bare environment: run.sh's validation and a short exact-mode training run on
# the OpenCL device and the CPU twin, bit-identical (here on whatever OpenCL
# device there is: PoCL in CI). Skipped without OpenCL.
set -u
BUILD=${EMIM_BUILDDIR:-.}
SRC=${EMIM_SRCDIR:-.}
. "$SRC/tests/testlib.sh"
"$BUILD/emim" -q -b cpu info 2>/dev/null | grep -q '^backends built in:.*opencl' ||
  { echo "SKIP: built without OpenCL"; exit 77; }
"$BUILD/emim" -q -b cpu info 2>/dev/null | grep -qE '^ +device [0-9]+: ' ||
  { echo "SKIP: no OpenCL device"; exit 77; }
for t in ldd objdump; do
  command -v "$t" >/dev/null 2>&1 || { echo "SKIP: no $t"; exit 77; }
done
ldd "$BUILD/emim" 2>/dev/null | grep -q 'libasan' &&
  { echo "SKIP: a sanitizer build (a bundle of it would need the sanitizer's runtime on the node)"; exit 77; }

check bundle 0 sh "$SRC/tools/gpu-bundle.sh" --build-dir "$BUILD" "$tmp/made"
expect bundle-size out "MiB (2 programs"
# relocated, with nothing from this environment
mkdir "$tmp/elsewhere" && mv "$tmp/made" "$tmp/elsewhere/bundle"
for f in bin/emim bin/bench_step lib/libOpenCL.so.1 lib/libclblast.so.1 lib/libopenblas.so.0 lib/libnifti2.so.2 lib/libznz.so.3 lib/libjansson.so.4 run.sh BUNDLE; do
  test -e "$tmp/elsewhere/bundle/$f" || { echo "FAIL bundle-contents: no $f"; fail=1; }
done
check run 0 env -i PATH=/usr/bin:/bin HOME="${HOME:-$tmp}" "$tmp/elsewhere/bundle/run.sh" \
  --presets none --train-steps 2 --out "$tmp/results"
expect run-result out "RESULT: PASS"
expect run-train out "PASS  pretrain: opencl = cpu, bit for bit"
expect run-validate out "passed, 0 failed"
test -f "$tmp/results/summary.txt" && test -f "$tmp/results/train-cpu/checkpoint.emim" ||
  { echo "FAIL run-files"; ls -la "$tmp/results"; fail=1; }
check run-help 0 "$tmp/elsewhere/bundle/run.sh" --help
check run-usage 2 "$tmp/elsewhere/bundle/run.sh" --presets huge
# too big: a loud failure
check bundle-limit 1 sh "$SRC/tools/gpu-bundle.sh" --build-dir "$BUILD" --max-mib 10 "$tmp/small"
expect bundle-limit-message err "over the limit of 10 MiB"
exit $fail
