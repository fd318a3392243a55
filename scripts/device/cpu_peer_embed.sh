#!/usr/bin/env bash
# GPU machine's host, one call: CPU embeddings side by side with sentence-transformers on the
# CPU (PyTorch), the same model folders and texts, text in -> unit vectors out: f32 against f32
# and bf16 against bf16 (PyTorch's bf16 products go through oneDNN, AMX where the CPU has it),
# one query and 100 docs, Ferris and the peer alternated per shape. THREADS (default "16 2"):
# the thread counts; SHAPES2 the shapes also run at 2 threads (default e5 and MiniLM: MPNet f32
# at 2 threads takes ~30 s an encode). Carry .deps, .device-in.
set -uo pipefail
lscpu | grep -E "Model name|^CPU\(s\)|Thread\(s\) per core"
echo "amx flags: $(grep -o -w -E 'amx_[a-z0-9]+' /proc/cpuinfo | sort -u | tr '\n' ' ')"
python3 -c "import torch, sentence_transformers as s; print('torch', torch.__version__, 'sentence-transformers', s.__version__, 'threads', torch.get_num_threads())"
source scripts/device/env.sh
set +e
D=.device-in/docs1000.json
cmake -S . -B /tmp/fcpu -G Ninja -DFERRIS_CUDA=OFF -DFERRIS_BENCH=ON -DFERRIS_TESTS=OFF \
  "${FERRIS_CMAKE_DEPS[@]}" > /tmp/cmake.log 2>&1 || { tail -30 /tmp/cmake.log; exit 1; }
cmake --build /tmp/fcpu -j 14 --target bench_embed ferris_cli > /tmp/build.log 2>&1 ||
  { grep -B2 -A12 -E "error|FAILED" /tmp/build.log | head -60; exit 1; }
echo "built at $SECONDS s"
ALL="bert:e5-small-v2 bert:all-minilm-l6-v2 mpnet:all-mpnet-base-v2"
for p in $ALL; do
  /tmp/fcpu/ferris create-model --arch ${p%%:*} --preset ${p#*:} --out /tmp/m/${p#*:} --force > /dev/null 2>&1
done
for t in ${THREADS:-16 2}; do
  shapes=$ALL
  [ "$t" -le 4 ] && shapes=${SHAPES2:-"bert:e5-small-v2 bert:all-minilm-l6-v2"}
  for p in $shapes; do
    m=${p#*:}
    for dt in f32 bf16; do
      echo "== $m $dt, $t threads, at $SECONDS s"
      timeout 300 python3 bench/peers/st_embed.py /tmp/m/$m $D --device cpu --dtype $dt \
        --threads $t --sizes 1,100 --repeat 3 2>/dev/null | sed "s/^/st /"
      timeout 300 /tmp/fcpu/bench/bench_embed /tmp/m/$m $D --device cpu --dtype $dt --threads $t \
        --sizes 1,100 --repeat 3 | sed "s|^/tmp/m/|ferris |"
    done
  done
done
echo "done at $SECONDS s"
