#!/usr/bin/env bash
# GPU machine, one call: Nsight Compute sections of single GEMM launches in the encoder (1,000
# all-mpnet-base-v2 docs, f16), the tree's and the base's (.lab-base, carried): the first
# up-projection (gemm_sm90a + GELU), and cuBLASLt's up and q/k/v with FERRIS_CUDA_NO_SM90A_GEMM=1.
# Prints the throughput, pipe and stall lines; the whole reports go to $OUT. Carry .deps,
# .device-in, .lab-base. SOURCE=1 instead: the tree only, its up-projection under the full set
# with per-instruction warp-stall samples (the SASS page as CSV in $OUT). BASE=0: no base build
# (no .lab-base); the tree's up-projection and cuBLASLt's up, q/k/v and down, all from the tree.
set -uo pipefail
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
source scripts/device/env.sh
D=.device-in/docs1000.json
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
[ "${SOURCE:-0}" = 1 ] || [ "${BASE:-1}" = 0 ] || (cd .lab-base && cmake -S . -B /tmp/fbase -G Ninja -DFERRIS_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DFERRIS_TESTS=OFF "${FERRIS_CMAKE_DEPS[@]}" > /tmp/cmake_base.log 2>&1 && cmake --build /tmp/fbase -j 6 --target bench_embed ferris_cli > /tmp/build_base.log 2>&1; echo "base build rc=$?") &
cmake -S . -B /tmp/fcuda -G Ninja -DFERRIS_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DFERRIS_TESTS=OFF "${FERRIS_CMAKE_DEPS[@]}" > /tmp/cmake.log 2>&1 || { tail -30 /tmp/cmake.log; exit 1; }
cmake --build /tmp/fcuda -j 10 --target bench_embed ferris_cli > /tmp/build.log 2>&1 || { grep -B2 -A12 -E "error|FAILED" /tmp/build.log | head -60; exit 1; }
wait
M=/tmp/m/all-mpnet-base-v2
/tmp/fcuda/ferris create-model --arch mpnet --preset all-mpnet-base-v2 --out $M --force > /dev/null 2>&1
SECTIONS="--section SpeedOfLight --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats --section Occupancy"
METRICS="--metrics sm__pipe_tensor_op_gmma_cycles_active.avg.pct_of_peak_sustained_active,l1tex__data_bank_reads.avg.pct_of_peak_sustained_elapsed,l1tex__data_bank_writes.avg.pct_of_peak_sustained_elapsed,smsp__cycles_active.avg.pct_of_peak_sustained_elapsed,sm__cycles_elapsed.avg.per_second,lts__t_bytes.sum.per_second,lts__t_sectors_srcunit_tex_op_read.sum"
profile() {  # name, build, kernel regex, launches to skip, env
  env ${5:-FERRIS_X=1} timeout 240 ncu $SECTIONS $METRICS -k regex:"$3" --launch-skip $4 --launch-count 1 \
    -o "$OUT/$1" -f /tmp/$2/bench/bench_embed $M $D --device cuda --dtype f16 --sizes 1000 --repeat 1 > /tmp/ncu_$1.log 2>&1
  echo "==== $1"
  ncu -i "$OUT/$1.ncu-rep" --page details 2>/dev/null | grep -E "gemm|nvjet|Duration|SM Frequency|Compute \(SM\) Throughput|Memory Throughput|L2 Cache Throughput|L2 Hit Rate|lts__|L1/TEX Cache Throughput|DRAM Throughput|Executed Ipc Active|Issue Slots Busy|No Eligible|Active Warps Per Scheduler|Eligible Warps|gmma|bank_reads|bank_writes|Shared Memory|Warp Cycles Per Issued|Stall|pipe" | head -40
}
if [ "${SOURCE:-0}" = 1 ]; then
  timeout 300 ncu --set full --import-source yes -k regex:gemm_sm90a --launch-skip 0 --launch-count 1 \
    -o "$OUT/up_source" -f /tmp/fcuda/bench/bench_embed $M $D --device cuda --dtype f16 --sizes 1000 --repeat 1 > /tmp/ncu_source.log 2>&1
  tail -3 /tmp/ncu_source.log
  ncu -i "$OUT/up_source.ncu-rep" --page source --csv --print-source sass > "$OUT/up_source_sass.csv" 2>&1
  ls -la "$OUT"; head -3 "$OUT/up_source_sass.csv" | cut -c1-400
  exit 0
fi
if [ "${BASE:-1}" = 0 ]; then
  profile up_tree fcuda gemm_sm90a 0
  profile up_cublas fcuda nvjet 2 FERRIS_CUDA_NO_SM90A_GEMM=1
  profile qkv_cublas fcuda nvjet 0
  profile down_cublas fcuda nvjet 2
  echo "done $(date +%T)"
  exit 0
fi
profile up_tree fcuda gemm_sm90a 0
profile up_base fbase gemm_sm90a 0
profile up_cublas fbase nvjet 2 FERRIS_CUDA_NO_SM90A_GEMM=1
profile qkv_cublas fbase nvjet 0
echo "done $(date +%T)"
