#!/bin/sh
# Makes a relocatable folder that checks libemim on a GPU node where nothing
# can be installed: bin/emim and bin/bench_step from this tree, in lib/ the
# shared libraries they load that such a node may lack (the OpenCL ICD loader,
# CLBlast, OpenBLAS, niftilib, jansson, cairo, ...; glibc's own are left to
# the node), and run.sh (tools/gpu-run.sh), which sets the library path,
# finds the vendor's OpenCL driver and runs the checks. See doc/gpu.md.
#
#   tools/gpu-bundle.sh [--build-dir DIR] [--max-mib N] [--no-strip] [OUTDIR]
#
# OUTDIR defaults to ./gpu-bundle; an existing bundle there is replaced.
# The build dir defaults to $EMIM_BUILDDIR, else the source tree (configured
# first if it has no Makefile); emim and bench/bench_step are made there if
# they are out of date.
set -eu

die() { echo "gpu-bundle: error: $*" >&2; exit 1; }
say() { echo "gpu-bundle: $*"; }

srcdir=$(cd "$(dirname "$0")/.." && pwd)
builddir=${EMIM_BUILDDIR:-}
max_mib=60
strip_bins=1
out=
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) [ $# -ge 2 ] || die "--build-dir needs a folder"; builddir=$2; shift 2 ;;
    --build-dir=*) builddir=${1#*=}; shift ;;
    --max-mib) [ $# -ge 2 ] || die "--max-mib needs a number"; max_mib=$2; shift 2 ;;
    --max-mib=*) max_mib=${1#*=}; shift ;;
    --no-strip) strip_bins=0; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [ -z "$out" ] || die "one OUTDIR only"; out=$1; shift ;;
  esac
done
out=${out:-gpu-bundle}
case $max_mib in ''|*[!0-9]*) die "--max-mib takes a whole number of MiB" ;; esac
for t in ldd readlink du awk sed grep; do
  command -v "$t" >/dev/null 2>&1 || die "$t not found"
done

# ---- the build
if [ -z "$builddir" ]; then
  builddir=$srcdir
  if [ ! -f "$builddir/Makefile" ]; then
    say "configuring $builddir (no Makefile yet)"
    [ -x "$srcdir/configure" ] || (cd "$srcdir" && autoreconf -fi) || die "autoreconf failed"
    (cd "$builddir" && ./configure --quiet) || die "configure failed"
  fi
fi
builddir=$(cd "$builddir" 2>/dev/null && pwd) || die "no build folder $builddir"
[ -f "$builddir/Makefile" ] || die "$builddir has no Makefile: configure it first (or leave --build-dir out)"
say "building emim and bench/bench_step in $builddir"
${MAKE:-make} -C "$builddir" emim bench/bench_step >/dev/null || die "make emim bench/bench_step failed in $builddir"

