#!/usr/bin/env bash
# GPU machine, one call: the one-query outlier hunt. sentence-transformers right before Ferris (as
# in embed_ab.sh), three times for MiniLM and e5, with the GPU's clocks, power and utilization
# sampled every 20 ms ($OUT/clocks.csv) and the host's load around each run ($OUT/log.txt).
# CHAIN=n instead: n Ferris processes back to back and no peer (MiniLM, one query x 30 each,
# every query's time with --each), cycling through CHAIN_ENVS (settings, "-" for none): whether
# the slow sets follow another process' exit, the OpenMP team, or lazy module loading.
# HEAVY=n instead: n rounds of a heavy process (1,000 MPNet docs x 60, a few seconds of a
# power-capped GPU) and right after it a one-query process (MiniLM x 30, --each), with the clock
# event reasons and temperature sampled too: whether the slow sets follow heavy work.
# HOGS="0 1 2 4" instead: for each count, that many busy-looping processes on the host while
# MiniLM's 1-, 32- and 100-text sets run, with a tokenizing thread a core and with the calling
# thread alone (--threads 1): whether a worker thread the OS schedules late holds a small encode up
# (and the same for .lab-base's build where it is carried; CPU=1 adds the CPU backend's sets).
# Carry .deps and .device-in (docs1000.json).
set -uo pipefail
mkdir -p $OUT
exec > $OUT/log.txt 2>&1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; nproc
source scripts/device/env.sh; set +e
D=.device-in/docs1000.json
cmake -S . -B /tmp/fcuda -G Ninja -DFERRIS_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DFERRIS_TESTS=OFF "${FERRIS_CMAKE_DEPS[@]}" > /tmp/cmake.log 2>&1
cmake --build /tmp/fcuda -j 14 --target bench_embed ferris_cli > /tmp/build.log 2>&1 || { grep -B2 -A12 -E "error|FAILED" /tmp/build.log | head -40; exit 1; }
for p in bert:e5-small-v2 bert:all-minilm-l6-v2 mpnet:all-mpnet-base-v2; do /tmp/fcuda/ferris create-model --arch ${p%%:*} --preset ${p#*:} --out /tmp/m/${p#*:} --force > /dev/null 2>&1; done
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,utilization.gpu,pstate,clocks_event_reasons.active,temperature.gpu --format=csv,noheader -lms 20 > $OUT/clocks.csv 2>&1 &
SMI=$!
if [ -n "${HOGS:-}" ]; then
  B=""  # the base build too where .lab-base is carried
  if [ -d .lab-base ]; then
    (cd .lab-base && cmake -S . -B /tmp/fbase -G Ninja -DFERRIS_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DFERRIS_TESTS=OFF "${FERRIS_CMAKE_DEPS[@]}" > /tmp/cmake_base.log 2>&1 && cmake --build /tmp/fbase -j 14 --target bench_embed > /tmp/build_base.log 2>&1) && B=/tmp/fbase
  fi
  for k in $HOGS; do
    pids=""
    for h in $(seq 1 "$k"); do timeout 120 sh -c 'while :; do :; done' & pids="$pids $!"; done
    sleep 0.5
    for b in /tmp/fcuda $B; do
      for t in 0 1; do  # 0: a thread a core (bench_embed's default), 1: the calling thread alone
        echo "== hogs $k $b threads $t $(date +%T.%N | cut -c1-12)"
        timeout 60 $b/bench/bench_embed /tmp/m/all-minilm-l6-v2 $D --device cuda --dtype f16 --sizes 1,32,100 --repeat 30 --threads $t
        # CPU=1: the same on the CPU backend (OpenMP teams before d65045a, parallel_for after)
        [ "${CPU:-0}" = 1 ] && timeout 60 $b/bench/bench_embed /tmp/m/all-minilm-l6-v2 $D --device cpu --sizes 1,32 --repeat 10 --threads $t | sed "s/^/cpu /"
      done
    done
    if [ -n "$pids" ]; then kill $pids 2>/dev/null; wait $pids 2>/dev/null; fi  # (a bare wait: nvidia-smi too)
  done
  kill $SMI
  echo done
  exit 0
fi
if [ "${HEAVY:-0}" -gt 0 ]; then
  for i in $(seq 1 "$HEAVY"); do
    echo "== $i heavy start $(date +%T.%N | cut -c1-12)"
    timeout 60 /tmp/fcuda/bench/bench_embed /tmp/m/all-mpnet-base-v2 $D --device cuda --dtype f16 --sizes 1000 --repeat 60
    echo "== $i query start $(date +%T.%N | cut -c1-12)"
    timeout 60 /tmp/fcuda/bench/bench_embed /tmp/m/all-minilm-l6-v2 $D --device cuda --dtype f16 --sizes 1 --repeat 30 --each
    echo "== $i query end $(date +%T.%N | cut -c1-12)"
  done
  kill $SMI
  echo done
  exit 0
fi
if [ "${CHAIN:-0}" -gt 0 ]; then
  read -r -a envs <<< "${CHAIN_ENVS:-- OMP_NUM_THREADS=1 CUDA_MODULE_LOADING=EAGER}"
  for i in $(seq 1 "$CHAIN"); do
    e=${envs[$(( (i - 1) % ${#envs[@]} ))]}
    echo "== $i env $e start $(date +%T.%N | cut -c1-12)"
    [ "$e" = - ] && e=FERRIS_NOTHING=1
    env $e timeout 60 /tmp/fcuda/bench/bench_embed /tmp/m/all-minilm-l6-v2 $D --device cuda --dtype f16 --sizes 1 --repeat 30 --each
  done
  kill $SMI
  echo done
  exit 0
fi
for i in 1 2 3; do
  for m in all-minilm-l6-v2 e5-small-v2; do
    echo "== $i $m st $(date +%T.%N | cut -c1-12) load $(cut -d' ' -f1-3 /proc/loadavg)"
    timeout 100 python3 bench/peers/st_embed.py /tmp/m/$m $D --sizes 1,100 2>/dev/null | cut -c1-150
    echo "-- ferris $(date +%T.%N | cut -c1-12) load $(cut -d' ' -f1-3 /proc/loadavg)"
    timeout 60 /tmp/fcuda/bench/bench_embed /tmp/m/$m $D --device cuda --dtype f16 --sizes 1,1,100 --repeat 20
    echo "-- ferris end $(date +%T.%N | cut -c1-12); top: $(top -bn1 | sed -n 8,10p | awk '{print $9, $12}' | tr '\n' ' ')"
  done
done
kill $SMI
echo done
