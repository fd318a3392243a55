#!/usr/bin/env bash
# GPU machine, one call: build Ferris with CUDA (sm_90 only, for time), run the `cuda` tests (ops
# vs CPU, Qwen2 and encoder parity on the GPU), compute-sanitizer on the op tests, then the
# side-by-side benchmarks: embeddings vs sentence-transformers, generation (Ferris only here).
# Switches: BUILD=0 (the lab only) TESTS=0 SANITIZE=0 BENCH_EMBED=0 BENCH_GEN=0 TRACE=1 OPS=1 NCU=1 LLAMA=1 AB=1 (decode
# also without the persistent kernel); TESTS_FILTER=gtest-filter runs only those CUDA tests;
# TARGETS="a b" builds only those targets; LAB="64 512 2048" runs the decode kernel lab at those
# key counts (and a carried .lab-base, a copy of HEAD's src/include/dev, beside it), then profiles
# the first; LAB_VARIANTS="0 6,32 8,24" runs the new lab once per variant (prefetch blocks,
# MB ahead: dev/decode_lab.cu), LAB_PROFILE="6,32" profiles that one; LAB_BUILDS="early:-DA=1,-DB=2"
# builds and runs the tree's lab again with those flags. LLAMA=1 builds llama.cpp in the background
# from the start (waited for before anything is timed); SANITIZE_FILTER=gtest-filter puts other
# tests under compute-sanitizer.
set -uo pipefail
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
source scripts/device/env.sh
set +e
B=/tmp/fcuda
LLAMA_BUILD=
if [ "${LLAMA:-0}" = 1 ] && [ -d .peer/llama.cpp ]; then  # the same configuration as the bench script
  (cmake -S .peer/llama.cpp -B /tmp/lb -G Ninja -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DLLAMA_CURL=OFF \
     -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DCMAKE_BUILD_TYPE=Release \
     && cmake --build /tmp/lb --target llama-bench -j 8) > /tmp/llama_build.log 2>&1 &
  LLAMA_BUILD=$!
fi
if [ "${BUILD:-1}" = 1 ]; then
echo "== build"
cmake -S . -B $B -G Ninja -DFERRIS_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 "${FERRIS_CMAKE_DEPS[@]}" > /tmp/cmake.log 2>&1 || { tail -40 /tmp/cmake.log; exit 1; }
cmake --build $B -j 16 ${TARGETS:+--target $TARGETS} -- -k 0 > /tmp/build.log 2>&1 || { grep -B2 -A12 -E "error|FAILED" /tmp/build.log | head -80; exit 1; }
fi
if [ -n "${TESTS_FILTER:-}" ]; then
  echo "== ferris_cuda_tests --gtest_filter=$TESTS_FILTER"
  $B/tests/ferris_cuda_tests --gtest_filter="$TESTS_FILTER" 2>&1 | grep -E "^\[  |OK \]|FAILED|Failure|error|Expected|Which is|actual|x, |cache" | head -80
fi
[ -n "$LLAMA_BUILD" ] && { echo "== waiting for the llama.cpp build"; wait $LLAMA_BUILD; }
if [ -n "${LAB:-}" ]; then
  echo "== decode lab: 24 layers of the 0.5B shape in one launch (base: .lab-base, a copy of HEAD, when carried)"
  nvcc -O3 -std=c++20 -arch=sm_90 -Isrc -Iinclude dev/decode_lab.cu -o /tmp/decode_lab &
  [ -d .lab-base ] && (cd .lab-base && nvcc -O3 -std=c++20 -arch=sm_90 -Isrc -Iinclude dev/decode_lab.cu -o /tmp/decode_lab_base) &
  for b in ${LAB_BUILDS:-}; do  # name:-DFLAG=1[,-DFLAG2=2]: the tree's lab built with those flags
    nvcc -O3 -std=c++20 -arch=sm_90 -Isrc -Iinclude $(echo "${b#*:}" | tr ',' ' ') dev/decode_lab.cu -o /tmp/decode_lab_${b%%:*} &
  done
  nvcc -O3 -std=c++20 -arch=sm_90 -Isrc -Iinclude -DFERRIS_DECODE_PROFILE dev/decode_lab.cu -o /tmp/decode_lab_prof
  wait
  for k in $LAB; do [ -x /tmp/decode_lab_base ] && /tmp/decode_lab_base $k | sed 's/^/base: /'; done
  /tmp/decode_lab "${LAB// /,}" ${LAB_VARIANTS:-} | sed 's/^/new:  /'
  for b in ${LAB_BUILDS:-}; do /tmp/decode_lab_${b%%:*} "${LAB// /,}" ${LAB_VARIANTS:-} | sed "s/^/${b%%:*}: /"; done
  for k in $LAB; do [ -x /tmp/decode_lab_base ] && /tmp/decode_lab_base $k | sed 's/^/base: /'; done
  /tmp/decode_lab_prof ${LAB%% *} ${LAB_PROFILE:-}
