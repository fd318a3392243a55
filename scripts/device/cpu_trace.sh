#!/usr/bin/env bash
# GPU machine's host, one call: where a CPU forward's time goes with and without the AMX
# products (FERRIS_CPU_TRACE=1, self wall time an op), and the bf16 GEMMs alone (bench_ops).
# 1) CPU-only build; the bf16 product tests with AMX and with FERRIS_CPU_NO_AMX=1 (the vector
#    kernels); 2) Qwen2.5-0.5B shape pp512 traced at 16 and 2 threads, both ways; 3) bench_ops
#    bf16 products at 512 x 896 and 7,490 x 768, both ways; 4) all-mpnet-base-v2 bf16 100 docs
#    traced at 16 threads. Carry .deps, .device-in.
set -uo pipefail
lscpu | grep -E "Model name|^CPU\(s\)|L2 cache|L3 cache"
source scripts/device/env.sh
set +e
D=.device-in/docs1000.json
cmake -S . -B /tmp/ft -G Ninja -DFERRIS_CUDA=OFF -DFERRIS_BENCH=ON -DFERRIS_TESTS=ON "${FERRIS_CMAKE_DEPS[@]}" > /tmp/cmake.log 2>&1 || { tail -30 /tmp/cmake.log; exit 1; }
cmake --build /tmp/ft -j 16 --target ferris_cli ferris_backend_tests bench_generate bench_embed bench_ops > /tmp/build.log 2>&1 || { grep -B2 -A12 -E "error|FAILED" /tmp/build.log | head -60; exit 1; }
echo "built at $SECONDS s"
for e in "" FERRIS_CPU_NO_AMX=1; do
  echo "== bf16 product tests ${e:-(amx)}: $(env $e timeout 120 /tmp/ft/tests/ferris_backend_tests --gtest_filter='CpuGemmAmx*:Cpu/LinearTest*' 2>&1 | grep -E "PASSED|FAILED|SKIPPED \]" | tr '\n' ' ')"
done
/tmp/ft/ferris create-model --preset qwen2.5-0.5b --seed 1 --out /tmp/q05 > /dev/null 2>&1
/tmp/ft/ferris create-model --arch mpnet --preset all-mpnet-base-v2 --out /tmp/mpnet > /dev/null 2>&1
for t in 16 2; do
  for e in "" FERRIS_CPU_NO_AMX=1; do
    echo "== pp512, $t threads ${e:-(amx)}"
    env $e FERRIS_CPU_TRACE=1 timeout 120 /tmp/ft/bench/bench_generate --model /tmp/q05 --threads $t --prefill 512 --decode 0 --repeat 3 --kv-dtype f16 2>&1 | grep -vE "^peak" | head -16
  done
done
for e in "" FERRIS_CPU_NO_AMX=1; do
  echo "== bench_ops ${e:-(amx)}"
  env $e timeout 120 /tmp/ft/bench/bench_ops --device cpu --rows 512 --hidden 896 --dtype bf16 --repeat 5 | grep linear
  env $e timeout 120 /tmp/ft/bench/bench_ops --device cpu --rows 7490 --hidden 768 --dtype bf16 --repeat 3 | grep linear
done
echo "== mpnet bf16 100 docs, 16 threads (amx)"
FERRIS_CPU_TRACE=1 timeout 120 /tmp/ft/bench/bench_embed /tmp/mpnet $D --device cpu --dtype bf16 --threads 16 --sizes 100 --repeat 3 2>&1 | head -14
echo "done at $SECONDS s"
