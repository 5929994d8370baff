#!/usr/bin/env bash
# Run the venue demo from a fresh checkout: bootstrap, then `checkpoint demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh demo
exec .venv/bin/checkpoint demo "$@"
