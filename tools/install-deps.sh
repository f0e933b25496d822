#!/bin/sh
# Installs what libemim needs to build and test on Debian 12, with apt-get:
# as root, or through sudo when run by another user. PoCL gives an OpenCL
# device on the CPU, so the OpenCL twin tests run on machines without a GPU;
# Open MPI gives the data-parallel tests (mpirun on this machine alone).
set -e
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then exec sudo "$0" "$@"; fi
  echo "install-deps: apt-get needs root: run this as root or install sudo; or install the packages" \
    "it lists (libclblast-dev, libopenblas-openmp-dev, libnifti2-dev, check, ...) another way" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  build-essential autoconf automake libtool pkg-config \
  ocl-icd-opencl-dev opencl-c-headers libclblast-dev pocl-opencl-icd clinfo \
  libopenblas-openmp-dev liblapacke-dev check libnifti2-dev zlib1g-dev librandom123-dev \
  libjansson-dev libcairo2-dev clang libclang-rt-14-dev libopenmpi-dev openmpi-bin \
  >/dev/null
echo "install-deps: done"
