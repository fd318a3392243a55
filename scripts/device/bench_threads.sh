#!/usr/bin/env bash
# GPU machine: how Ferris's and llama.cpp's CPU prefill scale with threads (pp512, bf16,
# Qwen2.5-0.5B shape) at 4, 8 and 16 threads.
set -uo pipefail
(lscpu | grep -E "Model name|^CPU\(s\)|Thread\(s\) per core|Core\(s\) per socket|L2 cache|L3 cache") || true
source scripts/device/env.sh
set +e
( cmake -S .peer/llama.cpp -B /tmp/lb -G Ninja -DGGML_CUDA=OFF -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DCMAKE_BUILD_TYPE=Release > /tmp/lcm.log 2>&1 && cmake --build /tmp/lb --target llama-bench -j 8 > /tmp/lb.log 2>&1; echo "llama build rc $?" ) &
LB=$!
cmake -S . -B /tmp/fb -G Ninja -DFERRIS_BENCH=ON -DFERRIS_TESTS=OFF "${FERRIS_CMAKE_DEPS[@]}" > /tmp/cmake.log 2>&1 || tail -30 /tmp/cmake.log
cmake --build /tmp/fb -j 8 --target ferris_cli bench_generate > /tmp/build.log 2>&1 || { grep -B2 -A12 -E "error|FAILED" /tmp/build.log | head -40; exit 1; }
/tmp/fb/ferris create-model --preset qwen2.5-0.5b --seed 1 --out /tmp/q05
wait $LB
PYTHONPATH=.peer/llama.cpp/gguf-py python3 .peer/llama.cpp/convert_hf_to_gguf.py /tmp/q05 --outtype bf16 --outfile /tmp/q05-bf16.gguf > /tmp/conv.log 2>&1; tail -1 /tmp/conv.log
for t in 4 8 16; do
  echo "== $t threads"
  /tmp/lb/bin/llama-bench -m /tmp/q05-bf16.gguf -t $t -p 512 -n 0 -r 3 -o md 2>&1 | grep pp512
  /tmp/fb/bench/bench_generate --model /tmp/q05 --threads $t --prefill 512 --decode 0 --repeat 3 --kv-dtype f16 | grep pp
done
