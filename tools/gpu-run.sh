#!/bin/sh
# run.sh of the libemim GPU check bundle (tools/gpu-bundle.sh copies
# tools/gpu-run.sh here): the OpenCL twins against the CPU twins on this
# node, with nothing installed. See ./run.sh --help and doc/gpu.md.
set -u
B=$(cd "$(dirname "$0")" && pwd)

usage() {
  cat <<'EOF'
Usage: ./run.sh [OPTIONS]
       ./run.sh --exec PROGRAM [ARGS...]   (emim or bench_step, in the bundle's environment)

The libemim GPU check: emim info; emim validate on the OpenCL device (fast and
exact mode); bench_step on the OpenCL device and on the CPU twin; a short
exact-mode training run (emim pretrain, built-in phantom) on both, compared bit
for bit. Every output goes to the results folder, with summary.txt; the exit
status is 0 when every check passed, 1 otherwise, 2 on bad usage.

Options (and the environment variables that set them):
  --out DIR            results folder [$RESULTS, else $OUT, else ./gpu-results]
  --presets LIST       bench_step presets on the OpenCL device, comma-separated
                       (tiny, small, base), or none [$PRESETS, else tiny,small]
  --cpu-presets LIST   bench_step presets on the CPU twin [$CPU_PRESETS, else --presets]
  --mode M             bench_step's modes on the OpenCL device: fast, exact or both [$BENCH_MODE, else both]
  --cpu-mode M         ... on the CPU twin [$CPU_BENCH_MODE, else fast: its exact mode is the
                       slow reference, minutes a step for small on a few cores]
  --train-steps N      steps of the training run on each backend; 0: none [$TRAIN_STEPS, else 5]
  --train-preset P     its model [$TRAIN_PRESET, else tiny]
  --timeout S          limit of each command in seconds [$STEP_TIMEOUT, else 240]
  --own-icd            find the vendor's OpenCL driver and make a vendors folder for
                       it even when /etc/OpenCL/vendors has a GPU [EMIM_OWN_ICD=1]
  -h, --help           this help

The device: $EMIM_DEVICE (index or name substring, as in emim info) if set,
else the first OpenCL GPU, else (with a warning: not a GPU result) OpenCL
device 0. The OpenCL driver: $OCL_ICD_VENDORS if set; else /etc/OpenCL/vendors
if it gives a GPU; else a vendors folder in the results made for the drivers
found (libnvidia-opencl.so.1, libamdocl64.so, libigdrcl.so; through ldconfig
and the usual folders; OPENCL_DRIVER=/path/lib.so adds one).
EMIM_BUNDLE_COMPAT=auto|bundled|system: the bundle's libstdc++, libgcc_s and
libgomp, or the node's [auto: the node's where they have every symbol version
the bundle needs]. EMIM_THREADS: CPU threads [all].
EOF
}

results=${RESULTS:-${OUT:-$PWD/gpu-results}}
presets=${PRESETS:-tiny,small}
cpu_presets=${CPU_PRESETS:-}
mode=${BENCH_MODE:-both}
cpu_mode=${CPU_BENCH_MODE:-fast}
train_steps=${TRAIN_STEPS:-5}
train_preset=${TRAIN_PRESET:-tiny}
step_timeout=${STEP_TIMEOUT:-240}
own_icd=${EMIM_OWN_ICD:-0}
exec_prog=
while [ $# -gt 0 ]; do
  case $1 in
    --out|--presets|--cpu-presets|--mode|--cpu-mode|--train-steps|--train-preset|--timeout)
      [ $# -ge 2 ] || { echo "run.sh: $1 needs a value (see --help)" >&2; exit 2; }
      case $1 in
        --out) results=$2 ;; --presets) presets=$2 ;; --cpu-presets) cpu_presets=$2 ;;
        --mode) mode=$2 ;; --cpu-mode) cpu_mode=$2 ;;
        --train-steps) train_steps=$2 ;; --train-preset) train_preset=$2 ;; --timeout) step_timeout=$2 ;;
      esac
      shift 2 ;;
    --out=*) results=${1#*=}; shift ;;
    --presets=*) presets=${1#*=}; shift ;;
    --cpu-presets=*) cpu_presets=${1#*=}; shift ;;
    --mode=*) mode=${1#*=}; shift ;;
    --cpu-mode=*) cpu_mode=${1#*=}; shift ;;
    --train-steps=*) train_steps=${1#*=}; shift ;;
    --train-preset=*) train_preset=${1#*=}; shift ;;
    --timeout=*) step_timeout=${1#*=}; shift ;;
    --own-icd) own_icd=1; shift ;;
    --exec) [ $# -ge 2 ] || { echo "run.sh: --exec needs a program (emim or bench_step)" >&2; exit 2; }
      exec_prog=$2; shift 2; break ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
cpu_presets=${cpu_presets:-$presets}
for v in "$train_steps" "$step_timeout"; do
  case $v in ''|*[!0-9]*) echo "run.sh: --train-steps and --timeout take whole numbers" >&2; exit 2 ;; esac
