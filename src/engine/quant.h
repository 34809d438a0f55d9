/*
 * Tensor types and their block layouts.
 *
 * Type ids and block layouts are those of GGUF/ggml, so that any file from
 * the wild loads. Weights stay in these formats; kernels compute on the
 * blocks directly. As in llama.cpp, a quantized weight row is never
 * multiplied with float activations: the activations are first quantized to
 * the weight type's `vec_dot_type` (Q8_0, Q8_1 or Q8_K), or rounded to
 * F16/BF16 for F16/BF16 weights, and the dot product runs on integers.
 *
 * Each type has a scalar reference implementation (`*_ref`) and, where it
 * pays, AVX2 and AVX-512 versions chosen at run time from the CPU's
 * features. Tests check every SIMD kernel against its reference.
 */
#ifndef LC_ENGINE_QUANT_H
#define LC_ENGINE_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ggml_type {
    GGML_TYPE_F32 = 0,
    GGML_TYPE_F16 = 1,
    GGML_TYPE_Q4_0 = 2,
    GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6,
    GGML_TYPE_Q5_1 = 7,
    GGML_TYPE_Q8_0 = 8,
    GGML_TYPE_Q8_1 = 9,
    GGML_TYPE_Q2_K = 10,
    GGML_TYPE_Q3_K = 11,
    GGML_TYPE_Q4_K = 12,
    GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14,
    GGML_TYPE_Q8_K = 15,
    GGML_TYPE_BF16 = 30,
    GGML_TYPE_COUNT = 40 /* ids below this may appear in files */
};

typedef uint16_t lc_fp16; /* IEEE half, stored bits */
typedef uint16_t lc_bf16; /* bfloat16, stored bits */

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK_K 256
#define K_SCALE_SIZE 12

/* x = d * (q - 8), q in 0..15; qs[j] holds elements j (low) and j+16 (high) */
typedef struct {
    lc_fp16 d;
    uint8_t qs[QK4_0 / 2];
} block_q4_0;
/* x = d * q + m */
typedef struct {
    lc_fp16 d;
    lc_fp16 m;
    uint8_t qs[QK4_1 / 2];
} block_q4_1;
/* x = d * (q - 16), 5th bit of element j in bit j of qh */
typedef struct {
    lc_fp16 d;
    uint8_t qh[4];
    uint8_t qs[QK5_0 / 2];
} block_q5_0;
typedef struct {
    lc_fp16 d;
    lc_fp16 m;
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
} block_q5_1;
/* x = d * q */
typedef struct {
    lc_fp16 d;
    int8_t qs[QK8_0];
} block_q8_0;
/* activation type for Q4_1/Q5_1: s = d * sum(qs) */
typedef struct {
    lc_fp16 d;
    lc_fp16 s;
    int8_t qs[QK8_1];
} block_q8_1;

/* Super-blocks of 256 elements (16 or 8 sub-blocks). */
typedef struct {
    uint8_t scales[QK_K / 16]; /* 4-bit scale (low), 4-bit min (high) */
    uint8_t qs[QK_K / 4];      /* 2-bit quants */
    lc_fp16 d;
    lc_fp16 dmin;
} block_q2_K;
typedef struct {
    uint8_t hmask[QK_K / 8]; /* high bit of each quant */
    uint8_t qs[QK_K / 4];    /* low 2 bits */
    uint8_t scales[12];      /* 16 6-bit scales */
    lc_fp16 d;
} block_q3_K;
typedef struct {
    lc_fp16 d;
    lc_fp16 dmin;
    uint8_t scales[K_SCALE_SIZE]; /* 8 6-bit scales and 8 6-bit mins */
    uint8_t qs[QK_K / 2];
} block_q4_K;
typedef struct {
    lc_fp16 d;
    lc_fp16 dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;
typedef struct {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    lc_fp16 d;
} block_q6_K;
/* activation type for the K-quants: bsums[i] = sum of qs[16i..16i+15] */
typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} block_q8_K;

/* ------------------------------------------------------------ functions */

/* dst[0..n) = values of n elements stored in src. */
typedef void (*lc_to_float_fn)(const void *src, float *dst, int64_t n);
/* Quantizes/rounds n floats into blocks (activation types only). */
typedef void (*lc_from_float_fn)(const float *src, void *dst, int64_t n);
/* *s = dot product of n elements: w is a row in the weight type, a is the
 * activation row already converted to the weight type's vec_dot_type. */
