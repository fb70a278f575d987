#!/usr/bin/env bash
# Benchmark environment: this project plus the reference implementation (PyPI zip-fit 1.0.9,
# which imports datasets and brotli), kept out of the project's own .venv. Then run speed.py.
#   ./benchmarks/run.sh                      # the full run (tens of minutes on 2 cores)
#   ./benchmarks/run.sh --candidates 5000 --memory-rows 100000 --only lz4   # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-bench/bin/python ]; then
    python3 -m venv .venv-bench
    .venv-bench/bin/python -m pip install --quiet --upgrade pip
    .venv-bench/bin/python -m pip install --quiet -e . "zip-fit==1.0.9" datasets brotli
fi
exec .venv-bench/bin/python benchmarks/speed.py "$@"
