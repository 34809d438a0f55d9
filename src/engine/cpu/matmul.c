/*
 * out[t][r] = sum_k W[r][k] * x[t][k] on the thread pool.
 *
 * Step 1: the activations x [n_tok][n_in] are converted to the weight's
 * vec_dot_type (Q8_0, Q8_1, Q8_K, F16, BF16) into the scratch buffer, so the
 * dot products run on integers or halves; F32 weights use x as it is.
 *
 * Step 2: the products. Two regimes:
 *  - n_tok == 1 (token generation) is bound by memory bandwidth: every weight
 *    byte is used once. Each thread takes one contiguous, equal share of the
 *    rows so that the hardware prefetchers stream them.
 *  - n_tok > 1 (prompt processing) is bound by compute if each weight row,
 *    once loaded, is used for many tokens. The output is cut into tiles of
 *    TILE_ROWS rows x TILE_TOKS tokens; a tile's weight rows stay in L1/L2
 *    while they meet each of its tokens. Threads take tiles from an atomic
 *    counter, which balances uneven progress (other processes, SMT).
 * Within a tile, compute_tile() hands whole LC_TILE_ROWS x LC_TILE_TOKS
 * blocks to the type's tile kernel where it has one (several rows per
 * activation load and several tokens per weight load, in registers) and
 * the rest to the per-pair dot product.
 */
#include "matmul.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#define TILE_ROWS 16
#define TILE_TOKS 8
/* Converting activations in parallel costs one extra pool run; it pays only
 * when there are several rows to convert. */
#define PARALLEL_CONVERT_MIN_TOK 8

typedef struct matmul_job {
    float *out;    /* [n_tok][n_out] */
    const char *w; /* [n_out] rows of w_row_bytes */
    size_t w_row_bytes;
    const char *act; /* [n_tok] rows of act_row_bytes, vec_dot_type */
    size_t act_row_bytes;
    lc_vec_dot_fn dot;
    lc_vec_dot_tile_fn dot_tile; /* NULL: pairs only */
    int n_in, n_out, n_tok;

    /* conversion step */
    const float *x; /* [n_tok][n_in] */
    lc_from_float_fn from_float;
    char *act_out; /* scratch, [n_tok] rows of act_row_bytes */

    int n_row_tiles, n_tok_tiles;
    atomic_int next_tile;
} matmul_job;

/* Rows [r0, r1) x tokens [t0, t1) of out, one dot product per pair.
 * Weight row outer: it is reused for every token while it is hot in L1. */
static void dot_pairs(const matmul_job *job, int r0, int r1, int t0, int t1) {
    for (int r = r0; r < r1; r++) {
        const char *wr = job->w + (size_t)r * job->w_row_bytes;
        for (int t = t0; t < t1; t++) {
            const char *at = job->act + (size_t)t * job->act_row_bytes;
            job->dot(job->n_in, &job->out[(size_t)t * job->n_out + r], wr, at);
        }
    }
}

/* Rows [r0, r1) x tokens [t0, t1) of out: whole LC_TILE_ROWS x
 * LC_TILE_TOKS blocks through the tile kernel where the type has one (each
 * loaded weight block then meets several tokens in registers), the edges
 * pair by pair. */
static void compute_tile(const matmul_job *job, int r0, int r1, int t0,
                         int t1) {
    int r_full = r0, t_full = t0; /* ends of the whole blocks */
    if (job->dot_tile) {
        r_full = r0 + (r1 - r0) / LC_TILE_ROWS * LC_TILE_ROWS;
        t_full = t0 + (t1 - t0) / LC_TILE_TOKS * LC_TILE_TOKS;
        if (t_full == t0) r_full = r0; /* too few tokens for one block */
    }
    for (int r = r0; r < r_full; r += LC_TILE_ROWS) {
        const char *wr = job->w + (size_t)r * job->w_row_bytes;
        for (int t = t0; t < t_full; t += LC_TILE_TOKS)
            job->dot_tile(job->n_in, &job->out[(size_t)t * job->n_out + r],
                          (size_t)job->n_out, wr, job->w_row_bytes,
                          job->act + (size_t)t * job->act_row_bytes,
                          job->act_row_bytes);
        dot_pairs(job, r, r + LC_TILE_ROWS, t_full, t1);
    }
    dot_pairs(job, r_full, r1, t0, t1);
}