done
for m in "$mode" "$cpu_mode"; do
  case $m in fast|exact|both) ;; *) echo "run.sh: unknown mode '$m' (fast, exact or both)" >&2; exit 2 ;; esac
done
for p in $(echo "$presets,$cpu_presets" | tr ',' ' ') "$train_preset"; do
  case $p in tiny|small|base|none) ;; *) echo "run.sh: unknown preset '$p' (tiny, small, base or none)" >&2; exit 2 ;; esac
done
[ -x "$B/bin/emim" ] && [ -x "$B/bin/bench_step" ] || { echo "run.sh: $B/bin/emim or bin/bench_step missing: is this a whole bundle?" >&2; exit 1; }

# ---------------------------------------------------------------- helpers
if [ -n "$exec_prog" ]; then
  case $exec_prog in emim|bench_step) ;; *) echo "run.sh: --exec runs emim or bench_step" >&2; exit 2 ;; esac
  work=$(mktemp -d "${TMPDIR:-/tmp}/emim-bundle.XXXXXX") || exit 1
  trap 'rm -rf "$work"' EXIT
  log() { echo "run.sh: $*" >&2; }
else
  mkdir -p "$results" || { echo "run.sh: cannot make the results folder $results" >&2; exit 1; }
  results=$(cd "$results" && pwd)
  work=$results
  : > "$results/run.log"
  log() { echo "$*" | tee -a "$results/run.log"; }
