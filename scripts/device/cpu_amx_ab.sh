#!/usr/bin/env bash
# GPU machine's host, one call: the tree's CPU products and prefill against .lab-base's build and
# under environment variants of the tree (ENV_VARIANTS, default "FERRIS_CPU_NO_AMX=1"): the
# bf16 product tests under each variant, bench_ops' bf16 products (512 x 896 at 16 and 2
# threads, 7,490 x 768 at 16), pp512 at 16 and 2 threads (two rounds, alternated), the tree's
# op trace, and all-mpnet-base-v2 bf16 100 docs base against tree. Carry .deps, .device-in,
# .lab-base (`git archive BASE | tar -x -C .lab-base`).
set -uo pipefail
lscpu | grep -E "Model name|^CPU\(s\)"
source scripts/device/env.sh
set +e
D=.device-in/docs1000.json
VARIANTS=("" ${ENV_VARIANTS:-FERRIS_CPU_NO_AMX=1})
build() {  # source dir, build dir, targets...
  local src=$1 dir=$2; shift 2
  (cd $src && cmake -S . -B $dir -G Ninja -DFERRIS_CUDA=OFF -DFERRIS_BENCH=ON -DFERRIS_TESTS=ON \
     "${FERRIS_CMAKE_DEPS[@]}" > $dir.cmake.log 2>&1 && cmake --build $dir -j 8 --target "$@" > $dir.log 2>&1) \
    || { echo "build of $src failed"; grep -B2 -A12 -E "error|FAILED" $dir.log | head -40; }
}
build . /tmp/ft ferris_cli ferris_backend_tests bench_generate bench_embed bench_ops &
P1=$!
build .lab-base /tmp/fb ferris_cli bench_generate bench_embed &
P2=$!
wait $P1 $P2
echo "built at $SECONDS s"
for e in "${VARIANTS[@]}"; do
  echo "== tests ${e:-tree}: $(env $e timeout 120 /tmp/ft/tests/ferris_backend_tests --gtest_filter='CpuGemmAmx*:Cpu/LinearTest*' 2>&1 | grep -E "PASSED|FAILED" | tr '\n' ' ')"
done
/tmp/ft/ferris create-model --preset qwen2.5-0.5b --seed 1 --out /tmp/q05 > /dev/null 2>&1
/tmp/ft/ferris create-model --arch mpnet --preset all-mpnet-base-v2 --out /tmp/mpnet > /dev/null 2>&1
for t in 16 2; do
  for e in "${VARIANTS[@]}"; do
    echo "== bench_ops t$t ${e:-tree}"
    env $e timeout 60 /tmp/ft/bench/bench_ops --device cpu --threads $t --rows 512 --hidden 896 --dtype bf16 --repeat 5 | grep linear
    [ $t = 16 ] && env $e timeout 60 /tmp/ft/bench/bench_ops --device cpu --threads $t --rows 7490 --hidden 768 --dtype bf16 --repeat 3 | grep linear
  done
done
G="bench/bench_generate --model /tmp/q05 --prefill 512 --decode 0 --repeat 5 --kv-dtype f16"
for round in 1 2; do
  for t in 16 2; do
    echo "r$round t$t base: $(timeout 60 /tmp/fb/$G --threads $t | grep -E '^pp')"
    for e in "${VARIANTS[@]}"; do
      echo "r$round t$t ${e:-tree}: $(env $e timeout 60 /tmp/ft/$G --threads $t | grep -E '^pp')"
    done
  done
done
echo "== op trace, tree, 16 threads"
FERRIS_CPU_TRACE=1 timeout 60 /tmp/ft/$G --threads 16 2>&1 | head -6
for round in 1 2; do
  for b in fb ft; do
    echo "r$round mpnet bf16 100 docs t16 $b: $(timeout 60 /tmp/$b/bench/bench_embed /tmp/mpnet $D --device cpu --dtype bf16 --threads 16 --sizes 100 --repeat 3 | grep -o 'median.*')"
  done
done
echo "done at $SECONDS s"
