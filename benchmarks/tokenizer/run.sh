#!/usr/bin/env bash
# Tokenization speed, slm beside Hugging Face `tokenizers`, one thread each, on one text: the
# repository's docs and both datasets' JSONL, plus the tokenizer test corpus (whitespace runs,
# code, accented Latin, CJK, emoji), ~0.6 MB. Needs scripts/setup's models/ and a Python with
# tokenizers, transformers, sentencepiece, protobuf and tiktoken (PYTHON, default /work/venv/bin/python).
# Usage: benchmarks/tokenizer/run.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
python=${PYTHON:-/work/venv/bin/python}
text=$(mktemp --suffix=.txt)
trap 'rm -f "$text"' EXIT
{
    cat README.md docs/*.md datasets/*/*.jsonl
    "$python" -c 'import json; print("\n".join(json.load(open("Tests/Fixtures/tokenizer_real_ids.json"))["corpus"]))'
} > "$text"
swift build -c release --product slm >/dev/null
.build/release/slm bench --only tokenizer --text "$text" --runs "$runs" --threads 1
RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false "$python" benchmarks/tokenizer/hf_tokenizers.py "$text" "$runs"
