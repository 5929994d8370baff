#!/usr/bin/env bash
# Run the whole test suite from a fresh checkout: bootstrap, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh test
exec .venv/bin/python -m pytest "$@"
