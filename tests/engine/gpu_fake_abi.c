/*
 * A stand-in for libllamachat-cuda.so that exports the entry point with a
 * table of another ABI version, so that test_gpu.c can check that the
 * loader refuses a library from another build with a clear reason. Built
 * as tests/libllamachat-fake-abi.so by the "cuda" block of CMakeLists.txt.
 */
#include "engine/gpu.h"

static const lc_gpu_api FAKE = {.abi_version = LC_GPU_ABI_VERSION + 1000};

__attribute__((visibility("default"))) const lc_gpu_api *lc_gpu_get_api(void) {
    return &FAKE;
}
