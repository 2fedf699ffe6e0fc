#!/usr/bin/env bash
# Install and start all seven services on embedded PostgreSQL+pgvector and Redis (or DATABASE_URL/REDIS_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/cognitionos up "$@"
