#!/usr/bin/env bash
# GPU machine, one call: sentence-transformers fp16 against Ferris f16 at 1,000 docs of one shape
# (SHAPE=arch:preset, default mpnet:all-mpnet-base-v2), alternated twice; builds only bench_embed
# and the CLI (~1.5 min on a cold machine). Carry .deps and .device-in (docs1000.json).
# TESTS=1: builds the tests too and runs `ctest -L cuda` first, and one traced encode
# (FERRIS_CUDA_TRACE=1, the head of its table).
set -uo pipefail
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
source scripts/device/env.sh; set +e
D=.device-in/docs1000.json
TESTS=${TESTS:-0}; TARGETS="--target bench_embed ferris_cli"
[ "$TESTS" = 1 ] && TARGETS=""
cmake -S . -B /tmp/fcuda -G Ninja -DFERRIS_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DFERRIS_TESTS=$([ "$TESTS" = 1 ] && echo ON || echo OFF) "${FERRIS_CMAKE_DEPS[@]}" > /tmp/cmake.log 2>&1 || { tail -30 /tmp/cmake.log; exit 1; }
cmake --build /tmp/fcuda -j 16 $TARGETS > /tmp/build.log 2>&1 || { grep -B2 -A12 -E "error|FAILED" /tmp/build.log | head -40; exit 1; }
echo "built at $SECONDS s"
SHAPE=${SHAPE:-mpnet:all-mpnet-base-v2}; P=${SHAPE#*:}
/tmp/fcuda/ferris create-model --arch ${SHAPE%%:*} --preset $P --out /tmp/m/$P --force > /dev/null 2>&1
if [ "$TESTS" = 1 ]; then
  ctest --test-dir /tmp/fcuda -L cuda -j 4 --output-on-failure --timeout 300 > /tmp/ctest_cuda.log 2>&1
  grep -E "tests passed|Failed|\*\*\*|Timeout" /tmp/ctest_cuda.log | head -20
  grep -B5 -A25 "Failure" /tmp/ctest_cuda.log | head -60
  echo "ctest done at $SECONDS s"
  FERRIS_CUDA_TRACE=1 timeout 60 /tmp/fcuda/bench/bench_embed /tmp/m/$P $D --device cuda --dtype f16 --sizes 1000 --repeat 1 2>&1 | head -5
fi
for r in 1 2; do
  timeout 100 python3 bench/peers/st_embed.py /tmp/m/$P $D --sizes 1000 2>/dev/null | sed "s/^/st r$r /"
  timeout 60 /tmp/fcuda/bench/bench_embed /tmp/m/$P $D --device cuda --dtype f16 --sizes 1000 --repeat 20 | sed "s/^/ferris r$r /"
done
echo "done at $SECONDS s"
