#!/usr/bin/env bash
# GPU machine's host (Intel Xeon with AMX), one call: the AMX bf16 GEMM (backends/cpu/gemm_amx.h).
# 1) CPU-only build; its tests (the tile unit against the reference and the emulation, every
#    CPU test); 2) Qwen2.5-0.5B shape bf16 pp512 / tg at 16 and 2 threads: Ferris with AMX,
#    Ferris with FERRIS_CPU_NO_AMX=1 (the AVX512-BF16 kernels) and llama.cpp, alternated;
#    3) bf16 CPU embeddings, 100 docs, the three shapes, AMX against not, 16 threads.
# Carry .deps, .device-in, .peer/llama.cpp. QUICK=1: tests and one bench round only.
# EXTRA_ENV="A=B": Ferris with AMX once more under that setting in each round (an A/B of one build).
set -uo pipefail
lscpu | grep -E "Model name|^CPU\(s\)|Thread\(s\) per core|L2 cache"
echo "amx flags: $(grep -o -w -E 'amx_[a-z0-9]+' /proc/cpuinfo | sort -u | tr '\n' ' ')"
source scripts/device/env.sh
set +e
D=.device-in/docs1000.json
( cmake -S .peer/llama.cpp -B /tmp/lb -G Ninja -DGGML_CUDA=OFF -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DCMAKE_BUILD_TYPE=Release > /tmp/lcm.log 2>&1 && cmake --build /tmp/lb --target llama-bench -j 4 > /tmp/lb.log 2>&1; echo "llama build rc $? at $SECONDS s" ) &
LB=$!
cmake -S . -B /tmp/ft -G Ninja -DFERRIS_CUDA=OFF -DFERRIS_BENCH=ON -DFERRIS_TESTS=ON "${FERRIS_CMAKE_DEPS[@]}" > /tmp/cmake.log 2>&1 || { tail -30 /tmp/cmake.log; exit 1; }
cmake --build /tmp/ft -j 12 -- -k 0 > /tmp/build.log 2>&1 || { grep -B2 -A12 -E "error|FAILED" /tmp/build.log | head -60; exit 1; }
echo "ferris built at $SECONDS s"
echo "== AMX tests"
timeout 120 /tmp/ft/tests/ferris_backend_tests --gtest_filter='CpuGemmAmx*:Cpu/LinearTest*' 2>&1 | grep -E "OK \] CpuGemm|FAILED|Failure|PASSED|SKIPPED|Expected|Which is|rror" | head -30
echo "== ctest -LE cuda"
(cd /tmp/ft && timeout 300 ctest -j 12 -LE cuda --timeout 200 2>&1 | grep -E "tests passed|FAILED|Failed|\*\*\*|Skipped|Not Run" | head -20)
echo "tests done at $SECONDS s"
/tmp/ft/ferris create-model --preset qwen2.5-0.5b --seed 1 --out /tmp/q05 > /dev/null 2>&1
for p in bert:e5-small-v2 bert:all-minilm-l6-v2 mpnet:all-mpnet-base-v2; do
  /tmp/ft/ferris create-model --arch ${p%%:*} --preset ${p#*:} --out /tmp/m/${p#*:} --force > /dev/null 2>&1
done
wait $LB
PYTHONPATH=.peer/llama.cpp/gguf-py python3 .peer/llama.cpp/convert_hf_to_gguf.py /tmp/q05 --outtype bf16 --outfile /tmp/q05-bf16.gguf > /tmp/conv.log 2>&1; tail -1 /tmp/conv.log
ROUNDS="1 2"; [ "${QUICK:-0}" = 1 ] && ROUNDS=1
G="/tmp/ft/bench/bench_generate --model /tmp/q05 --prefill 512 --repeat 3 --kv-dtype f16"
for round in $ROUNDS; do
  for t in 16 2; do
    d=64; [ $t = 2 ] && d=32
    echo "== r$round t$t llama.cpp: $(timeout 120 /tmp/lb/bin/llama-bench -m /tmp/q05-bf16.gguf -t $t -p 512 -n $d -r 3 -o md 2>&1 | grep -E '(pp512|tg)' | awk -F'|' '{printf "%s %s  ", $(NF-2), $(NF-1)}')"
    echo "== r$round t$t ferris amx: $(timeout 120 $G --threads $t --decode $d | grep -E '^(pp|tg)' | awk '{printf "%s %s tok/s  ", $1, $2}')"
    [ -n "${EXTRA_ENV:-}" ] && echo "== r$round t$t ferris amx $EXTRA_ENV: $(env $EXTRA_ENV timeout 120 $G --threads $t --decode $d | grep -E '^(pp|tg)' | awk '{printf "%s %s tok/s  ", $1, $2}')"
    echo "== r$round t$t ferris no-amx: $(FERRIS_CPU_NO_AMX=1 timeout 120 $G --threads $t --decode $d | grep -E '^(pp|tg)' | awk '{printf "%s %s tok/s  ", $1, $2}')"
  done
done
echo "== long prefill, 16 threads"
timeout 120 /tmp/lb/bin/llama-bench -m /tmp/q05-bf16.gguf -t 16 -p 2048 -n 0 -r 2 -o md 2>&1 | grep -E "pp2048"
timeout 120 /tmp/ft/bench/bench_generate --model /tmp/q05 --threads 16 --prefill 2048 --decode 0 --repeat 2 --kv-dtype f16 | grep -E "^pp"
for m in e5-small-v2 all-minilm-l6-v2 all-mpnet-base-v2; do
  for e in "" FERRIS_CPU_NO_AMX=1; do
    echo "embed $m bf16 t16 ${e:-amx}: $(env $e timeout 120 /tmp/ft/bench/bench_embed /tmp/m/$m $D --device cpu --dtype bf16 --threads 16 --sizes 1,100 --repeat 3 | grep -o 'n=.*' | tr '\n' ' ')"
  done
done
echo "done at $SECONDS s"
