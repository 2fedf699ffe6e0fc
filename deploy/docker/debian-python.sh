#!/usr/bin/env bash
# Builds a Python base image from Debian's packages alone (debootstrap + docker import), for machines that cannot
# pull python:3.11-slim from Docker Hub. Usage: deploy/docker/debian-python.sh [tag]   (as root; ~40 s)
# It already carries what the runtime layer adds (bubblewrap for the sandbox, libgomp1 for llama.cpp).
set -euo pipefail
tag="${1:-cognitionos/debian-python:bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
if ! command -v debootstrap >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
fi
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,bubblewrap,libgomp1 \
  bookworm "$root" "$mirror" >/dev/null
# What debootstrap leaves behind that an image does not need: downloaded packages and the package lists.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
tar -C "$root" -c . | docker import --change 'CMD ["python3"]' - "$tag" >/dev/null
echo "$tag"
