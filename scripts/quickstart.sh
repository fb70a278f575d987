#!/usr/bin/env bash
# Set up, make the sample pool from Python's standard library, select its best 1,000 rows.
source "$(dirname "$0")/env.sh"
[ -f data/sample/targets.jsonl ] || zipfit-ray make-sample --out data/sample
zipfit-ray select --pool data/sample/pool --targets data/sample/targets.jsonl \
    --k 1000 --out data/selected --overwrite "$@"
echo "result: data/selected (part-*.parquet, report.html, summary.json, _SUCCESS)"
