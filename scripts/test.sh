#!/usr/bin/env bash
# Install everything the tests need (Python dev tools, Debian's chromium) and run the whole suite:
# lint, unit, golden, property, app (AppTest) and real-browser tests. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_env.sh
ensure_venv requirements-dev.txt
ensure_chromium
echo "ruff ..."
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"
