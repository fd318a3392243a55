#!/usr/bin/env bash
# GPU machine, one call: (1) the host CPU's model and AMX flags; (2) the tree's CUDA build and
# `ctest -L cuda` (the CUDA op tests take the CPU ops as their reference); (3) CPU embeddings of
# .lab-base's build against the tree's on the 16-core host, alternated, 100 docs of the three
# shapes, f32 and bf16 (DTYPES="f16 ..." for others), at 16 threads (and e5 at 2). Carry .deps,
# .device-in, .lab-base. TESTS=0 skips (2).
set -uo pipefail
lscpu | grep -E "Model name|^CPU\(s\)|Thread\(s\) per core"
echo "amx flags: $(grep -o -w -E 'amx_[a-z0-9]+' /proc/cpuinfo | sort -u | tr '\n' ' ')"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
source scripts/device/env.sh
set +e
D=.device-in/docs1000.json
(cd .lab-base && cmake -S . -B /tmp/fbase -G Ninja -DFERRIS_CUDA=OFF -DFERRIS_BENCH=ON -DFERRIS_TESTS=OFF "${FERRIS_CMAKE_DEPS[@]}" > /tmp/cmake_base.log 2>&1 && cmake --build /tmp/fbase -j 4 --target bench_embed > /tmp/build_base.log 2>&1; echo "base build rc=$?") &
P=$!
cmake -S . -B /tmp/fcuda -G Ninja -DFERRIS_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DFERRIS_BENCH=ON -DFERRIS_TESTS=ON "${FERRIS_CMAKE_DEPS[@]}" > /tmp/cmake.log 2>&1 || { tail -30 /tmp/cmake.log; exit 1; }
TARGETS=""
[ "${TESTS:-1}" = 1 ] || TARGETS="--target bench_embed ferris_cli"
cmake --build /tmp/fcuda -j 12 $TARGETS -- -k 0 > /tmp/build.log 2>&1 || { grep -B2 -A12 -E "error|FAILED" /tmp/build.log | head -60; exit 1; }
echo "tree build done at $SECONDS s"
wait $P
if [ "${TESTS:-1}" = 1 ]; then
  echo "== ctest -L cuda"
  ctest --test-dir /tmp/fcuda -L cuda -j 4 --output-on-failure --timeout 300 > /tmp/ctest_cuda.log 2>&1
  grep -E "tests passed|Failed|\*\*\*|Timeout" /tmp/ctest_cuda.log | head -20
  grep -B5 -A25 "Failure" /tmp/ctest_cuda.log | head -60
  echo "ctest done at $SECONDS s"
fi
for p in bert:e5-small-v2 bert:all-minilm-l6-v2 mpnet:all-mpnet-base-v2; do
  /tmp/fcuda/ferris create-model --arch ${p%%:*} --preset ${p#*:} --out /tmp/m/${p#*:} --force > /dev/null 2>&1
done
for round in 1 2; do
  for m in e5-small-v2 all-minilm-l6-v2 all-mpnet-base-v2; do
    for dt in ${DTYPES:-f32 bf16}; do
      for b in fbase fcuda; do
        echo "r$round $m $dt t16 $b: $(timeout 120 /tmp/$b/bench/bench_embed /tmp/m/$m $D --device cpu --dtype $dt --threads 16 --sizes 100 --repeat 3 | grep -o 'n=.*')"
      done
    done
  done
  for dt in ${DTYPES:-f32 bf16}; do
    for b in fbase fcuda; do
      echo "r$round e5-small-v2 $dt t2 $b: $(timeout 120 /tmp/$b/bench/bench_embed /tmp/m/e5-small-v2 $D --device cpu --dtype $dt --threads 2 --sizes 100 --repeat 3 | grep -o 'n=.*')"
    done
  done
done
echo "done at $SECONDS s"
