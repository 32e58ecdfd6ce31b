#!/usr/bin/env bash
# Installs the Debian packages rn50-tune needs to build, test and run. Used by the README and by
# .ci/run, so both stay the same. Run as root on Debian 12. sqlite3 and chromium are for the
# tests only (reading a run's store; loading its report.html in a headless browser); clang and
# its sanitizer runtimes (libFuzzer among them) for the fuzz harnesses (tests/fuzz); Pillow, NumPy
# and torchvision for the image tests, which generate their files and torchvision's answers at
# test time (tests/fixtures/make_images.py); libjpeg-turbo and libpng decode images; Open MPI
# (libopenmpi-dev, openmpi-bin) lets a search spread over ranks (mpirun; without it the build
# runs one process).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends \
    build-essential cmake pkg-config \
    libopenblas-openmp-dev libgsl-dev libyaml-dev zlib1g-dev libsqlite3-dev libjpeg62-turbo-dev libpng-dev \
    gnuplot-nox dataset-fashion-mnist python3 sqlite3 \
    chromium clang libclang-rt-14-dev \
    python3-pil python3-numpy python3-torchvision \
    libopenmpi-dev openmpi-bin
