# Sourced by the other scripts: make .venv (once) and install the project with its test tools.
# constraints/dev.txt pins the versions the suite last passed with, so a fresh machine
# installs the same set quickly (without it, pip backtracked for minutes through the
# aiobotocore / botocore / s3fs pins). Refresh it with: .venv/bin/pip freeze --exclude-editable
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml constraints/dev.txt | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -c constraints/dev.txt -e '.[dev]'
    rm -f .venv/.installed-* && touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
