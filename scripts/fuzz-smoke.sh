#!/usr/bin/env bash
# Runs every libFuzzer target in a build folder for a few seconds, seeded
# with the shared model files when they exist. A crash fails the run.
set -euo pipefail
build=${1:-build-fuzz}
seconds=${2:-20}
shared="$(cd "$(dirname "$0")/.." && pwd)/../shared"
status=0
for target in "$build"/fuzz_*; do
  [ -x "$target" ] || continue
  name=$(basename "$target")
  corpus=$(mktemp -d)
  seeds=()
  if [ -d "fuzz/seeds/$name" ]; then seeds+=("fuzz/seeds/$name"); fi
  if [ "$name" = fuzz_gguf ] && [ -d "$shared/oracle/models" ]; then
    # small files only: the fuzzer caps inputs at -max_len anyway
    find "$shared/oracle/models" -name '*.gguf' -size -1200k -exec cp {} "$corpus" \;
  fi
  echo "fuzz: $name for ${seconds}s"
  if ! "$target" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=4096 \
        "$corpus" "${seeds[@]}" >"$corpus.log" 2>&1; then
    tail -50 "$corpus.log"
    status=1
  else
    grep -E 'Done|stat::number_of_executed_units' "$corpus.log" | tail -1 || true
  fi
  rm -rf "$corpus" "$corpus.log"
done
exit $status
