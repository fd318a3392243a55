#!/usr/bin/env bash
# GPU machine, call 2 (its 16 CPU cores): Ferris vs llama.cpp CPU on the same random
# Qwen2.5-0.5B-shaped bf16 weights and thread count; Ferris tokenizer vs HF tokenizers; the Qwen2
# parity fixtures regenerated (FIXTURES=0 / TOKENIZER=0 skip those parts). Needs .deps (Debian build deps), .peer/llama.cpp (source snapshot,
# never committed) and .device-in/docs1000.json carried. Results land in $OUT.
set -uo pipefail
T=${THREADS:-16}
(lscpu | grep -E "Model name|^CPU\(s\)|Flags" | sed 's/Flags:.*avx512_bf16.*/Flags: ... avx512_bf16 .../' | cut -c1-200) || true
source scripts/device/env.sh
set +e
echo "== build llama.cpp (CPU) in the background"
( cmake -S .peer/llama.cpp -B /tmp/lb -G Ninja -DGGML_CUDA=OFF -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DCMAKE_BUILD_TYPE=Release > /tmp/lcm.log 2>&1 && cmake --build /tmp/lb --target llama-bench -j 8 > /tmp/lb.log 2>&1; echo "llama build rc $?" ) &
LB=$!
echo "== build ferris"
cmake -S . -B /tmp/fb -G Ninja -DFERRIS_BENCH=ON "${FERRIS_CMAKE_DEPS[@]}" > /tmp/cmake.log 2>&1 || tail -30 /tmp/cmake.log
cmake --build /tmp/fb -j 8 -- -k 0 > /tmp/build.log 2>&1 || { grep -B2 -A12 -E "error|FAILED" /tmp/build.log | head -60; exit 1; }
echo "== ferris tests (CPU), this machine"
ctest --test-dir /tmp/fb -LE cuda -j 8 2>&1 | tail -3
if [ "${FIXTURES:-1}" = 1 ]; then
echo "== Qwen2 parity fixtures (greedy with an explicit attention mask)"
F=/tmp/fx; rm -rf $F /tmp/m; mkdir -p $F/qwen2
cp tests/fixtures/qwen2/models.json $F/qwen2/
/tmp/fb/ferris create-model --preset tiny --seed 1 --out /tmp/m/tiny
/tmp/fb/ferris create-model --preset tiny-untied --seed 2 --shards 2 --config-layout 5 --out /tmp/m/tiny_untied
export PYTHONUNBUFFERED=1
python3 scripts/fixtures/qwen2_reference.py --model /tmp/m/tiny --name tiny --out-dir $F/qwen2 --adapter-rank 4 --adapter-alpha 8 2>&1 | grep -v Loading
python3 scripts/fixtures/qwen2_reference.py --model /tmp/m/tiny_untied --name tiny_untied --out-dir $F/qwen2 \
  --adapter-rank 8 --adapter-alpha 16 --adapter-targets q_proj,v_proj,down_proj --rslora 2>&1 | grep -v Loading
(cd $F && tar czf $OUT/fixtures.tgz .)
fi
if [ "${TOKENIZER:-1}" = 1 ]; then
echo "== tokenizer: HF tokenizers vs ferris, docs1000, 1 thread"
python3 scripts/fixtures/tokenizer_reference.py assets/qwen2.5/tokenizer.json tests/fixtures/tokenizer/hard_corpus.json .device-in/docs1000.json /tmp/tokref.json
/tmp/fb/bench/bench_tokenizer assets/qwen2.5/tokenizer.json .device-in/docs1000.json --repeat 7
fi
echo "== --version startup (median of 50)"
python3 - <<'PY'
import subprocess, time, statistics
ts = []
for _ in range(50):
    t0 = time.perf_counter(); subprocess.run(["/tmp/fb/ferris", "--version"], capture_output=True); ts.append(time.perf_counter() - t0)
print("ferris --version: median %.2f ms" % (1e3 * statistics.median(ts)))
PY
echo "== models"
/tmp/fb/ferris create-model --preset qwen2.5-0.5b --seed 1 --out /tmp/q05
wait $LB
PYTHONPATH=.peer/llama.cpp/gguf-py python3 .peer/llama.cpp/convert_hf_to_gguf.py /tmp/q05 --outtype bf16 --outfile /tmp/q05-bf16.gguf > /tmp/conv.log 2>&1; tail -2 /tmp/conv.log
cat > /tmp/peak.py <<'PY'
import resource, subprocess, sys
r = subprocess.run(sys.argv[1:])
print("peak RSS MB %.0f" % (resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024), flush=True)
PY
for t in $T 2; do
  echo "== CPU, $t threads: llama.cpp (bf16)"
  python3 /tmp/peak.py /tmp/lb/bin/llama-bench -m /tmp/q05-bf16.gguf -t $t -p 512 -n 128 -r 3 -ngl 0 -o md 2>&1 | grep -vE "^(load|llama|print_info|ggml)" | tee $OUT/llama_t$t.txt
  echo "== CPU, $t threads: ferris (bf16 weights, f16 KV like llama.cpp)"
  python3 /tmp/peak.py /tmp/fb/bench/bench_generate --model /tmp/q05 --threads $t --prefill 512 --decode 128 --repeat 3 --kv-dtype f16 2>&1 | tee $OUT/ferris_t$t.txt
done
echo "== long context, $T threads"
/tmp/lb/bin/llama-bench -m /tmp/q05-bf16.gguf -t $T -p 2048 -n 0 -r 2 -o md 2>&1 | grep -E "pp2048|model"
/tmp/fb/bench/bench_generate --model /tmp/q05 --threads $T --prefill 2048 --decode 0 --repeat 2 --kv-dtype f16
ls -la $OUT
