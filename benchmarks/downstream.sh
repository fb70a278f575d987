#!/usr/bin/env bash
# Downstream benchmark environment: this project with its evaluate extra (CPU torch) plus DSIR
# (PyPI data-selection 1.0.3, which brings nltk and pandas), kept out of the project's own
# .venv: DSIR is a benchmark-only baseline. Then run downstream.py with the arguments given.
#   ./benchmarks/downstream.sh --steps 200             # the README's run (default: 1,000)
#   ./benchmarks/downstream.sh --steps 50 --seeds 1    # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-downstream/bin/python ]; then
    python3 -m venv .venv-downstream
    .venv-downstream/bin/python -m pip install --quiet --upgrade pip
    .venv-downstream/bin/python -m pip install --quiet -c constraints/dev.txt -e '.[evaluate]' sympy
    .venv-downstream/bin/python -m pip install --quiet "data-selection==1.0.3"
fi
exec .venv-downstream/bin/python benchmarks/downstream.py "$@"