is_elf() { [ "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]; }
# the real program: libtool leaves a wrapper script in place of a program
# linked against an uninstalled shared library and the program in .libs/
real_prog() {
  d=$(dirname "$1"); b=$(basename "$1")
  if [ -f "$d/.libs/$b" ] && is_elf "$d/.libs/$b"; then echo "$d/.libs/$b"
  elif is_elf "$1"; then echo "$1"
  else die "$1: neither a program nor a libtool wrapper with .libs/$b"; fi
}
emim_bin=$(real_prog "$builddir/emim")
bench_bin=$(real_prog "$builddir/bench/bench_step")
"$builddir/emim" -q -b cpu info 2>/dev/null | grep -q '^backends built in:.*opencl' ||
  die "this build has no OpenCL backend (configured with --disable-opencl?): nothing to check on a GPU"

# ---- the folder
if [ -e "$out" ]; then
  [ -f "$out/BUNDLE" ] || [ -z "$(ls -A "$out" 2>/dev/null)" ] ||
    die "$out exists and is not a bundle: give another OUTDIR or remove it"
  rm -rf "$out"
fi
mkdir -p "$out/bin" "$out/lib/compat"
out=$(cd "$out" && pwd)

put_elf() { # put_elf SRC DEST: copied, without debug information unless --no-strip
  if [ "$strip_bins" = 1 ] && command -v "${STRIP:-strip}" >/dev/null 2>&1; then
    "${STRIP:-strip}" --strip-unneeded -o "$2" "$1" || die "strip $1 failed"
  else
    cp "$1" "$2"
  fi
  chmod 755 "$2"
}
put_elf "$emim_bin" "$out/bin/emim"
put_elf "$bench_bin" "$out/bin/bench_step"
# bench_step uses the shared libemim (the tool links the library statically)
if readelf -d "$out/bin/bench_step" 2>/dev/null | grep -q 'libemim\.so' ||
   ! command -v readelf >/dev/null 2>&1; then
  so=$(ls "$builddir"/.libs/libemim.so.[0-9]* 2>/dev/null | head -n 1)
  [ -n "$so" ] || die "no $builddir/.libs/libemim.so.N"
  soname=$(basename "$so" | sed 's/^\(libemim\.so\.[0-9]*\).*/\1/')
  put_elf "$(readlink -f "$so")" "$out/lib/$soname"
fi

# ---- the libraries the programs load, as ldd resolves them here
# glibc's own stay with the node (they must match its ld.so); libstdc++,
# libgcc_s and libgomp go to lib/compat/, which run.sh uses only where the
# node's own are missing or older than what the bundle needs.
glibc_lib() {
  case $1 in
    ld-linux*|linux-vdso*|linux-gate*|libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|\
    libutil.so.*|libresolv.so.*|libanl.so.*|libnsl.so.*|libmvec.so.*|libBrokenLocale.so.*|libthread_db.so.*) return 0 ;;
  esac
  return 1
}
compat_lib() { case $1 in libstdc++.so.*|libgcc_s.so.*|libgomp.so.*) return 0 ;; esac; return 1; }

