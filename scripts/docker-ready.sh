#!/usr/bin/env bash
# Makes a Docker daemon answer for the production-path test: installs Debian's docker.io and starts dockerd, as root
# and only where missing. Says why and returns 0 when it cannot (that test then skips with the reason).
set -uo pipefail
if docker info >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "no Docker daemon and this user cannot start one: the production-path test will be skipped" >&2
  exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io) >/dev/null 2>&1 \
    || { echo "could not install docker.io" >&2; exit 0; }
fi
nohup dockerd >/var/log/cognitionos-dockerd.log 2>&1 &
for _ in $(seq 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "dockerd did not start (see /var/log/cognitionos-dockerd.log)" >&2
exit 0
