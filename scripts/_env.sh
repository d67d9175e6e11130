# Sourced by run.sh and test.sh: make .venv and install the pinned requirements when they change.
# Usage: ensure_venv requirements.txt|requirements-dev.txt
set -euo pipefail

ensure_venv() {
  local reqs="$1"
  local py="${PYTHON:-python3}"
  if [ ! -x .venv/bin/python ]; then
    if ! "$py" -m venv .venv 2>/dev/null; then
      # Debian's system Python keeps venv in a separate package.
      rm -rf .venv
      if command -v apt-get >/dev/null; then
        as_root apt-get install -y -qq python3-venv >/dev/null
      fi
      "$py" -m venv .venv
    fi
  fi
  # Reinstall only when the requirement files changed since the last install.
  local stamp=".venv/.installed-$(basename "$reqs")"
  local want
  want="$(cat requirements.txt "$reqs" | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "Installing Python packages from $reqs ..."
    .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install -q --disable-pip-version-check -r "$reqs"
    echo "$want" > "$stamp"
  fi
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_chromium() {
  # Browser tests drive Debian's chromium through Playwright (Playwright cannot download browsers here).
  if [ ! -x /usr/bin/chromium ]; then
    echo "Installing Debian's chromium for the browser tests ..."
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
  fi
}