fi
if [ "${TESTS:-1}" = 1 ]; then
  echo "== ctest -L cuda"
  ctest --test-dir $B -L cuda -j 4 --output-on-failure --timeout 300 > /tmp/ctest_cuda.log 2>&1
  grep -E "tests passed|Failed|\*\*\*|Timeout" /tmp/ctest_cuda.log | head -40
  grep -B5 -A25 "Failure" /tmp/ctest_cuda.log | head -120
fi
if [ "${SANITIZE:-1}" = 1 ]; then
  echo "== compute-sanitizer memcheck / racecheck (op tests)"
  CS=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  MF=${SANITIZE_FILTER:-'CudaOps.*:CudaLinear*:-CudaOps.OutOfMemoryIsAClearError'}
  RF=${SANITIZE_FILTER:-'CudaOps.Attention*:CudaOps.Pool*:CudaOps.*Norm*'}
  timeout 240 $CS --tool memcheck --error-exitcode 9 $B/tests/ferris_cuda_tests --gtest_filter="$MF" > /tmp/memcheck.log 2>&1; echo "memcheck rc=$?"; tail -4 /tmp/memcheck.log; grep -m 3 -B2 -A14 "^========= Invalid\|^========= Program hit\|^========= Uninit" /tmp/memcheck.log | head -60
  timeout 180 $CS --tool racecheck --error-exitcode 9 $B/tests/ferris_cuda_tests --gtest_filter="$RF" > /tmp/racecheck.log 2>&1; echo "racecheck rc=$?"; tail -4 /tmp/racecheck.log