fi
now() { date +%s.%N 2>/dev/null | sed 's/N$/0/'; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

ldconfig_cmd=
for c in ldconfig /sbin/ldconfig /usr/sbin/ldconfig; do
  if command -v "$c" >/dev/null 2>&1; then ldconfig_cmd=$c; break; fi
done
sys_lib() { # sys_lib SONAME: the node's own copy (ld.so's cache, then the usual folders)
  if [ -n "$ldconfig_cmd" ]; then
    p=$("$ldconfig_cmd" -p 2>/dev/null | awk -v n="$1" '$1 == n && /x86-64/ { print $NF; exit }')
    [ -n "$p" ] && [ -e "$p" ] && { echo "$p"; return 0; }
  fi
  for d in /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu /lib64 /usr/lib64 /usr/local/lib64 /usr/local/lib \
           /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/wsl/lib /opt/rocm/lib /opt/rocm/opencl/lib \
           /usr/lib/x86_64-linux-gnu/intel-opencl /usr/lib64/intel-opencl /usr/lib; do
    [ -e "$d/$1" ] && { echo "$d/$1"; return 0; }
  done
  echo "${ORIG_LD_LIBRARY_PATH:-}" | tr ':' '\n' | while read -r d; do
    [ -n "$d" ] && [ -e "$d/$1" ] && { echo "$d/$1"; break; }
  done
}

# ---------------------------------------------------------------- environment
ORIG_LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}
have=${EMIM_BUNDLE_GLIBC:-$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')}  # EMIM_BUNDLE_GLIBC: for tests
newer() { # newer A B: version A is newer than B
  [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -t. -k1,1n -k2,2n -k3,3n | tail -n 1)" = "$1" ]
}
glibc_of() { awk -v f="$1" '$1 == f { print $2 }' "$B/lib/GLIBC_REQUIRED" 2>/dev/null; }
# the programs need the glibc they were built against, or a newer one
for p in bin/emim bin/bench_step; do
  g=$(glibc_of "$p")
  if [ -n "$have" ] && [ -n "$g" ] && newer "$g" "$have"; then
    log "FAIL: this node's glibc is $have; the bundle's $p needs $g or newer (make the bundle on an older system)"
    exit 1
  fi
done
# The library path: a folder of links to the bundle's libraries, less those
# the node has a better copy of: a library that needs a newer glibc than the
# node's (the node's own copy instead), and libstdc++, libgcc_s and libgomp
# where the node's have every symbol version the bundle needs (a vendor
# driver built against newer ones then finds them).
libdir="$work/.lib"
rm -rf "$libdir"; mkdir -p "$libdir"
lib_notes=; lib_fail=
for f in "$B"/lib/*.so* "$B"/lib/compat/*.so*; do
  [ -e "$f" ] || continue
  case $f in *.requires) continue ;; esac
  so=$(basename "$f"); rel=${f#"$B"/}
  use=bundled; why=
  case $rel in lib/compat/*) compat=1 ;; *) compat=0 ;; esac
  g=$(glibc_of "$rel")
  if [ -L "$f" ]; then g=$(glibc_of "lib/$(readlink "$f")"); fi
  old_glibc=0
  if [ -n "$have" ] && [ -n "$g" ] && newer "$g" "$have"; then old_glibc=1; fi
  sys=
  if [ "$old_glibc" = 1 ] || [ "$compat" = 1 ]; then sys=$(sys_lib "$so"); fi
  if [ "$compat" = 1 ]; then
    lack=
    if [ -n "$sys" ] && [ -f "$f.requires" ]; then
      # the version names in the node's library (a name may be stored as
      # the tail of a longer one: OMP_1.0 in GOMP_1.0)
      lack=$(tr '\000' '\n' < "$sys" 2>/dev/null | grep -a -E '(GLIBCXX|CXXABI|GCC|GOMP|OMP|GOACC)_' |
        awk -v req="$f.requires" '
          BEGIN { while ((getline t < req) > 0) if (t != "") need[t] = 1 }
          { for (t in need) if (length($0) >= length(t) && substr($0, length($0) - length(t) + 1) == t) delete need[t] }
          END { for (t in need) { print t; exit } }')
    fi
    case ${EMIM_BUNDLE_COMPAT:-auto} in
      bundled) why="EMIM_BUNDLE_COMPAT=bundled" ;;
      system) if [ -n "$sys" ]; then use=node; else why="the node has none"; fi ;;
      *) if [ -z "$sys" ]; then why="the node has none"
         elif [ ! -f "$f.requires" ]; then why="no symbol versions recorded"
         elif [ -z "$lack" ]; then use=node
         else why="the node's $sys lacks $lack"; fi ;;
    esac
    if [ "$use" = bundled ] && [ "$old_glibc" = 1 ]; then
      lib_fail="$lib_fail $so (the bundle's needs glibc $g; $why)"
    fi
  elif [ "$old_glibc" = 1 ]; then
    if [ -n "$sys" ]; then use=node; why="the bundle's needs glibc $g"
    else lib_fail="$lib_fail $so (the bundle's needs glibc $g; the node has none)"; fi
  fi
  if [ "$use" = bundled ]; then
    ln -s "$f" "$libdir/$so"
    [ "$compat" = 1 ] && lib_notes="$lib_notes $so: bundle's ($why);"
  else
    lib_notes="$lib_notes $so: node's ($sys${why:+; $why});"
  fi
done
[ -n "$lib_notes" ] || lib_notes=" all the bundle's;"
if [ -n "$lib_fail" ]; then
  log "FAIL: this node's glibc is $have, and these libraries can come neither from the bundle nor the node:$lib_fail"
  exit 1
fi
LD_LIBRARY_PATH="$libdir${ORIG_LD_LIBRARY_PATH:+:$ORIG_LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH

# the OpenCL driver, through the bundle's ICD loader
list_gpus() { "$B/bin/emim" -q -b cpu info 2>/dev/null | grep -E '^ +device [0-9]+: .*\[GPU\]'; }
list_devs() { "$B/bin/emim" -q -b cpu info 2>/dev/null | grep -E '^ +device [0-9]+: '; }
icd_note=
if [ -n "${OCL_ICD_VENDORS:-}" ]; then
  icd_note="OCL_ICD_VENDORS=$OCL_ICD_VENDORS (from the environment)"
else
  icd_note="/etc/OpenCL/vendors"
  if [ "$own_icd" = 1 ] || [ -z "$(list_gpus)" ]; then
    vend="$work/icd/vendors"
    rm -rf "$work/icd"; mkdir -p "$vend"
    found=
    for so in ${OPENCL_DRIVER:-} libnvidia-opencl.so.1 libamdocl64.so libigdrcl.so; do
      case $so in /*) p=$so; [ -e "$p" ] || p= ;; *) p=$(sys_lib "$so") ;; esac
      [ -n "$p" ] || continue
      echo "$p" > "$vend/$(basename "$so" | sed 's/\.so.*//').icd"
      found="$found $p"
    done
    if [ -n "$found" ]; then
      # keep the node's registered drivers too (a CPU driver, say)
      for icd in /etc/OpenCL/vendors/*.icd; do
        [ -f "$icd" ] || continue
        l=$(basename "$(head -n 1 "$icd")" | sed 's/\.so.*//')
        case $found in *"/$l".so*) continue ;; esac
        cp "$icd" "$vend/" 2>/dev/null
      done
      export OCL_ICD_VENDORS="$vend"
      icd_note="OCL_ICD_VENDORS=$vend, made for:$found"
    else
      rm -rf "$work/icd"
      [ "$own_icd" = 1 ] &&
        icd_note="/etc/OpenCL/vendors (--own-icd: no vendor driver found: no libnvidia-opencl.so.1, libamdocl64.so or libigdrcl.so)"
    fi
  fi
