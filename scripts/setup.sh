#!/usr/bin/env bash
# Installs every build and test dependency on a Debian 12 machine.
# Idempotent: installs only what is missing, and does nothing when all is there.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  clang libclang-rt-14-dev            # libFuzzer targets
  libcmocka-dev                       # C unit tests
  libjansson-dev                      # JSON
  libutf8proc-dev                     # Unicode categories and normalisation
  libmicrohttpd-dev                   # HTTP/1.1 server (src/server)
  nettle-dev                          # SHA-1 + base64 for the WebSocket handshake
  postgresql libpq-dev                # storage (src/store): server and client
  postgresql-server-dev-15            # headers of src/store/pgext (llamachat_vector)
  libsodium-dev                       # argon2id passwords, token hashes
  zlib1g-dev                          # gzip of the embedded web UI (tools/embed_web.c)
  chromium                            # browser tests of the web UI (playwright-core)
)
# Installed when the archive has them (Debian 12's does not carry pgvector;
# without it the store uses its real[] fallback for embeddings).
optional=(postgresql-15-pgvector)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done

for p in "${optional[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    && continue
  apt-cache show "$p" >/dev/null 2>&1 && missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Packages of the integration tests (tests/integration), from the lockfile.
# `npm ci` runs only when node_modules is missing or the lockfile changed
# since the last install (its hash is kept in node_modules).
it_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/integration"
if [ -f "$it_dir/package-lock.json" ] && command -v npm >/dev/null; then
  lock_hash="$(sha256sum "$it_dir/package-lock.json" | cut -d' ' -f1)"
  stamp="$it_dir/node_modules/.llamachat-lock-sha256"
  if [ ! -d "$it_dir/node_modules" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$lock_hash" ]; then
    echo "setup: npm ci in tests/integration" >&2
    (cd "$it_dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock_hash" > "$stamp"
  fi
fi
