#!/usr/bin/env bash
# Installs what nngen needs beyond the Swift toolchain, from Debian's packages: libtcc (in-process C
# compilation) and tcc, a C compiler and make; Open MPI (mpicc, mpirun: `make mpi` of an emitted
# program and its tests); and for the embedded and cross targets (docs/EMBEDDED.md,
# Tests/NNGenKitTests/EmbeddedTargetTests.swift): the Arm bare-metal compiler with newlib,
# qemu-system-arm (the MPS2 Cortex-M boards), the aarch64 cross compiler with its libc, and
# qemu-user (qemu-aarch64). Does nothing when everything is already there.
set -euo pipefail
missing=0
[ -f /usr/include/libtcc.h ] || missing=1
for tool in tcc cc make mpicc mpirun arm-none-eabi-gcc qemu-system-arm aarch64-linux-gnu-gcc qemu-aarch64; do
    command -v "$tool" >/dev/null 2>&1 || missing=1
done
# newlib (libc.a for arm-none-eabi) and the aarch64 libc (the loader qemu-aarch64 -L uses).
[ -f /usr/lib/arm-none-eabi/newlib/libc.a ] || [ -f /usr/lib/arm-none-eabi/lib/libc.a ] || missing=1
[ -f /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] || missing=1
if [ "$missing" = 0 ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libtcc-dev tcc gcc make openmpi-bin libopenmpi-dev \
    gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
