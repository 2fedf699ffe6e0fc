#!/usr/bin/env bash
# Install with test extras, check formatting, lint and types, then run the whole suite against real embedded
# PostgreSQL and Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
# The tool-runner sandboxes code with bubblewrap (a Debian package). Installed here when this user can; otherwise
# the tests that run code skip, each with the reason.
if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null) || echo "could not install bubblewrap" >&2
  else
    echo "bubblewrap is missing and this user cannot install it: tests that run code will be skipped" >&2
  fi
fi
# The production-path test builds the images and runs compose: it needs a Docker daemon (started here as root).
scripts/docker-ready.sh
scripts/bootstrap.sh dev
.venv/bin/ruff format --check .
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