deps=$(LD_LIBRARY_PATH="$out/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "$out/bin/emim" "$out/bin/bench_step" "$out"/lib/libemim.so.* 2>&1) ||
  die "ldd failed: $deps"
missing=$(echo "$deps" | awk '/=> not found/ {print $1}' | sort -u)
[ -z "$missing" ] || die "libraries not found here: $(echo $missing)"
openblas=
: > "$out/.alts"
echo "$deps" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u > "$out/.deps"
while read -r name path; do
  glibc_lib "$name" && continue
  case $name in libemim.so.*) continue ;; esac
  real=$(readlink -f "$path")
  case $name in libopenblas*.so*) openblas=$name ;; esac
  case $name:$real in libblas.so.3:*/openblas*/*|liblapack.so.3:*/openblas*/*) echo "$name" >> "$out/.alts" ;; esac
  if compat_lib "$name"; then cp "$real" "$out/lib/compat/$name"
  else cp "$real" "$out/lib/$name"; fi
done < "$out/.deps"
# Debian's BLAS and LAPACK alternatives (libblas.so.3, liblapack.so.3 in an
# openblas-* folder) are OpenBLAS's: libopenblas exports all of BLAS and
# LAPACK, so they become links to it (liblapack.so.3 alone is 7 MiB); the
# check below (ldd -r) fails the bundle if a symbol goes missing.
if [ -n "$openblas" ]; then
  while read -r name; do rm -f "$out/lib/$name"; ln -s "$openblas" "$out/lib/$name"; done < "$out/.alts"
fi
rm -f "$out/.deps" "$out/.alts"
chmod 644 "$out"/lib/*.so* "$out"/lib/compat/*.so* 2>/dev/null || true
chmod 755 "$out"/lib/libemim.so.* 2>/dev/null || true

# ---- what the bundle needs from the node, from the version references of
# its programs and libraries: lib/GLIBC_REQUIRED, the glibc each one needs
# (run.sh takes the node's own copy of a library that needs a newer glibc
# than the node's), and for each compat library the symbol versions the
# bundle requires of it (the node's own copy does if it has them all)
vrefs() { # vrefs FILE: "LIBRARY VERSION" per version the file requires
  objdump -p "$1" 2>/dev/null |
    awk '/^Version References:/ { on = 1; next }
         on && /^ *required from / { lib = $3; sub(/:$/, "", lib); next }
         on && /^ +0x/ { print lib, $NF; next }
         on && !/^ / { on = 0 }'
}
maxver() { sort -t. -k1,1n -k2,2n -k3,3n | tail -n 1; }
if command -v objdump >/dev/null 2>&1; then
  refs=
  : > "$out/lib/GLIBC_REQUIRED"
  for f in "$out"/bin/* "$out"/lib/*.so* "$out"/lib/compat/*.so*; do
    [ -L "$f" ] && continue
    r=$(vrefs "$f")
    refs="$refs$r
"
    g=$(echo "$r" | awk '$1 ~ /^(libc|libm|libdl|libpthread|librt)\.so/ && $2 ~ /^GLIBC_[0-9]/ { sub(/^GLIBC_/, "", $2); print $2 }' | maxver)
    [ -n "$g" ] && echo "${f#"$out"/} $g" >> "$out/lib/GLIBC_REQUIRED"
  done
  for f in "$out"/lib/compat/*.so*; do
    echo "$refs" | awk -v n="$(basename "$f")" '$1 == n { print $2 }' | sort -u > "$f.requires"
  done
  glibc_bin=$(awk '$1 ~ /^bin\// { print $2 }' "$out/lib/GLIBC_REQUIRED" | maxver)
  glibc_all=$(awk '{ print $2 }' "$out/lib/GLIBC_REQUIRED" | maxver)
else
  say "warning: no objdump: run.sh will use the bundled libstdc++, libgcc_s and libgomp always"
fi

# ---- run.sh, a README, a manifest
cp "$srcdir/tools/gpu-run.sh" "$out/run.sh"
chmod 755 "$out/run.sh"
rev=$(git -C "$srcdir" describe --always --dirty 2>/dev/null || echo unknown)
version=$("$out/bin/emim" --version 2>/dev/null | head -n 1 || true)
{
  echo "libemim GPU check bundle"
  echo "version: ${version:-?}"
  echo "source: $rev"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -srm)"
  [ -n "${glibc_bin:-}" ] && echo "needs: x86-64 Linux, glibc >= $glibc_bin ($glibc_all for every bundled library; where the node's is older, run.sh takes the node's own copies of those that need more)"
} > "$out/BUNDLE"
cat > "$out/README" <<'EOF'
libemim GPU check bundle: run ./run.sh (./run.sh --help for the options).
It needs only glibc and the GPU vendor's OpenCL driver on the node; results
land in $RESULTS, else $OUT, else ./gpu-results. Copy the folder with
cp -a, tar or rsync -a (lib/ holds symbolic links; scp -r copies them as
files, which works but takes more room). See doc/gpu.md in the source.
EOF

# ---- checks: everything resolves inside the bundle, no symbol is missing,
# the size limit
libpath="$out/lib:$out/lib/compat"
bad=$(LD_LIBRARY_PATH=$libpath ldd "$out/bin/emim" "$out/bin/bench_step" 2>&1 |
      awk -v o="$out/" '$2 == "=>" { n=$1; sub(/^[ \t]+/, "", n); print n, $3 }' |
      while read -r name path; do
        glibc_lib "$name" && continue
        case $path in "$out"/*) ;; *) echo "$name => $path" ;; esac
      done)
[ -z "$bad" ] || die "libraries resolve outside the bundle: $bad"
undef=$(LD_LIBRARY_PATH=$libpath ldd -r "$out/bin/emim" "$out/bin/bench_step" 2>&1 | grep 'undefined symbol' || true)
[ -z "$undef" ] || die "undefined symbols with the bundled libraries: $undef"
LD_LIBRARY_PATH=$libpath "$out/bin/emim" --version >/dev/null || die "bin/emim does not start"
(cd "$out" && find . -type f ! -name SHA256SUMS | sort | xargs sha256sum > SHA256SUMS) 2>/dev/null || true
bytes=$(du -sb "$out" | awk '{print $1}')
mib=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
if [ "$bytes" -gt $((max_mib * 1048576)) ]; then
  echo "gpu-bundle: error: $out is $mib MiB, over the limit of $max_mib MiB (--max-mib):" >&2
  (cd "$out" && du -ab bin lib | sort -n | tail -n 8) >&2
  exit 1
fi
nlib=$(find "$out/lib" -name '*.so*' ! -name '*.requires' | wc -l)
say "$out: $mib MiB (2 programs, $nlib libraries); run it with $out/run.sh"
