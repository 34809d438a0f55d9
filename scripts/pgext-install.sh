#!/usr/bin/env bash
# Installs llamachat_vector, the PostgreSQL extension of the vector-search
# fallback (src/store/pgext, docs/decisions/0005-vector-search-fallback.md),
# from the build folder $1 into the local PostgreSQL's folders, which needs
# root: as root directly, else through sudo when it asks no password. When
# neither works, or the build has no extension (no server headers), it says
# so and succeeds: llamachat then computes the cosine in SQL, slower, with
# the same results.
set -euo pipefail
build="${1:?usage: pgext-install.sh BUILD_DIR}"

targets="$(cmake --build "$build" --target help 2>/dev/null || true)"
if ! grep -q 'pgext-install' <<<"$targets"; then
  echo "pgext: $build has no llamachat_vector (no PostgreSQL server headers);" \
       "vector search computes its cosine in SQL" >&2
  exit 0
fi
cmake --build "$build" --target llamachat_vector >/dev/null
if [ "$(id -u)" -eq 0 ]; then
  cmake --build "$build" --target pgext-install
elif sudo -n true 2>/dev/null; then
  sudo cmake --build "$build" --target pgext-install
else
  echo "pgext: not installed (needs root: sudo make pgext-install);" \
       "vector search computes its cosine in SQL" >&2
fi
