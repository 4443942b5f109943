"""Hugging Face `tokenizers`' encoding speed on the vocabularies and text `slm bench --only tokenizer`
times, one thread (RAYON_NUM_THREADS=1, TOKENIZERS_PARALLELISM=false; one `encode` per line):
SmolLM2 (Tests/Fixtures/smollm2-tokenizer), Llama 3 and Mistral v1 converted by transformers from the
files in models/tokenizers (fixtures/tokenizer_conversion.py), and Mistral's Tekken file converted by
transformers' MistralConverter (needs mistral-common). Also checks the token counts.

Usage: python benchmarks/tokenizer/hf_tokenizers.py TEXT_FILE RUNS
"""
import json
import os
import sys
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "fixtures"))
from tokenizers import Tokenizer  # noqa: E402

from tokenizer_conversion import llama3_converter, sentencepiece_tokenizer_json  # noqa: E402
from transformers.integrations.mistral.tokenizer import MistralConverter  # noqa: E402

text_file, runs = sys.argv[1], int(sys.argv[2])
lines = open(text_file, encoding="utf-8", newline="").read().split("\n")  # keep "\r" as slm does
vocabs = [
    ("smollm2 (byte-level)", lambda: Tokenizer.from_file(os.path.join(ROOT, "Tests/Fixtures/smollm2-tokenizer/tokenizer.json"))),
    ("llama3 (byte-level)", lambda: llama3_converter(os.path.join(ROOT, "models/tokenizers/llama3/tokenizer.model")).converted()),
    ("mistral-v1 (sentencepiece)", lambda: Tokenizer.from_str(json.dumps(sentencepiece_tokenizer_json(
        os.path.join(ROOT, "models/tokenizers/mistral/tokenizer.model.v1"), legacy=True)))),
    ("tekken (byte-level)", lambda: MistralConverter(os.path.join(ROOT, "models/tokenizers/mistral/tekken_240911.json")).converted()),
]
for name, load in vocabs:
    tok = load()
    tokens = sum(len(tok.encode(l, add_special_tokens=False).ids) for l in lines)
    times = []
    for _ in range(max(runs, 1)):
        start = time.perf_counter()
        n = sum(len(tok.encode(l, add_special_tokens=False).ids) for l in lines)
        times.append(time.perf_counter() - start)
        assert n == tokens
    t = sorted(times)[len(times) // 2]
    print(f"hf    {name:<28} {tokens:9d} tokens {t:8.3f} s {tokens / t:11.0f} tokens/s")
