#!/usr/bin/env bash
# GPU machine's host (CPU backend only), one call: this tree against .lab-base's build, both
# CPU-only. 1) The CPU tests of the tree on this many-core host. 2) Qwen2.5-0.5B shape (bf16)
# pp512 / tg64 at 16 and 2 threads, the builds alternated twice. 3) Busy-looping processes
# (HOGS, default "0 1 4") beside one MiniLM CPU query / 32 texts and a short decode at 16 threads:
# whether a loop waits for a thread the OS has not scheduled. Carry .deps, .device-in, .lab-base.
# QUICK=1: no tests, one thread count (16), one round, one busy process.
set -uo pipefail
mkdir -p $OUT
exec > >(tee $OUT/log.txt) 2>&1
lscpu | grep -E "Model name|^CPU\(s\)|Thread\(s\) per core|Core\(s\) per socket"; uname -r
source scripts/device/env.sh; set +e
D=.device-in/docs1000.json
build() {  # source dir, build dir, tests ON/OFF, targets...
  local src=$1 dir=$2 tests=$3; shift 3
  (cd $src && cmake -S . -B $dir -G Ninja -DFERRIS_CUDA=OFF -DFERRIS_BENCH=ON -DFERRIS_TESTS=$tests \
     "${FERRIS_CMAKE_DEPS[@]}" > $dir.cmake.log 2>&1 && cmake --build $dir -j 8 --target "$@" > $dir.log 2>&1) \
    || { echo "build of $src failed"; grep -B2 -A12 -E "error|FAILED" $dir.log | head -40; }
}
TESTS=(ferris_unit_tests ferris_backend_tests ferris_parity_tests ferris_cli_tests)
[ "${QUICK:-0}" = 1 ] && TESTS=()
build . /tmp/ft $([ ${#TESTS[@]} = 0 ] && echo OFF || echo ON) ferris_cli bench_generate bench_embed "${TESTS[@]}" &
P1=$!
build .lab-base /tmp/fb OFF ferris_cli bench_generate bench_embed &
P2=$!
wait $P1 $P2  # (a bare wait would wait for the tee above too)
echo "built at $SECONDS s"
if [ ${#TESTS[@]} -gt 0 ]; then
  echo "== ctest (tree, $(nproc) threads)"
  (cd /tmp/ft && timeout 240 ctest -j 8 -LE cuda 2>&1 | grep -E "tests passed|FAILED|Failed|\*\*\*")
fi
ROUNDS="1 2"; THREADS="16 2"; HOGS=${HOGS:-0 1 4}
[ "${QUICK:-0}" = 1 ] && { ROUNDS=1; THREADS=16; HOGS=1; }
/tmp/ft/ferris create-model --arch qwen2 --preset qwen2.5-0.5b --seed 1 --out /tmp/q05 > /dev/null 2>&1
/tmp/ft/ferris create-model --arch bert --preset all-minilm-l6-v2 --out /tmp/minilm > /dev/null 2>&1
for round in $ROUNDS; do
  for b in /tmp/fb /tmp/ft; do
    for t in $THREADS; do
      d=64; [ $t = 2 ] && d=32
      echo "== round $round $b threads $t: $(timeout 90 $b/bench/bench_generate --model /tmp/q05 --threads $t --prefill 512 --decode $d --repeat 3 --kv-dtype f16 | grep -E "^(pp|tg)" | awk '{printf "%s %s tok/s  ", $1, $2}')"
    done
  done
done
for k in $HOGS; do
  pids=""
  for h in $(seq 1 "$k"); do timeout 200 sh -c 'while :; do :; done' & pids="$pids $!"; done
  sleep 0.5
  for b in /tmp/fb /tmp/ft; do
    echo "== hogs $k $b"
    timeout 60 $b/bench/bench_embed /tmp/minilm $D --device cpu --sizes 1,32 --repeat 10 --threads 16 | grep -o "n=.*"
    timeout 90 $b/bench/bench_generate --model /tmp/q05 --threads 16 --prefill 32 --decode 16 --repeat 1 --kv-dtype f16 | grep -E "^(pp|tg)"
  done
  [ -n "$pids" ] && { kill $pids 2>/dev/null; wait $pids 2>/dev/null; }
done
echo done
