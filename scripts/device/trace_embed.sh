#!/usr/bin/env bash
# GPU machine, one call: where an encode's wall time goes beyond its kernels. Builds bench_embed
# and the CUPTI tracer (dev/cupti_trace.cpp), traces 1,000 docs of each shape (median of 10 after
# a warm-up) and summarizes the GPU's idle gaps (dev/trace_gaps.py). LAB=1 first runs
# dev/gemm_gelu_lab.cu's quick pass (the fused FFN GELU variants), ELEMENTWISE=1
# dev/elementwise_lab.cu (the GELU pass against the memory ceiling); TESTS=1 builds everything and
# runs ctest -L cuda; PDL_AB=1 times 1,000 docs with and without programmatic dependent launch
# (FERRIS_CUDA_NO_PDL=1) before the traces. Carry .deps, .device-in.
set -uo pipefail
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
source scripts/device/env.sh
set +e
D=.device-in/docs1000.json
if [ "${LAB:-0}" = 1 ]; then
  nvcc -O3 -std=c++20 -gencode arch=compute_90a,code=sm_90a dev/gemm_gelu_lab.cu -lcublasLt \
    -o /tmp/gemm_gelu_lab && timeout 300 /tmp/gemm_gelu_lab quick
fi
if [ "${ELEMENTWISE:-0}" = 1 ]; then
  nvcc -O3 -std=c++20 -arch=sm_90 dev/elementwise_lab.cu -o /tmp/elementwise_lab && timeout 120 /tmp/elementwise_lab
fi
CUDA_HOME=$(dirname "$(dirname "$(command -v nvcc)")")
CUPTI_LIB=$(dirname "$(find "$CUDA_HOME"/ /usr/local/cuda*/ -name 'libcupti.so*' 2>/dev/null | head -1)")
CUPTI_INC=$(dirname "$(find "$CUDA_HOME"/ /usr/local/cuda*/ -name cupti.h 2>/dev/null | head -1)")
g++ -std=c++20 -O2 -fPIC -shared -I"$CUPTI_INC" -I"$CUDA_HOME/include" dev/cupti_trace.cpp \
  -o /tmp/libcupti_trace.so -L"$CUPTI_LIB" -lcupti -Wl,-rpath,"$CUPTI_LIB" || exit 1
TARGETS="--target bench_embed ferris_cli"
[ "${TESTS:-0}" = 1 ] && TARGETS=""
cmake -S . -B /tmp/fcuda -G Ninja -DFERRIS_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  "${FERRIS_CMAKE_DEPS[@]}" > /tmp/cmake.log 2>&1 || { tail -30 /tmp/cmake.log; exit 1; }
cmake --build /tmp/fcuda -j 14 $TARGETS > /tmp/build.log 2>&1 ||
  { grep -B2 -A12 -E "error|FAILED" /tmp/build.log | head -60; exit 1; }
if [ "${TESTS:-0}" = 1 ]; then
  echo "== ctest -L cuda $(date +%T)"
  ctest --test-dir /tmp/fcuda -L cuda -j 4 --output-on-failure --timeout 300 > /tmp/ctest_cuda.log 2>&1
  grep -E "tests passed|Failed|\*\*\*|Timeout" /tmp/ctest_cuda.log | head -20
  grep -B5 -A25 "Failure" /tmp/ctest_cuda.log | head -60
fi
for p in bert:e5-small-v2 mpnet:all-mpnet-base-v2; do
  /tmp/fcuda/ferris create-model --arch ${p%%:*} --preset ${p#*:} --out /tmp/m/${p#*:} --force > /dev/null 2>&1
done
if [ "${PDL_AB:-0}" = 1 ]; then
  for round in 1 2; do
    for m in all-mpnet-base-v2 e5-small-v2; do
      timeout 120 /tmp/fcuda/bench/bench_embed /tmp/m/$m $D --device cuda --dtype f16 --sizes 1,1000 --repeat 20 | sed "s/^/pdl r$round /"
      FERRIS_CUDA_NO_PDL=1 timeout 120 /tmp/fcuda/bench/bench_embed /tmp/m/$m $D --device cuda --dtype f16 --sizes 1,1000 --repeat 20 | sed "s/^/no-pdl r$round /"
    done
  done
fi
for m in all-mpnet-base-v2 e5-small-v2; do
  echo "== $m, untraced then traced"
  timeout 120 /tmp/fcuda/bench/bench_embed /tmp/m/$m $D --device cuda --dtype f16 --sizes 1000 --repeat 10
  CUDA_INJECTION64_PATH=/tmp/libcupti_trace.so FERRIS_TRACE_OUT=/tmp/trace_$m.csv \
    timeout 120 /tmp/fcuda/bench/bench_embed /tmp/m/$m $D --device cuda --dtype f16 --sizes 1000 --repeat 10
  python3 dev/trace_gaps.py /tmp/trace_$m.csv --top 12
  mkdir -p "${OUT:-/tmp/out}" && gzip -c /tmp/trace_$m.csv > "${OUT:-/tmp/out}/trace_$m.csv.gz"
done
if [ "${NCU_ATTN:-0}" = 1 ]; then
  echo "== ncu detail of one packed attention call (mpnet, 1000 docs) $(date +%T)"
  timeout 240 ncu --clock-control none -k regex:packed_attention --launch-skip 60 -c 1 \
    --section SpeedOfLight --section Occupancy --section WarpStateStats --section LaunchStats \
    --section MemoryWorkloadAnalysis --section SchedulerStats \
    /tmp/fcuda/bench/bench_embed /tmp/m/all-mpnet-base-v2 $D --device cuda --dtype f16 --sizes 1000 --repeat 1 2>/dev/null |
    grep -vE "^\s*$|----|^==PROF==" | sed -n '/packed_attention/,$p' | head -120
fi
