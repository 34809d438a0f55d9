#!/usr/bin/env bash
# shellcheck disable=SC2317  # the steps are functions called through step()
# The whole check of the CUDA backend on a machine with an NVIDIA GPU, in
# one go (GPU time is scarce: every step runs even when an earlier one
# failed, and a summary comes at the end).
#
#   LC_SHARED_DIR=DIR scripts/gpu-check.sh BUILD
#
# BUILD: a Release build folder made with LC_TESTS=ON where nvcc was found
# (llamachat, gen_model, libllamachat-cuda.so, tests/engine_test_gpu,
# tests/engine_test_oracle), or the .tar.xz that scripts/gpu-stage.sh
# makes of one (unpacked into a temporary folder; its lib/ holds the shared
# libraries that the machine may lack).
# LC_SHARED_DIR: the fixtures (../shared, or .gpu/shared from gpu-stage.sh).
#
# Steps:
#   1. nvidia-smi; the library's exported symbol
#   2. engine_test_gpu: the oracle models on the GPU (all of them present)
#   3. engine_test_oracle: the same models on the CPU
#   4. compute-sanitizer memcheck on engine_test_gpu with a few models
#      (LC_GPU_MEMCHECK_MODELS, default below)
#   5. llamachat run --gpu on: a short greedy generation of stories260K
#   6. 1B llama-shaped Q4_K_M and Q8_0 files made by gen_model, then
#      llamachat bench --gpu on -t THREADS on each (pp512, tg128)
#
# Environment:
#   LC_GPU_MEMCHECK_MODELS  models for step 4 (names as in the manifest)
#   LC_GPU_BENCH_THREADS    -t for bench (16)
#   LC_GPU_BENCH_REPS       -r for bench (5)
#   LC_GPU_MODEL_DIR        where the 1B files are written (/tmp/m)
#   LC_GPU_SKIP             steps to skip, e.g. "memcheck bench"
#   LC_GPU_LOG_DIR          when set, each step's output is also saved there
#   LC_GPU_TIMEOUT          seconds any one program may run (180): a hung
#                           kernel must not eat the machine's whole lease
set -uo pipefail

if [ $# -lt 1 ]; then
    sed -n '2,/^set /p' "$0" | sed 's/^# \{0,1\}//;/^set /d' >&2
    exit 2
fi
: "${LC_SHARED_DIR:?set LC_SHARED_DIR to the fixtures folder}"
export LC_SHARED_DIR
memcheck_models=${LC_GPU_MEMCHECK_MODELS:-llama-v512-Q4_K_M,gemma3-v512-Q8_0,phi3-v512-F16}
threads=${LC_GPU_BENCH_THREADS:-16}
reps=${LC_GPU_BENCH_REPS:-5}
model_dir=${LC_GPU_MODEL_DIR:-/tmp/m}
skip=${LC_GPU_SKIP:-}
log_dir=${LC_GPU_LOG_DIR:-}
limit=${LC_GPU_TIMEOUT:-180}
# Every program of a step runs under this.
run() { timeout -k 10 "$limit" "$@"; }

build=$1
if [ -f "$build" ]; then
    unpack=$(mktemp -d)
    tar -C "$unpack" -xJf "$build" || exit 1
    build=$unpack/build
fi
build=$(cd "$build" && pwd)
if [ -d "$build/lib" ]; then
    export LD_LIBRARY_PATH="$build/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# cuBLAS comes from the machine's CUDA installation.
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
    [ -d "$d" ] && LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"
done
export LD_LIBRARY_PATH
export LLAMACHAT_CUDA_LIB=$build/libllamachat-cuda.so
# On this machine a missing device is a failure, not a skipped test.
export LC_GPU_REQUIRED=1
export LLAMACHAT_BIN=$build/llamachat

results=()
failed=0
# step NAME COMMAND...: runs it, prints its output and its time, records
# the result; output also goes to $log_dir/NAME.log when set.
step() {
    local name=$1
    shift
    case " $skip " in *" $name "*)
        results+=("$name: skipped")
        return 0
        ;;
    esac
    echo
    echo "=== $name: $*"
    local t0=$SECONDS rc
    if [ -n "$log_dir" ]; then
        mkdir -p "$log_dir"
        "$@" 2>&1 | tee "$log_dir/$name.log"
        rc=${PIPESTATUS[0]}
    else
        "$@" 2>&1
        rc=$?
    fi
    local dt=$((SECONDS - t0))
    echo "=== $name: exit $rc after ${dt}s"
    if [ "$rc" -eq 0 ]; then
        results+=("$name: ok (${dt}s)")
    else
        results+=("$name: FAILED, exit $rc (${dt}s)")
        failed=$((failed + 1))
    fi
}

device() {
    run nvidia-smi || return 1
    nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap \
        --format=csv
    nm -D --defined-only "$LLAMACHAT_CUDA_LIB" | grep -w lc_gpu_get_api
}

memcheck() {
    LC_GPU_TEST_MODELS=$memcheck_models run compute-sanitizer \
        --tool memcheck --leak-check full --error-exitcode 99 \
        "$build/tests/engine_test_gpu"
}

generate() {
    run "$LLAMACHAT_BIN" run --gpu on --temp 0 -n 48 -p "Once upon a time" \
        -m "$LC_SHARED_DIR/oracle/models/stories260K.gguf"
}

# gen_model draws progress with carriage returns: keep its last lines.
make_models() {
    mkdir -p "$model_dir" || return 1
    local t
    for t in q4_k_m q8_0; do
        run "$build/gen_model" --preset 1b --type "$t" \
            -o "$model_dir/${t/q4_k_m/q4km}.gguf" 2>&1 |
            tr '\r' '\n' | grep -v '%' || return 1
    done
    ls -la "$model_dir"
}

bench() {
    local rc=0 f
    for f in q4km q8_0; do
        run "$LLAMACHAT_BIN" bench -m "$model_dir/$f.gguf" --gpu on \
            -t "$threads" -r "$reps" || rc=1
    done
    return "$rc"
}

echo "gpu-check: build $build, fixtures $LC_SHARED_DIR, $(date -u)"
step device device
step gpu_tests run "$build/tests/engine_test_gpu"
step cpu_oracle run "$build/tests/engine_test_oracle"
step memcheck memcheck
step generate generate
step models make_models
step bench bench

echo
echo "=== summary"
for r in "${results[@]}"; do echo "  $r"; done
exit $((failed > 0))
