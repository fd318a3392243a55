#!/usr/bin/env bash
# GPU machine, one call: the embedding path of a base commit against the tree. Builds the base
# (.lab-base: `git archive BASE | tar -x -C .lab-base`, carried) and the tree, runs the tree's CUDA
# tests and compute-sanitizer on the encoder kernels, then bench_embed rounds alternating base /
# tree (1,000 all-mpnet-base-v2 docs, the tree also with 1,024-text chunks), the three shapes at
# 1 / 100 / 1,000 texts with sentence-transformers before and after, and ncu totals of the
# encoder's non-GEMM kernels for both. Carry .deps, .device-in (docs1000.json), .lab-base.
# Switches: TESTS=0 ST=0 NCU=0 CHUNK=n (the tree's chunk in the three-shape table);
# VARIANTS="1024:65536 1024:131072" times the tree in the rounds also at those chunk:batch-tokens.
# ENV_VARIANTS="FERRIS_CUDA_NO_SM90A_GEMM=1" times the tree in the rounds also with that
# environment. TESTS=0 builds only bench_embed and the CLI; RACE_FILTER the tests under racecheck;
# MEMCHECK_FILTER the tests under memcheck; NCU_REGEX the kernels ncu times; TEST_ENV="A=B" runs
# the CUDA tests once more with that setting; PAUSE=s waits that long after each peer process;
# NCU_ENV="A=B" runs ncu on the tree once more with that setting; SMI=1 samples the clocks.
set -uo pipefail
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
source scripts/device/env.sh
set +e
D=.device-in/docs1000.json
(cd .lab-base && cmake -S . -B /tmp/fbase -G Ninja -DFERRIS_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DFERRIS_TESTS=OFF "${FERRIS_CMAKE_DEPS[@]}" > /tmp/cmake_base.log 2>&1 && cmake --build /tmp/fbase -j 6 --target bench_embed > /tmp/build_base.log 2>&1; echo "base build rc=$?") &
cmake -S . -B /tmp/fcuda -G Ninja -DFERRIS_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DFERRIS_TESTS=ON "${FERRIS_CMAKE_DEPS[@]}" > /tmp/cmake.log 2>&1 || { tail -30 /tmp/cmake.log; exit 1; }
TARGETS=""
[ "${TESTS:-1}" = 1 ] || TARGETS="--target bench_embed ferris_cli"
cmake --build /tmp/fcuda -j 12 $TARGETS -- -k 0 > /tmp/build.log 2>&1 || { grep -B2 -A12 -E "error|FAILED" /tmp/build.log | head -60; exit 1; }
echo "tree build done $(date +%T)"
wait
for p in bert:e5-small-v2 bert:all-minilm-l6-v2 mpnet:all-mpnet-base-v2; do
  /tmp/fcuda/ferris create-model --arch ${p%%:*} --preset ${p#*:} --out /tmp/m/${p#*:} --force > /dev/null 2>&1
done
if [ "${TESTS:-1}" = 1 ]; then
  echo "== ctest -L cuda $(date +%T)"
  ctest --test-dir /tmp/fcuda -L cuda -j 4 --output-on-failure --timeout 300 > /tmp/ctest_cuda.log 2>&1
  grep -E "tests passed|Failed|\*\*\*|Timeout" /tmp/ctest_cuda.log | head -20
  grep -B5 -A25 "Failure" /tmp/ctest_cuda.log | head -80
  if [ -n "${TEST_ENV:-}" ]; then
    echo "== ctest -L cuda with $TEST_ENV"
    env $TEST_ENV ctest --test-dir /tmp/fcuda -L cuda -j 4 --output-on-failure --timeout 300 > /tmp/ctest_cuda_env.log 2>&1
    grep -E "tests passed|Failed|\*\*\*|Timeout" /tmp/ctest_cuda_env.log | head -20
  fi
  CS=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  timeout 200 $CS --tool memcheck --error-exitcode 9 /tmp/fcuda/tests/ferris_cuda_tests --gtest_filter="${MEMCHECK_FILTER:-CudaOps.EmbeddingLayerNorm*:CudaOps.PoolHalf*:CudaOps.AttentionPacked*:CudaOps.HalfActivation*:CudaOps.LinearGelu*:CudaEncoderWide.*}" > /tmp/memcheck.log 2>&1; MC=$?; echo "memcheck rc=$MC"; tail -3 /tmp/memcheck.log
  if [ "$MC" != 0 ]; then  # which tests, then the first error whole
    grep -E "^\[ RUN|^========= (Invalid|Program hit)" /tmp/memcheck.log | uniq -c | head -30
    grep -m 1 -A16 -E "^========= (Invalid|Program hit)" /tmp/memcheck.log
  fi
  timeout 150 $CS --tool racecheck --error-exitcode 9 /tmp/fcuda/tests/ferris_cuda_tests --gtest_filter="${RACE_FILTER:-CudaOps.PoolHalf*:CudaOps.EmbeddingLayerNorm*}" > /tmp/racecheck.log 2>&1; echo "racecheck rc=$?"; tail -3 /tmp/racecheck.log
fi
echo "== bench $(date +%T)"
M=/tmp/m/all-mpnet-base-v2
for round in 1 2; do
  timeout 120 /tmp/fbase/bench/bench_embed $M $D --device cuda --dtype f16 --sizes 1000 --repeat 20 | sed "s/^/base r$round /"
  for v in 256:32768 ${VARIANTS:-}; do
    for m in $M ${VARIANT_MODELS:-}; do
      timeout 120 /tmp/fcuda/bench/bench_embed $m $D --device cuda --dtype f16 --sizes 1000 --repeat 20 --chunk ${v%%:*} --batch-tokens ${v#*:} | sed "s/^/tree chunk:batch $v r$round /"
    done
  done
  for e in ${ENV_VARIANTS:-}; do
    env $e timeout 120 /tmp/fcuda/bench/bench_embed $M $D --device cuda --dtype f16 --sizes 1000 --repeat 20 | sed "s/^/tree $e r$round /"
  done
done
# SMI=1: the GPU's clocks, power, clock event reasons and temperature every 50 ms through the
# three-shape table ($OUT/clocks.csv; each process' start time is in the log), for the outlier.
if [ "${SMI:-0}" = 1 ] && [ -n "${OUT:-}" ]; then
  nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,utilization.gpu,pstate,clocks_event_reasons.active,temperature.gpu --format=csv,noheader -lms 50 > "$OUT"/clocks.csv 2>&1 &
  SMI_PID=$!
fi
for m in e5-small-v2 all-minilm-l6-v2 all-mpnet-base-v2; do
  [ "${SMI:-0}" = 1 ] && echo "-- $m $(date +%T.%N | cut -c1-12)"
  [ "${ST:-1}" = 1 ] && timeout 200 python3 bench/peers/st_embed.py /tmp/m/$m $D --sizes 1,100,1000 2>/dev/null | sed "s/^/st $m /"
  sleep "${PAUSE:-0}"  # PAUSE=s: between the peer's process and Ferris' (the one-query outlier)
  [ "${SMI:-0}" = 1 ] && echo "-- base $m $(date +%T.%N | cut -c1-12)"
  timeout 120 /tmp/fbase/bench/bench_embed /tmp/m/$m $D --device cuda --dtype f16 --sizes 1,100,1000 --repeat 20 | sed "s/^/base $m /"
  [ "${SMI:-0}" = 1 ] && echo "-- tree $m $(date +%T.%N | cut -c1-12)"
  timeout 120 /tmp/fcuda/bench/bench_embed /tmp/m/$m $D --device cuda --dtype f16 --sizes 1,100,1000 --repeat 20 ${CHUNK:+--chunk $CHUNK} | sed "s/^/tree $m /"
  [ "${ST:-1}" = 1 ] && timeout 200 python3 bench/peers/st_embed.py /tmp/m/$m $D --sizes 1000 2>/dev/null | sed "s/^/st again $m /"
done
[ -n "${SMI_PID:-}" ] && kill "$SMI_PID"
if [ "${NCU:-1}" = 1 ]; then
  echo "== ncu, mpnet 1000 docs, one encode after the warm-up $(date +%T)"
  for b in fbase fcuda; do
    timeout 200 ncu --clock-control none -k regex:"${NCU_REGEX:-layer_norm|embedding|pool|attention|gelu}" --metrics gpu__time_duration.sum --csv /tmp/$b/bench/bench_embed $M $D --device cuda --dtype f16 --sizes 1000 --repeat 1 > /tmp/ncu_$b.csv 2>/dev/null
    echo "-- $b (two encodes: warm-up + 1)"; python3 scripts/device/ncu_summary.py /tmp/ncu_$b.csv 14
  done
  if [ -n "${NCU_ENV:-}" ]; then
    env $NCU_ENV timeout 200 ncu --clock-control none -k regex:"${NCU_REGEX:-layer_norm|embedding|pool|attention|gelu}" --metrics gpu__time_duration.sum --csv /tmp/fcuda/bench/bench_embed $M $D --device cuda --dtype f16 --sizes 1000 --repeat 1 > /tmp/ncu_env.csv 2>/dev/null
    echo "-- fcuda with $NCU_ENV"; python3 scripts/device/ncu_summary.py /tmp/ncu_env.csv 14
  fi
fi
[ -n "${OUT:-}" ] && cp /tmp/memcheck.log /tmp/racecheck.log /tmp/ctest_cuda.log "$OUT"/ 2>/dev/null
echo "done $(date +%T)"