fi

if [ -n "$exec_prog" ]; then
  if [ -z "${EMIM_DEVICE:-}" ]; then
    i=$(list_gpus | head -n 1 | sed 's/^ *device \([0-9]*\):.*/\1/')
    [ -n "$i" ] && export EMIM_DEVICE=$i
  fi
  "$B/bin/$exec_prog" "$@"
  exit $?
fi

# ---------------------------------------------------------------- checks
t_start=$(now)
fails=0
rows=
record() { rows="$rows$(printf '%-5s %-34s %7ss  %s' "$1" "$2" "$3" "$4")
"; }
run_step() { # run_step NAME FILE COMMAND...: output in FILE; PASS when it exits 0
  name=$1; file=$2; shift 2
  t0=$(now)
  if command -v timeout >/dev/null 2>&1; then
    timeout -k 10 "$step_timeout" "$@" > "$results/$file" 2>&1; rc=$?
  else
    "$@" > "$results/$file" 2>&1; rc=$?
  fi
  dt=$(since "$t0")
  if [ "$rc" -eq 0 ]; then record PASS "$name" "$dt" "$file"; log "PASS  $name (${dt} s)"
  else
    note="exit $rc"; [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && note="timed out after $step_timeout s"
    fails=$((fails + 1)); record FAIL "$name" "$dt" "$file: $note"
    log "FAIL  $name ($note; ${dt} s): the end of $file:"
    tail -n 15 "$results/$file" | sed 's/^/      /' | tee -a "$results/run.log"
  fi
  return "$rc"
}

log "libemim GPU check: $(sed -n 's/^version: //p' "$B/BUNDLE" 2>/dev/null) ($(sed -n 's/^source: //p' "$B/BUNDLE" 2>/dev/null)), bundle $B"
log "results: $results"
log "host: $(uname -n) $(uname -srm), glibc ${have:-?}; libraries:$lib_notes"
log "OpenCL driver: $icd_note"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"; uname -a; echo "glibc: ${have:-?}"
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"; echo "OCL_ICD_VENDORS=${OCL_ICD_VENDORS:-}"
  echo "libraries:$lib_notes"; echo "nproc: $(nproc 2>/dev/null || echo ?)"
  if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi 2>&1 | head -n 30; fi
  if command -v rocm-smi >/dev/null 2>&1; then rocm-smi 2>&1 | head -n 30; fi
  echo "/etc/OpenCL/vendors:"; for f in /etc/OpenCL/vendors/*.icd; do [ -f "$f" ] && echo "  $f: $(cat "$f")"; done
  cat "$B/BUNDLE" 2>/dev/null
} > "$results/host.txt" 2>&1

# the device
gpu=$(list_gpus | head -n 1)
device_note=
if [ -n "${EMIM_DEVICE:-}" ]; then
  device_note="EMIM_DEVICE=$EMIM_DEVICE (from the environment)"
elif [ -n "$gpu" ]; then
  EMIM_DEVICE=$(echo "$gpu" | sed 's/^ *device \([0-9]*\):.*/\1/'); export EMIM_DEVICE
  device_note="the first OpenCL GPU: $(echo "$gpu" | sed 's/^ *//')"
else
  first=$(list_devs | head -n 1)
  if [ -z "$first" ]; then
    run_step "emim info" info.txt "$B/bin/emim" info
    log "FAIL: no OpenCL device at all ($icd_note): is the GPU driver installed on this node? Set"
    log "      OPENCL_DRIVER=/path/to/libnvidia-opencl.so.1 (or the AMD or Intel one) if it is elsewhere."
    printf 'RESULT: FAIL (no OpenCL device)\n' > "$results/summary.txt"
    exit 1
  fi
  EMIM_DEVICE=0; export EMIM_DEVICE
  device_note="no OpenCL GPU found: OpenCL device 0 instead, to check the bundle end to end (NOT a GPU result): $(echo "$first" | sed 's/^ *//')"
fi
log "device: $device_note"
log ""

run_step "emim info" info.txt "$B/bin/emim" info && sed 's/^/      /' "$results/info.txt" | tee -a "$results/run.log"
run_step "validate, fast mode" validate-fast.txt "$B/bin/emim" -b opencl validate --fast
run_step "validate, exact mode" validate-exact.txt "$B/bin/emim" -b opencl validate --exact

bench_rows=
for be in opencl cpu; do
  list=$presets; m=$mode
  [ "$be" = cpu ] && { list=$cpu_presets; m=$cpu_mode; }
  for p in $(echo "$list" | tr ',' ' '); do
    [ "$p" = none ] && continue
    if run_step "bench_step $p on $be" "bench-$be-$p.txt" "$B/bin/bench_step" --preset "$p" --backend "$be" --mode "$m"; then
      bench_rows="$bench_rows$(grep -E "^$p +(fast|exact) " "$results/bench-$be-$p.txt")
"
    fi
  done
done

train_note="not run (--train-steps 0)"
if [ "$train_steps" -gt 0 ]; then
  ok=1
  for be in opencl cpu; do
    rm -rf "$results/train-$be"
    run_step "pretrain $train_steps steps, exact, $be" "train-$be.txt" \
      env EMIM_EXACT=1 "$B/bin/emim" -b "$be" pretrain --exact --preset "$train_preset" --steps "$train_steps" \
      --check-samples 4 --out "$results/train-$be" || ok=0
  done
  if [ "$ok" = 1 ]; then
    a="$results/train-opencl"; c="$results/train-cpu"
    t0=$(now); diffs=
    # metrics.tsv: every column but the timings (data_wait, seconds)
    cols=$(head -n 1 "$c/metrics.tsv" | tr '\t' '\n' | grep -nvxE 'data_wait|seconds' | cut -d: -f1 | paste -sd, -)
    cut -f "$cols" "$a/metrics.tsv" > "$results/train-opencl.metrics"
    cut -f "$cols" "$c/metrics.tsv" > "$results/train-cpu.metrics"
    cmp -s "$results/train-opencl.metrics" "$results/train-cpu.metrics" || diffs="$diffs metrics.tsv"
    cmp -s "$a/summary.json" "$c/summary.json" || diffs="$diffs summary.json"
    # the checkpoint (safetensors): its header holds no device, time or path,
    # so the whole file must match; the tensors' bytes are compared apart
    # to tell a metadata difference from a numerical one
    tensors() { n=$(od -An -tu8 -N8 "$1" | tr -d ' '); tail -c +$((n + 9)) "$1" | sha256sum | cut -c1-16; }
    ha=$(tensors "$a/checkpoint.emim"); hc=$(tensors "$c/checkpoint.emim")
    if ! cmp -s "$a/checkpoint.emim" "$c/checkpoint.emim"; then
      if [ "$ha" = "$hc" ]; then diffs="$diffs checkpoint-header"; else diffs="$diffs checkpoint-tensors"; fi
    fi
    dt=$(since "$t0")
    if [ -z "$diffs" ]; then
      train_note="bit-identical on opencl and cpu: metrics ($(($(wc -l < "$c/metrics.tsv") - 1)) steps, final loss $(tail -n 1 "$c/metrics.tsv" | cut -f2)), summary.json, checkpoint (tensors sha256 $ha...)"
      record PASS "pretrain: opencl = cpu, bit for bit" "$dt" "train-opencl/, train-cpu/"
      log "PASS  pretrain: opencl = cpu, bit for bit ($train_note)"
    else
      fails=$((fails + 1))
      train_note="DIFFERENT:$diffs (tensors sha256 opencl $ha..., cpu $hc...)"
      record FAIL "pretrain: opencl = cpu, bit for bit" "$dt" "differ:$diffs"
      log "FAIL  pretrain: opencl and cpu differ:$diffs (tensors sha256 opencl $ha..., cpu $hc...)"
      diff "$results/train-opencl.metrics" "$results/train-cpu.metrics" | head -n 12 | sed 's/^/      /' | tee -a "$results/run.log"
    fi
  else
    train_note="a run failed"
  fi
fi

total=$(since "$t_start")
if [ "$fails" -eq 0 ]; then result=PASS; else result="FAIL ($fails failed)"; fi
{
  echo "libemim GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ), host $(uname -n)"
  echo "bundle: $(sed -n 's/^version: //p' "$B/BUNDLE" 2>/dev/null) ($(sed -n 's/^source: //p' "$B/BUNDLE" 2>/dev/null))"
  echo "device: $device_note"
  echo "OpenCL driver: $icd_note"
  echo "libraries:$lib_notes"
  echo
  printf '%s' "$rows"
  echo
  if [ -n "$bench_rows" ]; then
    echo "bench_step (seconds per training step; bench-*.txt have the roofline columns):"
    grep -h '^preset' "$results"/bench-*.txt 2>/dev/null | head -n 1
    printf '%s' "$bench_rows"
    echo
  fi
  echo "training: $train_note"
  echo "validate: fast: $(grep -h '^== fast mode: [0-9]* checks' "$results/validate-fast.txt" 2>/dev/null | sed 's/^== fast mode: //')"
  echo "          exact: $(grep -h '^== exact mode: [0-9]* checks' "$results/validate-exact.txt" 2>/dev/null | sed 's/^== exact mode: //')"
  echo "time: $total s in all"
  echo "RESULT: $result"
} > "$results/summary.txt"
log ""
cat "$results/summary.txt" >> "$results/run.log"
cat "$results/summary.txt"
[ "$fails" -eq 0 ]
