#!/usr/bin/env bash
# GPU machine, one call: the GPU's clocks, power and throttle reasons through 1,000-doc
# all-mpnet-base-v2 encodes (bench_embed, 60 repeats), sampled every 20 ms, to tell whether the
# encode's kernels run slower than alone (ncu) because the card holds back its clocks.
# Carry .deps and .device-in (docs1000.json).
set -uo pipefail
nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv,noheader
source scripts/device/env.sh; set +e
D=.device-in/docs1000.json
cmake -S . -B /tmp/fcuda -G Ninja -DFERRIS_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DFERRIS_TESTS=OFF "${FERRIS_CMAKE_DEPS[@]}" > /tmp/cmake.log 2>&1
cmake --build /tmp/fcuda -j 14 --target bench_embed ferris_cli > /tmp/build.log 2>&1 || { grep -B2 -A12 -E "error|FAILED" /tmp/build.log | head -40; exit 1; }
M=/tmp/m/all-mpnet-base-v2
/tmp/fcuda/ferris create-model --arch mpnet --preset all-mpnet-base-v2 --out $M --force > /dev/null 2>&1
Q=timestamp,clocks.sm,clocks.mem,power.draw,utilization.gpu,temperature.gpu,clocks_event_reasons.active
nvidia-smi --query-gpu=$Q --format=csv,noheader,nounits -lms 20 > /tmp/clocks.csv 2>&1 &
SMI=$!
sleep 1
for size in 1000 100; do
  echo "-- start $size $(date +%T.%N | cut -c1-12)"
  timeout 120 /tmp/fcuda/bench/bench_embed $M $D --device cuda --dtype f16 --sizes $size --repeat 60
  echo "-- end $size $(date +%T.%N | cut -c1-12)"
  sleep 1
done
kill $SMI
python3 - <<'PY'
import csv, statistics
rows = [r for r in csv.reader(open('/tmp/clocks.csv')) if len(r) >= 7]
busy = [r for r in rows if r[4].strip().isdigit() and int(r[4]) >= 50]
print(f"samples {len(rows)}, busy (>= 50% util) {len(busy)}")
if busy:
    sm = [float(r[1]) for r in busy]; pw = [float(r[3]) for r in busy]
    print(f"busy SM clock MHz: median {statistics.median(sm):.0f} min {min(sm):.0f} max {max(sm):.0f}")
    print(f"busy power W: median {statistics.median(pw):.0f} max {max(pw):.0f}")
    reasons = {}
    for r in busy: reasons[r[6].strip()] = reasons.get(r[6].strip(), 0) + 1
    print("throttle reasons while busy:", reasons)
PY
echo done
