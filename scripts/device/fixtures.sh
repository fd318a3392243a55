#!/usr/bin/env bash
# GPU machine, call 1: build Ferris there, run its CPU tests, write the parity models with
# `ferris create-model`, and compute the Hugging Face references (tests/fixtures/...) into $OUT.
set -euo pipefail
echo "== machine"; (head -2 /etc/os-release; ldd --version | head -1; nproc; g++ --version | head -1) || true
python3 -c "import transformers, peft, tokenizers, torch; print('transformers', transformers.__version__, 'peft', peft.__version__, 'tokenizers', tokenizers.__version__, 'torch', torch.__version__)"
source scripts/device/env.sh
echo "== build"
cmake -S . -B /tmp/fb -G Ninja -DFERRIS_BENCH=ON "${FERRIS_CMAKE_DEPS[@]}" > /tmp/cmake.log 2>&1 || { tail -40 /tmp/cmake.log; exit 1; }
cmake --build /tmp/fb -j 16 -- -k 0 > /tmp/build.log 2>&1 || { grep -B2 -A12 -E "error|FAILED" /tmp/build.log | head -80; exit 1; }
/tmp/fb/ferris --version
echo "== ctest (unit + backend)"
ctest --test-dir /tmp/fb -L "unit|backend_ops" -j 16 2>&1 | tail -4 || true
V5=$(python3 -c "import transformers; print(1 if int(transformers.__version__.split('.')[0]) >= 5 else 0)")
LAYOUT=4; [ "$V5" = 1 ] && LAYOUT=5
echo "== models (untied uses config layout $LAYOUT, 2 shards)"
F=/tmp/fx; rm -rf $F; mkdir -p $F/qwen2 $F/tokenizer
/tmp/fb/ferris create-model --preset tiny --seed 1 --out /tmp/m/tiny
/tmp/fb/ferris create-model --preset tiny-untied --seed 2 --shards 2 --config-layout $LAYOUT --out /tmp/m/tiny_untied
cat > $F/qwen2/models.json <<JSON
{"tiny": {"name": "tiny", "preset": "tiny", "seed": 1, "shards": 1, "config_layout": 4},
 "tiny_untied": {"name": "tiny_untied", "preset": "tiny-untied", "seed": 2, "shards": 2, "config_layout": $LAYOUT}}
JSON
sha256sum /tmp/m/tiny/model.safetensors /tmp/m/tiny_untied/*.safetensors | tee $F/qwen2/models.sha256
export PYTHONUNBUFFERED=1
python3 scripts/fixtures/qwen2_reference.py --model /tmp/m/tiny --name tiny --out-dir $F/qwen2 --adapter-rank 4 --adapter-alpha 8
python3 scripts/fixtures/qwen2_reference.py --model /tmp/m/tiny_untied --name tiny_untied --out-dir $F/qwen2 \
  --adapter-rank 8 --adapter-alpha 16 --adapter-targets q_proj,v_proj,down_proj --rslora
python3 -c "import json;c=json.load(open('/tmp/m/tiny_untied/config.json'));print('untied config keys', sorted(c))"
python3 scripts/fixtures/tokenizer_reference.py assets/qwen2.5/tokenizer.json tests/fixtures/tokenizer/hard_corpus.json .device-in/docs1000.json $F/tokenizer/qwen2_reference.json
echo "== ferris tokenizer speed, same machine"
/tmp/fb/bench_tokenizer assets/qwen2.5/tokenizer.json .device-in/docs1000.json --repeat 7 || true
cd $F && tar czf $OUT/fixtures.tgz . && ls -la $OUT
