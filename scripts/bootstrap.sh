#!/usr/bin/env bash
# Make this checkout runnable on a fresh Debian / Raspberry Pi OS (64-bit) machine:
# the Debian packages it needs (installed when missing and we are root, otherwise the one
# apt line to run is printed), a .venv, and the project installed into it with its extras.
# Usage: scripts/bootstrap.sh [demo|test]   (test adds what the test suite needs)
set -euo pipefail
cd "$(dirname "$0")/.."
purpose="${1:-demo}"

# fonts-wqy-zenhei: the CJK font the hub embeds in the daily report's PDF (server/report_pdf.py), and that
# browser tests and screenshots render Chinese with.
apt_pkgs=(libzbar0 mosquitto espeak-ng fonts-wqy-zenhei)
if [ "$purpose" = test ]; then
  apt_pkgs+=(chromium)
  # The hub's tests run on PostgreSQL too: they start their own cluster with its initdb and pg_ctl
  # (tests/conftest.py), so only the programs are needed, not a server running on the machine.
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
    apt_pkgs+=(postgresql)
  fi
fi
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "bootstrap: installing Debian packages: ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "bootstrap: missing Debian packages. Run:" >&2
    echo "  sudo apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
fi
extras="agent,hub"
[ "$purpose" = test ] && extras="agent,hub,dev"
stamp=".venv/.installed-$extras"
# Reinstall only when pyproject.toml changed since the last install of these extras.
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "bootstrap: installing the project into .venv ($extras)" >&2
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e ".[$extras]"
  touch "$stamp"
fi
