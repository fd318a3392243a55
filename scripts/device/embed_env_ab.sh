#!/usr/bin/env bash
# GPU machine, one call: the tree's bench_embed under environment variants, alternated in rounds
# (no base build). ENV_VARIANTS (space-separated; "-" is no setting), SHAPES (default the three),
# SIZES (default 100,1000), ROUNDS (default 3). Carry .deps, .device-in (docs1000.json).
# Example: ENV_VARIANTS="FERRIS_EMBED_LEAD=256 - FERRIS_EMBED_LEAD=32" scripts/device/embed_env_ab.sh
set -uo pipefail
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
source scripts/device/env.sh
set +e
D=.device-in/docs1000.json
cmake -S . -B /tmp/fcuda -G Ninja -DFERRIS_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DFERRIS_TESTS=OFF \
  "${FERRIS_CMAKE_DEPS[@]}" > /tmp/cmake.log 2>&1 || { tail -30 /tmp/cmake.log; exit 1; }
cmake --build /tmp/fcuda -j 14 --target bench_embed ferris_cli > /tmp/build.log 2>&1 ||
  { grep -B2 -A12 -E "error|FAILED" /tmp/build.log | head -60; exit 1; }
SHAPES=${SHAPES:-"bert:e5-small-v2 bert:all-minilm-l6-v2 mpnet:all-mpnet-base-v2"}
for p in $SHAPES; do
  /tmp/fcuda/ferris create-model --arch ${p%%:*} --preset ${p#*:} --out /tmp/m/${p#*:} --force > /dev/null 2>&1
done
for round in $(seq 1 "${ROUNDS:-3}"); do
  for e in ${ENV_VARIANTS:--}; do
    for p in $SHAPES; do
      m=${p#*:}
      env ${e/#-/} timeout 120 /tmp/fcuda/bench/bench_embed /tmp/m/$m $D --device cuda --dtype f16 \
        --sizes "${SIZES:-100,1000}" --repeat 20 | sed "s|^/tmp/m/||; s/^/r$round $e /"
    done
  done
done
echo "done $(date +%T)"
