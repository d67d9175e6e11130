#!/usr/bin/env bash
# Load test: 20 sessions at once (2 in headless chromium, 18 over Streamlit's websocket protocol)
# clicking through the app for 90 s on loopback; prints page times, errors and server memory and
# writes docs/LOADTEST.md. Takes about 4 minutes. Exit status 1 if any action failed.
# Options go to scripts/loadtest.py, e.g.  ./scripts/loadtest.sh --sessions 30 --duration 120 --ref HEAD
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_env.sh
ensure_venv requirements-dev.txt
ensure_chromium
exec .venv/bin/python -m scripts.loadtest "$@"
