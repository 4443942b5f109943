#!/bin/sh
# Times `slm merge` quantizing SmolLM2-135M from an F32 GGUF to Q8_0, Q4_0 and Q4_K_M (no adapter, no
# verification: what llama-quantize does), alternating the types, 3 rounds, 2 threads, then prints
# each type's median and the ratio to llama-quantize.
# The F32 GGUF is made first from models/smollm2-hf (the shipped Q4_1 weights dequantized, as the F32
# file behind llama-quantize's reference figures was).
# With LLAMA_QUANTIZE=/path/to/llama-quantize, llama.cpp is timed in the same rounds, alternating with
# slm (whole process both; build it from llama-cpp-python's sdist as /work/shared/bench describes).
# Without it, the ratio is to the reference figures (F32 → Q8_0 0.74–1.07 s, → Q4_0 0.61–0.69 s,
# llama-quantize's own timer, 2 threads) of this kind of machine, not from this run; the machines are
# noisy (±20%), so read those ratios as rough.
#   benchmarks/quantize/run.sh            (after swift build -c release --product slm)
#   LLAMA_QUANTIZE=~/llama.cpp/build/bin/llama-quantize benchmarks/quantize/run.sh
set -e
cd "$(dirname "$0")/../.."
out=${TMPDIR:-/tmp}/slm-quantize-bench
mkdir -p "$out"
slm=.build/release/slm
[ -f "$out/f32.gguf" ] || $slm merge --base models/smollm2-hf --out "$out/f32.gguf" --quant f32 --no-verify > /dev/null 2>&1
seconds() { echo "$2 - $1" | bc; }
: > "$out/times"
for round in 1 2 3; do
  for q in q8_0 q4_0 q4_k_m; do
    start=$(date +%s.%N)
    line=$($slm merge --base "$out/f32.gguf" --out "$out/$q.gguf" --quant $q --no-verify --threads 2 2> /dev/null | head -1)
    total=$(seconds "$start" "$(date +%s.%N)")
    llama=-
    if [ -n "$LLAMA_QUANTIZE" ]; then
      start=$(date +%s.%N)
      "$LLAMA_QUANTIZE" "$out/f32.gguf" "$out/llama-$q.gguf" "$(echo $q | tr a-z A-Z)" 2 > /dev/null 2>&1
      llama=$(seconds "$start" "$(date +%s.%N)")
    fi
    echo "round $round  $q  slm $(echo "$total" | cut -c1-5) s  llama-quantize $(echo "$llama" | cut -c1-5) s   ($line)"
    echo "$q $total $llama" >> "$out/times"
  done
done
echo
echo "type     slm (median)   llama-quantize (median, this run)   reference figure   slm / llama-quantize"
for q in q8_0 q4_0 q4_k_m; do
  case $q in q8_0) low=0.74 high=1.07 ;; q4_0) low=0.61 high=0.69 ;; *) low= high= ;; esac
  median() { grep "^$q " "$out/times" | awk -v c=$1 '{ print $c }' | sort -n | sed -n 2p; }
  slm_median=$(median 2) llama_median=$(median 3)
  if [ "$llama_median" != "-" ]; then
    printf "%-8s %8.2f s %22.2f s %22s %15.2f×\n" $q "$slm_median" "$llama_median" "" "$(echo "$slm_median / $llama_median" | bc -l)"
  elif [ -n "$low" ]; then
    printf "%-8s %8.2f s %22s %17s–%s s %9.1f–%.1f×\n" $q "$slm_median" "(not run)" $low $high "$(echo "$slm_median / $high" | bc -l)" "$(echo "$slm_median / $low" | bc -l)"
  else
    printf "%-8s %8.2f s %22s %22s %16s\n" $q "$slm_median" "(not run)" "no figure" "–"
  fi
done
rm -rf "$out"
