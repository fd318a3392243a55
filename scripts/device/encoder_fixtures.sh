#!/usr/bin/env bash
# GPU machine: build Ferris, write the encoder parity models with `ferris create-model`, compute
# sentence-transformers' embeddings (scripts/fixtures/encoder_reference.py) into
# $OUT/encoder_reference.json, and check Ferris's CPU embeddings against them right there.
set -euo pipefail
python3 -c "import sentence_transformers, transformers, torch; print('sentence-transformers', sentence_transformers.__version__, 'transformers', transformers.__version__, 'torch', torch.__version__)"
source scripts/device/env.sh
echo "== build"
cmake -S . -B /tmp/fb -G Ninja -DFERRIS_CUDA=OFF "${FERRIS_CMAKE_DEPS[@]}" > /tmp/cmake.log 2>&1 || { tail -40 /tmp/cmake.log; exit 1; }
cmake --build /tmp/fb -j 16 -- -k 0 > /tmp/build.log 2>&1 || { grep -B2 -A12 -E "error|FAILED" /tmp/build.log | head -80; exit 1; }
export PYTHONUNBUFFERED=1
python3 scripts/fixtures/encoder_reference.py --ferris /tmp/fb/ferris \
  --models tests/fixtures/encoder/models.json --hard-corpus tests/fixtures/wordpiece/hard_corpus.json \
  --docs .device-in/docs1000.json --out $OUT/encoder_reference.json
cp $OUT/encoder_reference.json tests/fixtures/encoder/encoder_reference.json
echo "== ferris parity against it (CPU)"
ctest --test-dir /tmp/fb -R "Encoder" --output-on-failure 2>&1 | tail -30 || true
