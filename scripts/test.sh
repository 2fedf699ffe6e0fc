#!/usr/bin/env bash
# Install with test extras and run the whole suite against real embedded PostgreSQL and Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh dev
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