typedef void (*lc_vec_dot_fn)(int n, float *s, const void *w, const void *a);
/* A tile of dot products for prompt processing: LC_TILE_ROWS weight rows
 * (w, rows w_stride bytes apart) times LC_TILE_TOKS activation rows (a, rows
 * a_stride bytes apart, in vec_dot_type), n elements each:
 *   s[t * s_stride + r] = vec_dot(n, w row r, a row t)
 *   w: [LC_TILE_ROWS][n]  a: [LC_TILE_TOKS][n]  s: [LC_TILE_TOKS][s_stride]
 * Each weight and activation block is loaded (and unpacked) once per tile
 * instead of once per pair, and the pairs accumulate in registers. The
 * integer sum of every block pair is the reference's; only the order of the
 * float additions differs from vec_dot. */
typedef void (*lc_vec_dot_tile_fn)(int n, float *s, size_t s_stride,
                                   const void *w, size_t w_stride,
                                   const void *a, size_t a_stride);
#define LC_TILE_ROWS 4
#define LC_TILE_TOKS 4

typedef struct type_traits {
    const char *name;
    int blck_size;    /* elements per block */
    size_t type_size; /* bytes per block */
    bool is_quantized;
    enum ggml_type vec_dot_type;
    lc_to_float_fn to_float;
    lc_from_float_fn from_float; /* NULL unless an activation type */
    lc_vec_dot_fn vec_dot;       /* fastest for this CPU */
    lc_vec_dot_fn vec_dot_ref;   /* scalar reference */
    /* NULL unless this CPU's level has a tile kernel for the type; its
     * reference is vec_dot_ref applied to each pair */
    lc_vec_dot_tile_fn vec_dot_tile;
} type_traits;

/* Traits of a type this engine computes with; NULL when unsupported. */
const type_traits *ggml_get_type_traits(enum ggml_type type);
/* Name of any ggml type id, "unknown" otherwise. */
const char *ggml_type_name(enum ggml_type type);
/* Bytes of a row of n elements (n must be a multiple of the block size). */
size_t ggml_row_size(enum ggml_type type, int64_t n);

/* Which SIMD level the dispatch chose: "avx512", "avx2" or "scalar".
 * LLAMACHAT_SIMD=scalar|avx2|avx512 in the environment caps it (tests). */
const char *lc_simd_level(void);

float lc_fp16_to_fp32(lc_fp16 h);
lc_fp16 lc_fp32_to_fp16(float f); /* round to nearest even, as F16C */
float lc_bf16_to_fp32(lc_bf16 h);
lc_bf16 lc_fp32_to_bf16(float f); /* round to nearest even */

/* Per-type kernels; the traits table in quant.c points at these. */
#define LC_DECLARE_TYPE(t)                                                     \
    void dequantize_row_##t(const void *src, float *dst, int64_t n);           \
    void vec_dot_##t##_ref(int n, float *s, const void *w, const void *a);     \
    void vec_dot_##t##_avx2(int n, float *s, const void *w, const void *a);    \
    void vec_dot_##t##_avx512(int n, float *s, const void *w, const void *a);
LC_DECLARE_TYPE(f32)
LC_DECLARE_TYPE(f16)
LC_DECLARE_TYPE(bf16)
LC_DECLARE_TYPE(q4_0)
LC_DECLARE_TYPE(q4_1)
LC_DECLARE_TYPE(q5_0)
LC_DECLARE_TYPE(q5_1)
LC_DECLARE_TYPE(q8_0)
LC_DECLARE_TYPE(q2_K)
LC_DECLARE_TYPE(q3_K)
LC_DECLARE_TYPE(q4_K)
LC_DECLARE_TYPE(q5_K)
LC_DECLARE_TYPE(q6_K)
#undef LC_DECLARE_TYPE

/* Tile kernels (see lc_vec_dot_tile_fn), for the types that dominate
 * prompt processing: Q8_0 files, Q4_K_M files (Q4_K and Q6_K) and F16
 * files. */
#define LC_DECLARE_TILE(t)                                                     \
    void vec_dot_tile_##t##_avx512(int n, float *s, size_t s_stride,           \
                                   const void *w, size_t w_stride,             \
                                   const void *a, size_t a_stride);
LC_DECLARE_TILE(q8_0)
LC_DECLARE_TILE(q4_K)
LC_DECLARE_TILE(q6_K)
LC_DECLARE_TILE(f16)
#undef LC_DECLARE_TILE

/* Activation quantizers (reference and SIMD give identical bits). */
void quantize_row_q8_0(const float *src, void *dst, int64_t n);
void quantize_row_q8_1(const float *src, void *dst, int64_t n);
void quantize_row_q8_K(const float *src, void *dst, int64_t n);
void dequantize_row_q8_1(const void *src, float *dst, int64_t n);
void dequantize_row_q8_K(const void *src, float *dst, int64_t n);
void convert_row_f16(const float *src, void *dst, int64_t n);
void convert_row_f16_avx512(const float *src, void *dst, int64_t n);
void convert_row_bf16(const float *src, void *dst, int64_t n);
void convert_row_f32(const float *src, void *dst, int64_t n);

#endif
