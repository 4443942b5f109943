#!/bin/sh
# Writing and reading top-20 teacher entries for 1M tokens: slm, then h5py, one after the other.
#   benchmarks/teacher-cache/run.sh [python]      (python with numpy and h5py; default python3)
set -e
cd "$(dirname "$0")/../.."
.build/release/slm bench --only teacher-cache
"${1:-python3}" benchmarks/teacher-cache/h5py_cache.py
