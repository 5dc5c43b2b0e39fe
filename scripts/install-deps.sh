#!/usr/bin/env bash
# Installs what nngen needs beyond the Swift toolchain: libtcc (in-process C compilation) and
# tcc, and Open MPI (mpicc, mpirun: `make mpi` of an emitted program and its tests), from
# Debian's packages. Does nothing when they are already there.
set -euo pipefail
if [ -f /usr/include/libtcc.h ] && command -v tcc >/dev/null 2>&1 && command -v cc >/dev/null 2>&1 \
    && command -v mpicc >/dev/null 2>&1 && command -v mpirun >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libtcc-dev tcc gcc make openmpi-bin libopenmpi-dev