fi
if [ "${BENCH_EMBED:-1}" = 1 ]; then
  echo "== embeddings: Ferris vs sentence-transformers (same call, same card)"
  for p in bert:e5-small-v2 bert:all-minilm-l6-v2 mpnet:all-mpnet-base-v2; do
    arch=${p%%:*}; preset=${p#*:}; M=/tmp/m/$preset
    $B/ferris create-model --arch $arch --preset $preset --out $M --force 2>&1 | tail -1
    python3 bench/peers/st_embed.py $M .device-in/docs1000.json --sizes 1,100,1000 2>/dev/null
    for dt in f16 bf16; do $B/bench/bench_embed $M .device-in/docs1000.json --device cuda --dtype $dt --sizes 1,100,1000 --repeat 10 | sed "s/^/$dt /"; done
  done
fi
NSYS=$(command -v nsys || ls -d /usr/local/cuda*/bin/nsys /opt/nvidia/nsight-systems*/bin/nsys /opt/nvidia/nsight-systems*/*/bin/nsys /usr/local/cuda/nsight-systems*/bin/nsys 2>/dev/null | head -1)
echo "nsys: ${NSYS:-none}"
if [ "${PROFILE:-0}" = 1 ] && [ -n "$NSYS" ]; then
  nsys() { "$NSYS" "$@"; }
  [ -f /tmp/m/e5-small-v2/config.json ] || $B/ferris create-model --arch bert --preset e5-small-v2 --out /tmp/m/e5-small-v2 2>/dev/null
  [ -f /tmp/m/q05/config.json ] || $B/ferris create-model --preset qwen2.5-0.5b --out /tmp/m/q05 2>/dev/null
  echo "== nsys: where the time of 100 e5-small-v2 docs goes"
  nsys profile -o /tmp/prof_embed --force-overwrite true --stats=false $B/bench/bench_embed /tmp/m/e5-small-v2 .device-in/docs1000.json --device cuda --dtype bf16 --sizes 100 --repeat 3 > /dev/null 2>&1
  nsys stats --report cuda_gpu_kern_sum --format csv /tmp/prof_embed.nsys-rep 2>/dev/null | cut -d, -f1-4,9 | head -14
  nsys stats --report cuda_api_sum --format csv /tmp/prof_embed.nsys-rep 2>/dev/null | cut -d, -f1-4,9 | head -10
  echo "== nsys: one greedy decode run"
  nsys profile -o /tmp/prof_dec --force-overwrite true --cuda-graph-trace=node $B/bench/bench_generate --model /tmp/m/q05 --device cuda --prefill 16 --decode 64 --repeat 1 > /dev/null 2>&1
  nsys stats --report cuda_gpu_kern_sum --format csv /tmp/prof_dec.nsys-rep 2>/dev/null | cut -d, -f1-4,9 | head -16
fi
if [ "${TRACE:-0}" = 1 ]; then
  echo "== op trace (FERRIS_CUDA_TRACE: each op synchronized)"
  [ -f /tmp/m/e5-small-v2/config.json ] || $B/ferris create-model --arch bert --preset e5-small-v2 --out /tmp/m/e5-small-v2 2>/dev/null
  [ -f /tmp/m/q05/config.json ] || $B/ferris create-model --preset qwen2.5-0.5b --out /tmp/m/q05 2>/dev/null
  FERRIS_CUDA_TRACE=1 $B/bench/bench_embed /tmp/m/e5-small-v2 .device-in/docs1000.json --device cuda --dtype bf16 --sizes 100 --repeat 3 2>&1 | tail -16
  FERRIS_CUDA_TRACE=1 $B/bench/bench_embed /tmp/m/e5-small-v2 .device-in/docs1000.json --device cuda --dtype bf16 --sizes 1000 --repeat 2 2>&1 | tail -16
  FERRIS_CUDA_TRACE=1 FERRIS_CUDA_NO_GRAPH=1 $B/bench/bench_generate --model /tmp/m/q05 --device cuda --prefill 16 --decode 32 --repeat 1 2>&1 | tail -16
  FERRIS_CUDA_NO_GRAPH=1 $B/bench/bench_generate --model /tmp/m/q05 --device cuda --prefill 16 --decode 128 --repeat 3 2>&1 | grep tg
  echo "== decode with and without programmatic dependent launch (PDL)"
  FERRIS_CUDA_NO_PDL=1 $B/bench/bench_generate --model /tmp/m/q05 --device cuda --prefill 16 --decode 128 --repeat 5 2>&1 | grep tg | sed 's/^/no PDL: /'
  $B/bench/bench_generate --model /tmp/m/q05 --device cuda --prefill 16 --decode 128 --repeat 5 2>&1 | grep tg | sed 's/^/PDL:    /'
fi
if [ "${NCU:-0}" = 1 ]; then
  echo "== ncu: kernel times (each kernel serialized) of 100 e5-small-v2 docs and of decode steps"
  [ -f /tmp/m/e5-small-v2/config.json ] || $B/ferris create-model --arch bert --preset e5-small-v2 --out /tmp/m/e5-small-v2 2>/dev/null
  [ -f /tmp/m/q05/config.json ] || $B/ferris create-model --preset qwen2.5-0.5b --out /tmp/m/q05 2>/dev/null
  timeout 240 ncu --metrics gpu__time_duration.sum --csv $B/bench/bench_embed /tmp/m/e5-small-v2 .device-in/docs1000.json --device cuda --dtype bf16 --sizes 100 --repeat 1 > /tmp/ncu_embed.csv 2>/dev/null
  python3 scripts/device/ncu_summary.py /tmp/ncu_embed.csv 16
  timeout 240 env FERRIS_CUDA_NO_GRAPH=1 ncu --metrics gpu__time_duration.sum --csv $B/bench/bench_generate --model /tmp/m/q05 --device cuda --prefill 4 --decode 8 --repeat 1 > /tmp/ncu_dec.csv 2>/dev/null
  python3 scripts/device/ncu_summary.py /tmp/ncu_dec.csv 16
fi
if [ "${NCU_DETAIL:-0}" = 1 ]; then
  echo "== ncu detail: speed of light, occupancy, warp stalls of the SwiGLU GEMV and the tensor-core attention"
  [ -f /tmp/m/e5-small-v2/config.json ] || $B/ferris create-model --arch bert --preset e5-small-v2 --out /tmp/m/e5-small-v2 2>/dev/null
  [ -f /tmp/m/q05/config.json ] || $B/ferris create-model --preset qwen2.5-0.5b --out /tmp/m/q05 2>/dev/null
  SECTIONS="--section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats"
  KEEP="Duration|Throughput|Occupancy|Registers Per|Block Limit|Waves Per SM|Warp Cycles|stalled|Stall|Busy|Achieved|Threads"
  timeout 200 env FERRIS_CUDA_NO_GRAPH=1 ncu $SECTIONS --kernel-name-base demangled -k "regex:gemv_kernel<__nv_bfloat16, 1, 2>" --launch-skip 20 --launch-count 1 $B/bench/bench_generate --model /tmp/m/q05 --device cuda --prefill 4 --decode 16 --repeat 1 2>&1 | grep -E "$KEEP" | cut -c1-220 | head -40
  echo "-- attention"
  timeout 200 ncu $SECTIONS -k regex:tc_prefill --launch-skip 6 --launch-count 1 $B/bench/bench_embed /tmp/m/e5-small-v2 .device-in/docs1000.json --device cuda --dtype bf16 --sizes 100 --repeat 1 2>&1 | grep -E "$KEEP" | cut -c1-220 | head -40
fi
if [ "${OPS:-0}" = 1 ]; then
  echo "== single ops at the encoders' shapes: Ferris (f32 activations) and torch (bf16), same card"
  for c in 384 768; do
    $B/bench/bench_ops --device cuda --rows 7490 --hidden $c --dtype bf16
    python3 bench/peers/torch_ops.py --rows 7490 --hidden $c 2>/dev/null
  done
fi
if [ "${BENCH_GEN:-1}" = 1 ]; then
  [ -f /tmp/m/q05/config.json ] || $B/ferris create-model --preset qwen2.5-0.5b --out /tmp/m/q05 2>/dev/null
  echo "== generation (Ferris, cuda)"
  $B/bench/bench_generate --model /tmp/m/q05 --device cuda --prefill 512,2048 --decode 128 --repeat 5
  $B/bench/bench_generate --model /tmp/m/q05 --device cuda --prefill 1 --decode 128 --decode-context 2048 --repeat 3
  if [ "${AB:-0}" = 1 ]; then
    echo "== the same, the layers as separate kernels (FERRIS_CUDA_NO_PERSISTENT=1)"
    FERRIS_CUDA_NO_PERSISTENT=1 $B/bench/bench_generate --model /tmp/m/q05 --device cuda --prefill 16 --decode 128 --repeat 5
    FERRIS_CUDA_NO_PERSISTENT=1 $B/bench/bench_generate --model /tmp/m/q05 --device cuda --prefill 1 --decode 128 --decode-context 2048 --repeat 3
    echo "== persistent, without the prefetch blocks (FERRIS_CUDA_PREFETCH_BLOCKS=0)"
    FERRIS_CUDA_PREFETCH_BLOCKS=0 $B/bench/bench_generate --model /tmp/m/q05 --device cuda --prefill 16 --decode 128 --repeat 5
    echo "== persistent again"
    $B/bench/bench_generate --model /tmp/m/q05 --device cuda --prefill 16 --decode 128 --repeat 5
  fi
fi
if [ "${LLAMA:-0}" = 1 ] && [ -d .peer/llama.cpp ]; then
  echo "== llama.cpp CUDA on the same card, same model (converted with its own converter)"
  [ -f /tmp/m/q05/config.json ] || $B/ferris create-model --preset qwen2.5-0.5b --out /tmp/m/q05 2>/dev/null
  timeout ${LLAMA_TIMEOUT:-420} bash .device-in/llamacpp_bench.sh .peer/llama.cpp /tmp/m/q05 2>&1 | grep -E "^\|" || echo "llama.cpp: did not finish (build or bench)"
fi
