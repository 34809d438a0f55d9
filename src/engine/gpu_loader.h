/*
 * The engine's side of the GPU backend: finding and loading the CUDA
 * library at run time, choosing how many layers go to the GPU, and the
 * per-context state that lc_decode consults.
 *
 * The engine never links CUDA, so the same binary starts on a machine with
 * no GPU, no driver and no CUDA libraries: the library is dlopen()ed when a
 * context asks for the GPU, and every way that can fail (library absent,
 * a dependency missing, an ABI from another build, no device, not enough
 * memory) ends in one line saying why.
 */
#ifndef LC_ENGINE_GPU_LOADER_H
#define LC_ENGINE_GPU_LOADER_H

#include <stdbool.h>
#include <stddef.h>

#include "gpu.h"

/* File name of the library, looked for next to the executable. */
#define LC_GPU_LIB_NAME "libllamachat-cuda.so"
/* Environment variable that names the library's path instead. */
#define LC_GPU_LIB_ENV "LLAMACHAT_CUDA_LIB"

/* A loaded library: the handle and the table it exported. */
typedef struct lc_gpu_lib {
    void *handle;
    const lc_gpu_api *api;
    char path[4096];
} lc_gpu_lib;

/* Path of the library: $LLAMACHAT_CUDA_LIB when set and not empty, else
 * LC_GPU_LIB_NAME in the directory of /proc/self/exe. 0, or -1 with why. */
int lc_gpu_lib_path(char *out, size_t out_len, char *why, size_t why_len);

/* Loads the library, looks up LC_GPU_ENTRY and checks the table (ABI
 * version, every entry present). 0, or -1 with why (lib zeroed). */
int lc_gpu_lib_open(lc_gpu_lib *lib, char *why, size_t why_len);
void lc_gpu_lib_close(lc_gpu_lib *lib);

/* The GPU part of one context; NULL in a CPU-only context. */
typedef struct lc_gpu_backend {
    lc_gpu_lib lib;
    lc_gpu_model *gm;
    lc_gpu_ctx *gc;
    lc_gpu_device_info info;
    int n_layers;   /* layers [0, n_layers) run on the GPU */
    bool full;      /* every layer and the head on the GPU */
    char name[160]; /* "CUDA (NVIDIA H200)" */
} lc_gpu_backend;

/* What lc_gpu_backend_new is asked for (from lc_context_params). */
typedef struct lc_gpu_request {
    int mode;         /* LC_GPU_AUTO, LC_GPU_ON, LC_GPU_OFF */
    int n_gpu_layers; /* < 0: as many as fit */
    int n_ctx, n_seq, n_ubatch;
} lc_gpu_request;

/* Sets up the GPU for model m as asked. Returns the backend; or NULL with
 * *why saying why the CPU runs everything (mode OFF, no library, no
 * device, not enough memory, ...). *fatal is set when that must fail
 * context creation: with mode ON (the GPU or nothing), or a bad mode. */
lc_gpu_backend *lc_gpu_backend_new(const lc_model *m, const lc_gpu_request *rq,
                                   char *why, size_t why_len, bool *fatal);
void lc_gpu_backend_free(lc_gpu_backend *gb);

/* Layers to put on the GPU so that the estimate of the library fits into
 * free_bytes less a reserve: the largest n in [0, n_layer] (estimates grow
 * with n). estimate(n) is the library's estimate_bytes for n layers.
 * Exposed for the tests. */
int lc_gpu_fit_layers(int n_layer, size_t free_bytes,
                      size_t (*estimate)(void *arg, int n_layers), void *arg);

#endif
