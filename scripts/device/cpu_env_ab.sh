#!/usr/bin/env bash
# GPU machine's host, one call: the CPU backend (f32) under environment variants, alternated in
# rounds, with sentence-transformers on the CPU in the same call. ENV_VARIANTS (space-separated;
# "-" is no setting), ROUNDS (default 2), OPS_ROWS (bench_ops rows, default "512 7490"),
# OPS_DTYPES (bench_ops weight dtypes, default f32),
# RUNS (threads:shape:sizes, default 16 threads 100 docs for the three shapes, 2 threads for
# e5-small-v2, one query at 16), ST=0 skips the peer. Carry .deps, .device-in.
# Example: ENV_VARIANTS="OPENBLAS_CORETYPE=Prescott -" scripts/device/cpu_env_ab.sh
set -uo pipefail
lscpu | grep -E "Model name|^CPU\(s\)|Thread\(s\) per core" | cut -c1-120
source scripts/device/env.sh
set +e
D=.device-in/docs1000.json
cmake -S . -B /tmp/fcpu -G Ninja -DFERRIS_CUDA=OFF -DFERRIS_BENCH=ON -DFERRIS_TESTS=ON \
  "${FERRIS_CMAKE_DEPS[@]}" > /tmp/cmake.log 2>&1 || { tail -30 /tmp/cmake.log; exit 1; }
cmake --build /tmp/fcpu -j 14 --target bench_embed bench_ops ferris_cli ferris_backend_tests \
  > /tmp/build.log 2>&1 || { grep -B2 -A12 -E "error|FAILED" /tmp/build.log | head -60; exit 1; }
echo "built at $SECONDS s"
for e in ${ENV_VARIANTS:--}; do
  echo "tests ($e): $(env ${e/#-/} timeout 200 /tmp/fcpu/tests/ferris_backend_tests \
    --gtest_filter='Cpu*' 2>&1 | grep -E "PASSED|FAILED" | tr '\n' ' ')"
  env ${e/#-/} /tmp/fcpu/bench/bench_ops --device cpu --dtype f32 --rows 16 --repeat 1 2>&1 |
    head -1 | sed "s/^/$e: /"
done
RUNS=${RUNS:-"16:e5-small-v2:100 16:all-minilm-l6-v2:100 16:all-mpnet-base-v2:100 2:e5-small-v2:100 16:e5-small-v2:1"}
for p in bert:e5-small-v2 bert:all-minilm-l6-v2 mpnet:all-mpnet-base-v2; do
  /tmp/fcpu/ferris create-model --arch ${p%%:*} --preset ${p#*:} --out /tmp/m/${p#*:} --force > /dev/null 2>&1
done
if [ "${ST:-1}" = 1 ]; then
  for r in $RUNS; do
    IFS=: read -r t m n <<< "$r"
    timeout 200 python3 bench/peers/st_embed.py /tmp/m/$m $D --device cpu --dtype f32 --threads $t \
      --sizes $n --repeat 3 2>/dev/null | sed "s/^/st t$t $m /" | cut -c1-200
  done
fi
for round in $(seq 1 "${ROUNDS:-2}"); do
  for e in ${ENV_VARIANTS:--}; do
    for t in 2 16; do
      for dt in ${OPS_DTYPES:-f32}; do
        for rows in ${OPS_ROWS:-512 7490}; do
          env ${e/#-/} timeout 120 /tmp/fcpu/bench/bench_ops --device cpu --dtype $dt --rows $rows \
            --threads $t --repeat 5 | grep linear | sed "s/^/r$round $e t$t $dt rows $rows: /"
        done
      done
    done
    for r in $RUNS; do
      IFS=: read -r t m n <<< "$r"
      env ${e/#-/} timeout 200 /tmp/fcpu/bench/bench_embed /tmp/m/$m $D --device cpu --dtype f32 \
        --threads $t --sizes $n --repeat 3 | sed "s|^/tmp/m/||; s/^/r$round $e t$t /"
    done
  done
done
echo "done at $SECONDS s"
