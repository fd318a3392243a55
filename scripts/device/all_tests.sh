#!/usr/bin/env bash
# GPU machine, one call: build everything with CUDA, then `ctest -L cuda` (GPU ops against the
# CPU's, GPU parity) and `ctest -LE cuda` (every CPU test) on this host, whose CPU differs from
# CI's (Intel Xeon with AMX, a model OpenBLAS 0.3.21 does not know: Ferris names its SkylakeX
# core, where OpenBLAS alone picks "Prescott"). Prints the OpenBLAS core and the failures.
# Carry .deps, .device-in.
set -uo pipefail
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
lscpu | grep -E "Model name|^CPU\(s\)"
source scripts/device/env.sh
set +e
cmake -S . -B /tmp/fcuda -G Ninja -DFERRIS_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DFERRIS_BENCH=ON \
  -DFERRIS_TESTS=ON "${FERRIS_CMAKE_DEPS[@]}" > /tmp/cmake.log 2>&1 || { tail -30 /tmp/cmake.log; exit 1; }
cmake --build /tmp/fcuda -j 16 -- -k 0 > /tmp/build.log 2>&1 ||
  { grep -B2 -A12 -E "error|FAILED" /tmp/build.log | head -60; exit 1; }
echo "built at $SECONDS s"
/tmp/fcuda/bench/bench_ops --device cpu --dtype f32 --rows 16 --repeat 1 | head -1
for label in "-L cuda" "-LE cuda"; do
  echo "== ctest $label at $SECONDS s"
  ctest --test-dir /tmp/fcuda $label -j 8 --output-on-failure --timeout 300 > /tmp/ctest.log 2>&1
  grep -E "tests passed|Failed|\*\*\*|Timeout|Not Run" /tmp/ctest.log | head -20
  grep -B5 -A25 "Failure" /tmp/ctest.log | head -60
done
echo "done at $SECONDS s"
