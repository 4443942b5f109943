#!/bin/sh
# Times `slm merge` quantizing SmolLM2-135M from an F32 GGUF to Q8_0, Q4_0 and Q4_K_M (no adapter, no
# verification: what llama-quantize does), alternating the types, 3 rounds, 2 threads, then prints
# each type's median beside llama-quantize's figures and the ratio.
# The F32 GGUF is made first from models/smollm2-hf (the shipped Q4_1 weights dequantized, as the F32
# file behind llama-quantize's figures was).
# llama-quantize is not built here: its figures (F32 → Q8_0 0.74–1.07 s, → Q4_0 0.61–0.69 s, by its own
# timer, 2 threads) come from the reference bench files of this kind of machine, not from this run;
# the machines are noisy (±20%), so read the ratios as rough.
#   benchmarks/quantize/run.sh            (after swift build -c release --product slm)
set -e
cd "$(dirname "$0")/../.."
out=${TMPDIR:-/tmp}/slm-quantize-bench
mkdir -p "$out"
slm=.build/release/slm
[ -f "$out/f32.gguf" ] || $slm merge --base models/smollm2-hf --out "$out/f32.gguf" --quant f32 --no-verify > /dev/null 2>&1
: > "$out/times"
for round in 1 2 3; do
  for q in q8_0 q4_0 q4_k_m; do
    start=$(date +%s.%N)
    line=$($slm merge --base "$out/f32.gguf" --out "$out/$q.gguf" --quant $q --no-verify --threads 2 2> /dev/null | head -1)
    end=$(date +%s.%N)
    total=$(echo "$end - $start" | bc)
    # slm's own timer: the writing of the file (quantizing included), after loading the F32 model
    own=$(echo "$line" | sed -n 's/.* in \([0-9.]*\) s$/\1/p')
    echo "round $round  $q  total $(echo "$total" | cut -c1-5) s   ($line)"
    echo "$q $total $own" >> "$out/times"
  done
done
echo
echo "type     slm whole process   slm write (own timer)   llama-quantize (bench file)   ratio whole process"
for q in q8_0 q4_0 q4_k_m; do
  case $q in q8_0) low=0.74 high=1.07 ;; q4_0) low=0.61 high=0.69 ;; *) low= high= ;; esac
  grep "^$q " "$out/times" | sort -k2 -n | awk -v q=$q -v low="$low" -v high="$high" '
    { total[NR] = $2; own[NR] = $3 }
    END {
      m = int((NR + 1) / 2)
      reference = low == "" ? "no figure" : sprintf("%s–%s s", low, high)
      ratio = low == "" ? "–" : sprintf("%.1f–%.1f×", total[m] / high, total[m] / low)
      printf "%-8s %12.2f s (median) %14.2f s %24s %18s\n", q, total[m], own[m], reference, ratio
    }'
done
rm -rf "$out"