/* Pool task: convert this thread's share of the activation rows. */
static void convert_task(void *arg, int ith, int nth) {
    matmul_job *job = arg;
    int t0 = (int)((int64_t)job->n_tok * ith / nth);
    int t1 = (int)((int64_t)job->n_tok * (ith + 1) / nth);
    for (int t = t0; t < t1; t++)
        job->from_float(job->x + (size_t)t * job->n_in,
                        job->act_out + (size_t)t * job->act_row_bytes,
                        job->n_in);
}

/* Pool task, token generation: an equal contiguous share of rows. */
static void rows_task(void *arg, int ith, int nth) {
    const matmul_job *job = arg;
    int r0 = (int)((int64_t)job->n_out * ith / nth);
    int r1 = (int)((int64_t)job->n_out * (ith + 1) / nth);
    if (r0 < r1) compute_tile(job, r0, r1, 0, job->n_tok);
}

/* Pool task, prompt processing: tiles from the shared counter. Tiles that
 * share weight rows are numbered consecutively, so threads working at the
 * same time mostly read the same rows (shared L3). */
static void tiles_task(void *arg, int ith, int nth) {
    (void)ith;
    (void)nth;
    matmul_job *job = arg;
    int n_tiles = job->n_row_tiles * job->n_tok_tiles;
    for (;;) {
        int tile =
            atomic_fetch_add_explicit(&job->next_tile, 1, memory_order_relaxed);
        if (tile >= n_tiles) break;
        int rt = tile / job->n_tok_tiles, tt = tile % job->n_tok_tiles;
        int r0 = rt * TILE_ROWS, t0 = tt * TILE_TOKS;
        int r1 = r0 + TILE_ROWS < job->n_out ? r0 + TILE_ROWS : job->n_out;
        int t1 = t0 + TILE_TOKS < job->n_tok ? t0 + TILE_TOKS : job->n_tok;
        compute_tile(job, r0, r1, t0, t1);
    }
}

/* Makes the scratch buffer at least `size` bytes, 64-byte aligned. */
static int scratch_reserve(lc_matmul_scratch *scratch, size_t size) {
    if (scratch->size >= size && scratch->buf) return 0;
    size_t cap = (size + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, cap);
    if (!p) return -1;
    free(scratch->buf);
    scratch->buf = p;
    scratch->size = cap;
    return 0;
}

int lc_matmul(lc_threadpool *tp, lc_matmul_scratch *scratch, float *out,
              const void *w, enum ggml_type w_type, int n_in, int n_out,
              const float *x, int n_tok) {
    const type_traits *wt = ggml_get_type_traits(w_type);
    if (!wt || !wt->vec_dot || n_in <= 0 || n_out < 0 || n_tok < 0) return -1;
    if ((n_out > 0 && n_tok > 0) && (!out || !w || !x)) return -1;
    const type_traits *at = ggml_get_type_traits(wt->vec_dot_type);
    if (!at || n_in % wt->blck_size != 0 || n_in % at->blck_size != 0)
        return -1;
    if (n_out == 0 || n_tok == 0) return 0;

    matmul_job job = {
        .out = out,
        .w = w,
        .w_row_bytes = ggml_row_size(w_type, n_in),
        .act_row_bytes = ggml_row_size(wt->vec_dot_type, n_in),
        .dot = wt->vec_dot,
        .dot_tile = wt->vec_dot_tile,
        .n_in = n_in,
        .n_out = n_out,
        .n_tok = n_tok,
        .x = x,
        .from_float = at->from_float,
    };

    if (wt->vec_dot_type == GGML_TYPE_F32) {
        job.act = (const char *)x; /* already in the dot product's type */
    } else {
        if (!scratch || !job.from_float) return -1;
        if (scratch_reserve(scratch, job.act_row_bytes * (size_t)n_tok) != 0)
            return -1;
        job.act_out = scratch->buf;
        job.act = scratch->buf;
        if (n_tok >= PARALLEL_CONVERT_MIN_TOK)
            lc_threadpool_run(tp, convert_task, &job);
        else
            convert_task(&job, 0, 1);
    }

    if (n_tok == 1) {
        lc_threadpool_run(tp, rows_task, &job);
    } else {
        job.n_row_tiles = (n_out + TILE_ROWS - 1) / TILE_ROWS;
        job.n_tok_tiles = (n_tok + TILE_TOKS - 1) / TILE_TOKS;
        atomic_init(&job.next_tile, 0);
        lc_threadpool_run(tp, tiles_task, &job);
    }
    return 0;
}

void lc_matmul_scratch_free(lc_matmul_scratch *scratch) {
    if (!scratch) return;
    free(scratch->buf);
    scratch->buf = NULL;
    scratch->size = 0;
}
