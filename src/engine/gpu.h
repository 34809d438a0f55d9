/*
 * The GPU backend contract: what the engine (C, always built) asks of the
 * CUDA library (libllamachat-cuda.so, built when nvcc is present).
 *
 * The engine never links CUDA. At context creation it dlopen()s the library
 * (next to the executable, or $LLAMACHAT_CUDA_LIB) and asks it for this table
 * through the one exported symbol `lc_gpu_get_api`. When the library, the
 * driver or a device is missing, the engine runs on the CPU; `--gpu on`
 * makes that an error instead.
 *
 * Placement: the first n_gpu_layers layers run on the GPU (weights uploaded
 * once per model, K/V of those layers in GPU memory); the rest on the CPU.
 * With every layer on the GPU the output norm and LM head run there too.
 * The residual stream crosses to the host once per micro-batch when the
 * split is partial.
 */
#ifndef LC_ENGINE_GPU_H
#define LC_ENGINE_GPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define LC_GPU_ABI_VERSION 2 /* bump when gpu.h or the model structs change */

typedef struct lc_gpu_model lc_gpu_model; /* weights on the device */
typedef struct lc_gpu_ctx lc_gpu_ctx;     /* KV cache + scratch */

typedef struct lc_gpu_device_info {
    char name[128];
    int compute_major, compute_minor;
    size_t total_bytes, free_bytes;
} lc_gpu_device_info;

typedef struct lc_gpu_api {
    int abi_version; /* LC_GPU_ABI_VERSION */

    /* 0 and *info filled when a usable device exists; -1 with err
     * otherwise (no driver, no device, too old). */
    int (*device_info)(lc_gpu_device_info *info, char *err, size_t err_len);

    /* Device bytes needed for the weights of layers [0, n_layers) (plus
     * embeddings/head when n_layers == n_layer) and for a KV cache of
     * n_ctx × n_seq positions over those layers; used by --gpu auto to
     * choose n_gpu_layers. */
    size_t (*estimate_bytes)(const lc_model *m, int n_layers, int n_ctx,
                             int n_seq, int n_ubatch);

    /* Uploads the weights of layers [0, n_layers) (and the head when all
     * are on the GPU), in their stored types. NULL with err on failure. */
    lc_gpu_model *(*model_new)(const lc_model *m, int n_layers, char *err,
                               size_t err_len);
    void (*model_free)(lc_gpu_model *gm);

    lc_gpu_ctx *(*ctx_new)(lc_gpu_model *gm, int n_ctx, int n_seq, int n_ubatch,
                           char *err, size_t err_len);
    void (*ctx_free)(lc_gpu_ctx *gc);

    /* Evaluates one validated micro-batch through the GPU layers.
     *   x: [ub->n][n_embd] host buffer. On return it holds the residual
     *      stream after the last GPU layer (the CPU continues from there)
     *      when the split is partial.
     *   logits: when all layers are on the GPU, rows for the tokens with
     *      ub->out_row[i] >= 0 are written to logits + out_row[i]*n_vocab.
     * Returns 0, or -1 with err. */
    int (*eval)(lc_gpu_ctx *gc, const lc_ubatch *ub, float *x, float *logits,
                char *err, size_t err_len);

    /* Forgets positions >= p0 of sequence seq (seq < 0: all sequences). The
     * KV positions are addressed as in the CPU cache. */
    void (*kv_seq_rm)(lc_gpu_ctx *gc, int seq, int p0);

    /* Device memory this process holds now, in bytes (measured through the
     * driver: total - free is not used, as other processes share it). */
    size_t (*memory_used)(const lc_gpu_ctx *gc);
} lc_gpu_api;

/* The one symbol the library exports. */
typedef const lc_gpu_api *(*lc_gpu_get_api_fn)(void);
#define LC_GPU_ENTRY "lc_gpu_get_api"

#endif
