#!/usr/bin/env bash
# Stages what scripts/gpu-check.sh needs on a GPU machine that receives
# only this repository (no ../shared, no Debian packages): everything goes
# into .gpu/, which this script adds to .git/info/exclude, so it is never
# committed content.
#
#   scripts/gpu-stage.sh [BUILD_DIR]
#
#   .gpu/shared/oracle/   manifest.json and the decoder models and logits of
#                         ../shared/oracle, chosen in priority order (every
#                         tensor type and architecture first) while the
#                         total stays under LC_STAGE_MAX_MIB (35) MiB
#   .gpu/build.tar.xz     with BUILD_DIR (a Release build with tests and
#                         CUDA): llamachat, gen_model, libllamachat-cuda.so,
#                         tests/engine_test_gpu, tests/engine_test_oracle
#                         (and tests/libllamachat-fake-abi.so), stripped,
#                         and lib/: the shared libraries they load
#                         apart from glibc and CUDA's own (a bare CUDA image
#                         lacks libpq, cmocka, jansson, ...). Compressed,
#                         since the transfer to the GPU machine is limited.
#
# Then, on the GPU machine, from the repository root:
#   LC_SHARED_DIR=$PWD/.gpu/shared scripts/gpu-check.sh .gpu/build.tar.xz
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
shared=${LC_SHARED_SRC:-$root/../shared}
max_mib=${LC_STAGE_MAX_MIB:-35}
stage=$root/.gpu

if [ -d "$root/.git" ]; then
    mkdir -p "$root/.git/info"
    touch "$root/.git/info/exclude"
    grep -qx '/.gpu/' "$root/.git/info/exclude" ||
        echo '/.gpu/' >>"$root/.git/info/exclude"
fi

# ------------------------------------------------------------ fixtures
oracle=$shared/oracle
if [ ! -f "$oracle/manifest.json" ]; then
    echo "gpu-stage: $oracle/manifest.json is absent" >&2
    exit 1
fi
rm -rf "$stage/shared"
mkdir -p "$stage/shared/oracle/models" "$stage/shared/oracle/logits"
cp "$oracle/manifest.json" "$stage/shared/oracle/"

# Priority: the trained model, every quantized type, then one file of each
# float type and architecture, then the rest. A file that does not fit is
# left out and the next one tried.
order="stories260K
llama-v512-Q8_0 llama-v512-Q4_0 llama-v512-Q4_1 llama-v512-Q5_0
llama-v512-Q5_1 llama-v512-Q2_K llama-v512-Q3_K_M llama-v512-Q4_K_M
llama-v512-Q5_K_M llama-v512-Q6_K gemma3-v512-Q8_0 gemma3-v512-Q4_K_M
qwen3-v512-Q8_0 qwen3-v512-Q4_K_M qwen2-v512-Q4_K_M
gemma3-v512-F32 phi3-v512-F16 llama-v512-BF16 qwen2-v512-F16
llama-v512-F32 llama-v512-F16 qwen3-v512-F32"
limit=$((max_mib * 1024 * 1024))
total=$(stat -c %s "$oracle/manifest.json")
kept="" left=""
for name in $order; do
    m=$oracle/models/$name.gguf
    l=$oracle/logits/$name.f32
    [ -f "$m" ] && [ -f "$l" ] || continue
    size=$(($(stat -c %s "$m") + $(stat -c %s "$l")))
    if [ $((total + size)) -gt "$limit" ]; then
        left="$left $name"
        continue
    fi
    cp "$m" "$stage/shared/oracle/models/"
    cp "$l" "$stage/shared/oracle/logits/"
    total=$((total + size))
    kept="$kept $name"
done
echo "gpu-stage: fixtures $((total / 1024 / 1024)) MiB in .gpu/shared:$kept"
[ -z "$left" ] || echo "gpu-stage: left out (over ${max_mib} MiB):$left"

# --------------------------------------------------------------- build
[ $# -ge 1 ] || exit 0
build=$(cd "$1" && pwd)
for f in llamachat gen_model libllamachat-cuda.so tests/engine_test_gpu \
    tests/engine_test_oracle; do
    if [ ! -f "$build/$f" ]; then
        echo "gpu-stage: $build/$f is absent (a Release build with" \
            "LC_TESTS=ON and nvcc, targets llamachat gen_model" \
            "engine_test_gpu engine_test_oracle)" >&2
        exit 1
    fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/build/tests" "$tmp/build/lib"
for f in llamachat gen_model libllamachat-cuda.so; do
    cp "$build/$f" "$tmp/build/"
done
cp "$build/tests/engine_test_gpu" "$build/tests/engine_test_oracle" \
    "$tmp/build/tests/"
# The loader test's library of a foreign ABI version (skipped when absent).
[ ! -f "$build/tests/libllamachat-fake-abi.so" ] ||
    cp "$build/tests/libllamachat-fake-abi.so" "$tmp/build/tests/"
strip --strip-unneeded "$tmp/build/llamachat" "$tmp/build/gen_model" \
    "$tmp/build/tests/engine_test_"* 2>/dev/null || true

# The libraries the programs load, less glibc (the GPU machine's own is
# newer, and mixing two is unsafe) and CUDA (the driver and cuBLAS there
# must match its GPU).
{
    for f in llamachat gen_model tests/engine_test_gpu tests/engine_test_oracle; do
        ldd "$build/$f"
    done
} | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u |
    while read -r lib; do
        case $(basename "$lib") in
        libc.so* | libm.so* | libdl.so* | libpthread.so* | librt.so* | \
            libresolv.so* | ld-linux* | libcuda.so* | libcublas* | \
            libcudart* | libstdc++* | libgcc_s*) ;;
        *) cp -L "$lib" "$tmp/build/lib/" ;;
        esac
    done
tar -C "$tmp" -cJf "$stage/build.tar.xz" build
echo "gpu-stage: $(du -m "$stage/build.tar.xz" | cut -f1) MiB in" \
    ".gpu/build.tar.xz ($(ls "$tmp/build/lib" | wc -l) libraries)"
du -sm "$stage" | awk '{print "gpu-stage: .gpu/ holds " $1 " MiB"}'
