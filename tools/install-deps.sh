#!/bin/sh
# Installs what libemim needs to build and test on Debian 12 (run as root or
# with sudo). PoCL gives an OpenCL device on the CPU, so the OpenCL twin
# tests run on machines without a GPU.
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  build-essential autoconf automake libtool pkg-config \
  ocl-icd-opencl-dev opencl-c-headers libclblast-dev pocl-opencl-icd clinfo \
  libopenblas-openmp-dev check libnifti2-dev zlib1g-dev librandom123-dev \
  >/dev/null
echo "install-deps: done"
