#!/bin/sh
# The training step of libemim and of PyTorch side by side, in one run, on the
# same shapes and the same number of threads, with the ratios.
#
#   bench/compare.sh [PRESETS [THREADS [ROUNDS]]]     (defaults: "tiny small base", 2, 2)
#
# Needs `make bench` (bench/bench_step) and a python with torch: $PYTHON, or
# .venv-bench/bin/python, or python3 (torch is a benchmark-only dependency:
#   python3 -m venv .venv-bench && .venv-bench/bin/pip install torch).
# The rounds alternate the two programs, so that a slow spell of the machine
# hits both. Speed-up = PyTorch's median / libemim's median (> 1: libemim is
# faster); exact/fast = the cost of exact mode.
set -eu
presets=${1:-"tiny small base"}
threads=${2:-2}
rounds=${3:-2}
here=$(cd "$(dirname "$0")" && pwd)
step=${BENCH_STEP:-$here/bench_step}
py=${PYTHON:-}
if [ -z "$py" ]; then
  if [ -x "$here/../.venv-bench/bin/python" ]; then py=$here/../.venv-bench/bin/python; else py=python3; fi
fi
[ -x "$step" ] || { echo "compare.sh: $step not built (run: make bench)" >&2; exit 2; }
"$py" -c 'import torch' 2>/dev/null || { echo "compare.sh: $py has no torch (see the top of this script)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=$threads EMIM_BACKEND=${EMIM_BACKEND:-cpu}
r=1
while [ "$r" -le "$rounds" ]; do
  for p in $presets; do
    echo "round $r: $p" >&2
    "$py" "$here/torch_step.py" --preset "$p" --threads "$threads" --tsv >>"$tmp/torch"
    "$step" --preset "$p" --threads "$threads" --tsv | tail -n +2 >>"$tmp/emim"
  done
  r=$((r + 1))
done
echo "# $(uname -n), $(nproc) cores, $threads threads, $rounds rounds; medians in seconds per step"
echo "# libemim: $(cut -f3 "$tmp/emim" | head -1)"
echo "# PyTorch: $(cut -f3 "$tmp/torch" | head -1)"
awk -F'\t' '
  FILENAME ~ /torch$/ { t[$1] = t[$1] " " $4; trss[$1] = $6; next }
  { if ($2 == "fast") { f[$1] = f[$1] " " $4; roof[$1] = roof[$1] " " $9; frss[$1] = $10 }
    else { e[$1] = e[$1] " " $4; erss[$1] = $10 } }
  function best(s,   a, n, i, m) { n = split(s, a, " "); m = a[1]; for (i = 2; i <= n; i++) if (a[i] < m) m = a[i]; return m }
  function worst(s,  a, n, i, m) { n = split(s, a, " "); m = a[1]; for (i = 2; i <= n; i++) if (a[i] > m) m = a[i]; return m }
  END {
    printf "| preset | PyTorch | libemim fast | libemim exact | speed-up fast | exact/fast | GEMM roofline (fast) | peak RSS PyTorch / libemim |\n"
    printf "|---|---|---|---|---|---|---|---|\n"
    split("tiny small base", order, " ")
    for (i = 1; i <= 3; i++) { p = order[i]; if (!(p in t)) continue
      tb = best(t[p]); fb = best(f[p]); eb = best(e[p])
      printf "| %s | %.3f-%.3f s | %.3f-%.3f s | %.3f-%.3f s | %.2fx | %.2fx | %s%% | %.0f / %.0f MiB |\n", p,
        tb, worst(t[p]), fb, worst(f[p]), eb, worst(e[p]), tb / fb, eb / fb, best(roof[p]) "-" worst(roof[p]),
        trss[p], (frss[p] > erss[p] ? frss[p] : erss[p]) }
  }' "$tmp/torch" "$tmp/emim"
