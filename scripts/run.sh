#!/usr/bin/env bash
# Install what the app needs (first run only) and start it on the bundled synthetic demo data.
# Pass a data folder to start on your own data:   ./scripts/run.sh --data /path/to/folder
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_env.sh
ensure_venv requirements.txt
args=()
if [ "$#" -gt 0 ]; then args=(-- "$@"); fi
exec .venv/bin/streamlit run app.py --browser.gatherUsageStats false "${args[@]}"
