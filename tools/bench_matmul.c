/*
 * bench_matmul: times lc_matmul on a 2048 x 2048 weight matrix of every
 * type the engine computes with, at n_tok = 1 (token generation: bound by
 * memory bandwidth, reported in GB/s of weights read) and n_tok = 64
 * (prompt processing: bound by compute, reported in GFLOP/s).
 *
 *   bench_matmul [n_threads (2)] [n_in (2048)] [n_out (2048)]
 *
 * LLAMACHAT_SIMD=scalar|avx2|avx512 caps the kernels, for comparisons.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/cpu/matmul.h"

static uint64_t rng_state = 0x853c49e6748fea9bull;

static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static float rnd_float(void) {
    return (float)(rnd() & 0xffff) / 32768.0f - 1.0f;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Weights with realistic values: float types from random floats (random
 * bits would give denormal products, which are slow and not what models
 * hold); block types from random bytes, whose fp16 scales are never
 * denormal once converted to float. */
static void *make_weights(enum ggml_type t, int n_in, int n_out) {
    size_t row = ggml_row_size(t, n_in), size = row * (size_t)n_out;
    unsigned char *w = malloc(size);
    if (!w) return NULL;
    const type_traits *tt = ggml_get_type_traits(t);
    if (tt->is_quantized) {
        for (size_t i = 0; i < size; i++) w[i] = (unsigned char)rnd();
        return w;
    }
    float *tmp = malloc(sizeof(float) * (size_t)n_in);
    if (!tmp) {
        free(w);
        return NULL;
    }
    for (int r = 0; r < n_out; r++) {
        for (int k = 0; k < n_in; k++) tmp[k] = rnd_float();
        tt->from_float(tmp, w + (size_t)r * row, n_in);
    }
    free(tmp);
    return w;
}

/* Seconds per lc_matmul call: the best of several timed batches. */
static double time_matmul(lc_threadpool *tp, lc_matmul_scratch *scratch,
                          float *out, const void *w, enum ggml_type t, int n_in,
                          int n_out, const float *x, int n_tok) {
    lc_matmul(tp, scratch, out, w, t, n_in, n_out, x, n_tok); /* warm up */
    double best = 1e30;
    for (int batch = 0; batch < 5; batch++) {
        int iters = 0;
        double t0 = now_s(), t1;
        do {
            lc_matmul(tp, scratch, out, w, t, n_in, n_out, x, n_tok);
            iters++;
            t1 = now_s();
        } while (t1 - t0 < 0.1);
        double per = (t1 - t0) / iters;
        if (per < best) best = per;
    }
    return best;
}

int main(int argc, char **argv) {
    int n_threads = argc > 1 ? atoi(argv[1]) : 2;
    int n_in = argc > 2 ? atoi(argv[2]) : 2048;
    int n_out = argc > 3 ? atoi(argv[3]) : 2048;
    if (n_threads <= 0 || n_in <= 0 || n_out <= 0 || n_in % 256) {
        fprintf(stderr, "usage: bench_matmul [n_threads] [n_in (multiple of "
                        "256)] [n_out]\n");
        return 2;
    }
    enum { MAX_TOK = 64 };
    lc_threadpool *tp = lc_threadpool_new(n_threads);
    float *x = malloc(sizeof(float) * (size_t)n_in * MAX_TOK);
    float *out = malloc(sizeof(float) * (size_t)n_out * MAX_TOK);
    if (!tp || !x || !out) {
        fprintf(stderr, "bench_matmul: out of memory\n");
        return 1;
    }
    for (int i = 0; i < n_in * MAX_TOK; i++) x[i] = rnd_float();
    lc_matmul_scratch scratch = {0};

    printf("matrix %d x %d, %d threads, simd %s\n", n_out, n_in, n_threads,
           lc_simd_level());
    printf("%-5s %10s %10s %10s | %10s %10s\n", "type", "tg us", "tg GB/s",
           "tg GFLOP/s", "pp64 us", "GFLOP/s");
    for (int t = 0; t < GGML_TYPE_COUNT; t++) {
        const type_traits *tt = ggml_get_type_traits((enum ggml_type)t);
        if (!tt || !tt->vec_dot) continue;
        void *w = make_weights((enum ggml_type)t, n_in, n_out);
        if (!w) {
            fprintf(stderr, "bench_matmul: out of memory\n");
            return 1;
        }
        double bytes = (double)ggml_row_size((enum ggml_type)t, n_in) * n_out;
        double flop1 = 2.0 * n_in * n_out;
        double s1 = time_matmul(tp, &scratch, out, w, (enum ggml_type)t, n_in,
                                n_out, x, 1);
        double s64 = time_matmul(tp, &scratch, out, w, (enum ggml_type)t, n_in,
                                 n_out, x, MAX_TOK);
        printf("%-5s %10.1f %10.2f %10.2f | %10.1f %10.2f\n", tt->name,
               s1 * 1e6, bytes / s1 * 1e-9, flop1 / s1 * 1e-9, s64 * 1e6,
               flop1 * MAX_TOK / s64 * 1e-9);
        free(w);
    }
    lc_matmul_scratch_free(&scratch);
    lc_threadpool_free(tp);
    free(x);
    free(out);
    return 0;
}
