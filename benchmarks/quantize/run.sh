#!/bin/sh
# Times `slm merge` quantizing SmolLM2-135M from an F32 GGUF to Q8_0, Q4_0 and Q4_K_M (no adapter, no
# verification: what llama-quantize does), alternating the types, 3 rounds, 2 threads.
# The F32 GGUF is made first from models/smollm2-hf (the shipped Q4_1 weights dequantized, as the F32
# file behind llama-quantize's figures in ../shared/bench was).
#   benchmarks/quantize/run.sh            (after swift build -c release --product slm)
set -e
cd "$(dirname "$0")/../.."
out=${TMPDIR:-/tmp}/slm-quantize-bench
mkdir -p "$out"
slm=.build/release/slm
[ -f "$out/f32.gguf" ] || $slm merge --base models/smollm2-hf --out "$out/f32.gguf" --quant f32 --no-verify > /dev/null 2>&1
for round in 1 2 3; do
  for q in q8_0 q4_0 q4_k_m; do
    start=$(date +%s.%N)
    line=$($slm merge --base "$out/f32.gguf" --out "$out/$q.gguf" --quant $q --no-verify --threads 2 2> /dev/null | head -1)
    end=$(date +%s.%N)
    echo "round $round  $q  total $(echo "$end - $start" | bc | cut -c1-5) s   ($line)"
  done
done
rm -rf "$out"
