#!/usr/bin/env bash
# GPU machine's host, one call: the CPU backend's f32 products of few rows (gemm_few_rows)
# against OpenBLAS, and f32 embeddings against sentence-transformers on the CPU in the same call.
# (1) the CPU and the core OpenBLAS picked; (2) bench_ops f32 at 14 / 512 / 7,490 rows, 2 and 16
# threads, under FERRIS_CPU_GEMM_F32_ROWS=0 (OpenBLAS past 8 rows), the default and 100000 (OPS=0
# skips it); (3) one query (QUERY_THREADS, default "16 2") and 100 docs (DOCS, threads:shape),
# f32: sentence-transformers, then Ferris as it is and with FERRIS_CPU_GEMM_F32_ROWS=0 (OpenBLAS
# past 8 rows, as before gemm_f32). Carry .deps, .device-in.
set -uo pipefail
lscpu | grep -E "Model name|^CPU\(s\)|Thread\(s\) per core|Flags" | cut -c1-200
python3 -c "import torch, sentence_transformers as s; print('torch', torch.__version__, 'sentence-transformers', s.__version__)"
source scripts/device/env.sh
set +e
D=.device-in/docs1000.json
cmake -S . -B /tmp/fcpu -G Ninja -DFERRIS_CUDA=OFF -DFERRIS_BENCH=ON -DFERRIS_TESTS=ON \
  "${FERRIS_CMAKE_DEPS[@]}" > /tmp/cmake.log 2>&1 || { tail -30 /tmp/cmake.log; exit 1; }
cmake --build /tmp/fcpu -j 14 --target bench_embed bench_ops ferris_cli ferris_backend_tests > /tmp/build.log 2>&1 ||
  { grep -B2 -A12 -E "error|FAILED" /tmp/build.log | head -60; exit 1; }
echo "built at $SECONDS s"
echo "tests: $(timeout 120 /tmp/fcpu/tests/ferris_backend_tests --gtest_filter='Cpu*' 2>&1 | grep -E "PASSED|FAILED" | tr '\n' ' ')"
/tmp/fcpu/bench/bench_ops --device cpu --dtype f32 --rows 16 --repeat 1 2>&1 | head -1
for t in $([ "${OPS:-1}" = 1 ] && echo 2 16); do
  for r in 14 512 7490; do
    for e in FERRIS_CPU_GEMM_F32_ROWS=0 - FERRIS_CPU_GEMM_F32_ROWS=100000; do
      env ${e/#-/} timeout 120 /tmp/fcpu/bench/bench_ops --device cpu --dtype f32 --rows $r --threads $t --repeat 5 |
        head -3 | sed "s/^/t$t rows $r $e: /"
    done
  done
done
for p in bert:e5-small-v2 bert:all-minilm-l6-v2 mpnet:all-mpnet-base-v2; do
  /tmp/fcpu/ferris create-model --arch ${p%%:*} --preset ${p#*:} --out /tmp/m/${p#*:} --force > /dev/null 2>&1
done
run() {  # threads, model, sizes, ferris variant
  timeout 200 python3 bench/peers/st_embed.py /tmp/m/$2 $D --device cpu --dtype f32 --threads $1 \
    --sizes $3 --repeat 3 2>/dev/null | sed "s/^/st t$1 /" | cut -c1-200
  for e in - $4; do
    env ${e/#-/} timeout 200 /tmp/fcpu/bench/bench_embed /tmp/m/$2 $D --device cpu --dtype f32 \
      --threads $1 --sizes $3 --repeat 3 | sed "s|^/tmp/m/|ferris t$1 $e |"
  done
}
for t in ${QUERY_THREADS:-16 2}; do
  for m in e5-small-v2 all-minilm-l6-v2 all-mpnet-base-v2; do
    echo "== $m, $t threads, at $SECONDS s"
    run $t $m 1 FERRIS_CPU_GEMM_F32_ROWS=0
  done
done
for tm in ${DOCS:-16:e5-small-v2 16:all-minilm-l6-v2 2:all-minilm-l6-v2}; do
  echo "== ${tm#*:} 100 docs, ${tm%%:*} threads, at $SECONDS s"
  run ${tm%%:*} ${tm#*:} 100 FERRIS_CPU_GEMM_F32_ROWS=0
done
echo "done at $SECONDS s"
