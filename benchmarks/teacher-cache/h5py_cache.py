"""h5py writing and reading a teacher cache of top-20 entries for 1M tokens, in slm's layout
(docs/teacher-cache.md: chunks of 1,024 rows, shuffle + gzip 1, float16 log-probs), the same work
`slm bench --only teacher-cache` times: 2,000 samples of 500 tokens appended in commits of at least
8,192 rows (resize, write, flush), then every sample read back through samples/.

Run: python benchmarks/teacher-cache/h5py_cache.py (numpy and h5py).
"""
import os
import tempfile
import time

import h5py
import numpy as np

TOKENS, K, SAMPLE, COMMIT, CHUNK = 1_000_000, 20, 500, 8192, 1024
rng = np.random.default_rng(0)
samples = []
for _ in range(TOKENS // SAMPLE):
    ids = rng.integers(0, 49152, size=SAMPLE, dtype=np.int32)
    top = rng.integers(0, 49152, size=(SAMPLE, K), dtype=np.int32)
    lp = -np.cumsum(rng.integers(0, 1000, size=(SAMPLE, K)) / 500, axis=1).astype(np.float32)
    samples.append((ids, top, lp))
path = os.path.join(tempfile.gettempdir(), f"h5py-bench-teacher-cache-{os.getpid()}.h5")

start = time.perf_counter()
with h5py.File(path, "w") as f:
    f.attrs.update(format="slm-teacher-cache", version=1, teacher="benchmark", tokenizer="benchmark", k=K,
                   temperature=1.0, source="benchmark", created="")
    opts = dict(compression="gzip", compression_opts=1, shuffle=True)
    tokens = f.create_dataset("tokens", (0,), "<i4", maxshape=(None,), chunks=(CHUNK,), **opts)
    ids = f.create_dataset("top_ids", (0, K), "<i4", maxshape=(None, K), chunks=(CHUNK, K), **opts)
    lps = f.create_dataset("top_logprobs", (0, K), "<f2", maxshape=(None, K), chunks=(CHUNK, K), **opts)
    index = {n: f.create_dataset(f"samples/{n}", (0,), t, maxshape=(None,), chunks=(4096,))
             for n, t in (("key", "<u8"), ("offset", "<i8"), ("length", "<i4"))}
    pending = []

    def commit():
        start_row = -(-tokens.shape[0] // CHUNK) * CHUNK
        rows = sum(len(s[0]) for s in pending)
        for d in (tokens, ids, lps):
            d.resize(start_row + rows, axis=0)
        tokens[start_row:] = np.concatenate([s[0] for s in pending])
        ids[start_row:] = np.concatenate([s[1] for s in pending])
        lps[start_row:] = np.concatenate([s[2] for s in pending]).astype(np.float16)
        n0, offsets = index["key"].shape[0], start_row + np.cumsum([0] + [len(s[0]) for s in pending[:-1]])
        for d in index.values():
            d.resize(n0 + len(pending), axis=0)
        index["key"][n0:] = np.arange(n0, n0 + len(pending), dtype=np.uint64)
        index["offset"][n0:] = offsets
        index["length"][n0:] = [len(s[0]) for s in pending]
        f.flush()
        pending.clear()

    for s in samples:
        pending.append(s)
        if sum(len(p[0]) for p in pending) >= COMMIT:
            commit()
    if pending:
        commit()
write = time.perf_counter() - start

start = time.perf_counter()
read_tokens = 0
with h5py.File(path, "r") as f:
    offsets, lengths = f["samples/offset"][:], f["samples/length"][:]
    t, d, l = f["tokens"], f["top_ids"], f["top_logprobs"]
    for off, n in zip(offsets, lengths):
        t[off:off + n], d[off:off + n], l[off:off + n].astype(np.float32)
        read_tokens += n
read = time.perf_counter() - start
size = os.path.getsize(path)
os.remove(path)
raw = TOKENS * (4 + 8 * K) / 1e6
print(f"h5py teacher cache, {read_tokens} tokens × top-{K}, file {size / 1e6:.1f} MB ({size / read_tokens:.1f} bytes/token):")
print(f"  write {write:6.2f} s  {TOKENS / write:9.0f} tokens/s  {size / 1e6 / write:7.1f} MB/s of file  {raw / write:7.1f} MB/s in memory")
print(f"  read  {read:6.2f} s  {read_tokens / read:9.0f} tokens/s  {size / 1e6 / read:7.1f} MB/s of file  {raw / read:7.1f} MB/s in memory")
