#!/usr/bin/env bash
# Set up, lint, run the test suite.
source "$(dirname "$0")/env.sh"
ruff check .
ruff format --check .
python -m pytest "$@"
