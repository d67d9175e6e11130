#!/usr/bin/env bash
# Benchmarks: the full analysis, SPC against a per-series loop over a PyPI package, app latency
# in headless chromium beside a minimal-page floor, and loading the saved store. Prints a table
# of figures and targets and writes it to bench/latest.md. Extra args go to `python -m bench.run`
# (--quick: one run per figure; --only analysis,spc,browser,store; --scale ccg; --help).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_env.sh
ensure_venv requirements-dev.txt
ensure_venv requirements-bench.txt
ensure_chromium
exec .venv/bin/python -m bench.run "$@"
