#!/usr/bin/env bash
# Builds the web UI (web/, SvelteKit) into OUT_DIR; CMake runs it, then
# embeds OUT_DIR into the binary (tools/gen/embed_web.c).
#
#   scripts/web-build.sh OUT_DIR
#
# `npm ci` runs only when web/node_modules is missing or the lockfile changed
# since the last install (its hash is kept in node_modules). A lock on
# web/.build-lock keeps two build folders (build/, build-test/) from
# building in web/ at the same time.
set -euo pipefail

out="$1"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
web="$(cd "$(dirname "$0")/../web" && pwd)"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "web-build: the web UI needs Node.js (20 or newer) and npm;" \
       "install them (scripts/setup.sh does not), or configure with" \
       "-DLC_WEB=OFF to build llamachat without its UI" >&2
  exit 1
fi

exec 9>"$web/.build-lock"
flock 9

lock_hash="$(sha256sum "$web/package-lock.json" | cut -d' ' -f1)"
stamp="$web/node_modules/.llamachat-lock-sha256"
if [ ! -d "$web/node_modules" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$lock_hash" ]; then
  echo "web-build: npm ci in web/" >&2
  (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_hash" > "$stamp"
fi

(cd "$web" && LC_WEB_OUT="$out" npm run build --silent >/dev/null)
test -f "$out/index.html" || { echo "web-build: no $out/index.html" >&2; exit 1; }
