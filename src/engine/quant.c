/*
 * The table of tensor types: block geometry, conversions and the dot product
 * kernel that this CPU runs best, plus the scalar fp16/bf16 conversions that
 * every other file uses.
 *
 * The kernel choice is made once (pthread_once) from cpuid: AVX-512 needs
 * F+BW+VL+DQ+VNNI, AVX2 needs AVX2+FMA+F16C. LLAMACHAT_SIMD caps the level so
 * that tests and benchmarks can force the slower paths.
 */
#include "quant.h"

#include <pthread.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------ fp16 and bf16 */

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float lc_fp16_to_fp32(lc_fp16 h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24 is exact in a float */
        float v = (float)mant * 0x1p-24f;
        return bits_f32(f32_bits(v) | sign);
    }
    if (exp == 31) /* inf, or NaN keeping its payload */
        return bits_f32(sign | 0x7f800000u | (mant << 13));
    /* rebias the exponent from 15 to 127 */
    return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

lc_fp16 lc_fp32_to_fp16(float f) {
    uint32_t u = f32_bits(f);
    uint32_t sign = (u >> 16) & 0x8000;
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) /* NaN: quiet it, keep the top payload bits */
        return (lc_fp16)(sign | 0x7e00 | ((a >> 13) & 0x3ff));
    if (a >= 0x477ff000u) /* >= 65520 rounds to infinity (and inf itself) */
        return (lc_fp16)(sign | 0x7c00);
    if (a < 0x38800000u) {
        /* below 2^-14: a half subnormal (or zero), in units of 2^-24 */
        uint32_t e = a >> 23;
        if (e < 102) return (lc_fp16)sign; /* < 2^-25: rounds to zero */
        uint32_t m = (a & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t q = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return (lc_fp16)(sign | q); /* q == 0x400 is the smallest normal */
    }
    uint32_t h = (a - 0x38000000u) >> 13; /* rebias 127 -> 15 */
    uint32_t rem = a & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; /* may carry up */
    return (lc_fp16)(sign | h);
}

float lc_bf16_to_fp32(lc_bf16 h) {
    return bits_f32((uint32_t)h << 16);
}

lc_bf16 lc_fp32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: truncating could give inf */
        return (lc_bf16)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1); /* round to nearest even */
    return (lc_bf16)(u >> 16);
}

/* ------------------------------------------------------ names and sizes */

/* Every ggml type id: name, elements per block, bytes per block. Sizes of
 * types we cannot compute with still let a loader check tensor extents. */
typedef struct type_geometry {
    const char *name;
    int blck_size;
    size_t type_size;
} type_geometry;

static const type_geometry geometry[GGML_TYPE_COUNT] = {
    [0] = {"F32", 1, 4},
    [1] = {"F16", 1, 2},
    [2] = {"Q4_0", QK4_0, sizeof(block_q4_0)},
    [3] = {"Q4_1", QK4_1, sizeof(block_q4_1)},
    [6] = {"Q5_0", QK5_0, sizeof(block_q5_0)},
    [7] = {"Q5_1", QK5_1, sizeof(block_q5_1)},
    [8] = {"Q8_0", QK8_0, sizeof(block_q8_0)},
    [9] = {"Q8_1", QK8_1, sizeof(block_q8_1)},
    [10] = {"Q2_K", QK_K, sizeof(block_q2_K)},
    [11] = {"Q3_K", QK_K, sizeof(block_q3_K)},
    [12] = {"Q4_K", QK_K, sizeof(block_q4_K)},
    [13] = {"Q5_K", QK_K, sizeof(block_q5_K)},
    [14] = {"Q6_K", QK_K, sizeof(block_q6_K)},
    [15] = {"Q8_K", QK_K, sizeof(block_q8_K)},
    [16] = {"IQ2_XXS", QK_K, 66},
    [17] = {"IQ2_XS", QK_K, 74},
    [18] = {"IQ3_XXS", QK_K, 98},
    [19] = {"IQ1_S", QK_K, 50},
    [20] = {"IQ4_NL", 32, 18},
    [21] = {"IQ3_S", QK_K, 110},
    [22] = {"IQ2_S", QK_K, 82},
    [23] = {"IQ4_XS", QK_K, 136},
    [24] = {"I8", 1, 1},
    [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},
    [27] = {"I64", 1, 8},
    [28] = {"F64", 1, 8},
    [29] = {"IQ1_M", QK_K, 56},
    [30] = {"BF16", 1, 2},
    [34] = {"TQ1_0", QK_K, 54},
    [35] = {"TQ2_0", QK_K, 66},
    [39] = {"MXFP4", 32, 17},
};

const char *ggml_type_name(enum ggml_type type) {
    if ((unsigned)type >= GGML_TYPE_COUNT || !geometry[type].name)
        return "unknown";
    return geometry[type].name;
}

size_t ggml_row_size(enum ggml_type type, int64_t n) {
    if ((unsigned)type >= GGML_TYPE_COUNT || !geometry[type].name || n < 0)
        return 0;
    const type_geometry *g = &geometry[type];
    return (size_t)(n / g->blck_size) * g->type_size;
}

/* ------------------------------------------------------ the traits table */

enum simd_level { SIMD_SCALAR, SIMD_AVX2, SIMD_AVX512 };

/* One kernel per level; NULL entries fall back to the next level down. */
typedef struct dot_variants {
    lc_vec_dot_fn ref, avx2, avx512;
} dot_variants;

static type_traits traits[GGML_TYPE_COUNT];
static dot_variants variants[GGML_TYPE_COUNT];
static enum simd_level chosen_level = SIMD_SCALAR;
static pthread_once_t traits_once = PTHREAD_ONCE_INIT;

static void add_type(enum ggml_type type, bool is_quantized,
                     enum ggml_type vec_dot_type, lc_to_float_fn to_float,
                     lc_from_float_fn from_float, dot_variants dots) {
    type_traits *t = &traits[type];
    t->name = geometry[type].name;
    t->blck_size = geometry[type].blck_size;
    t->type_size = geometry[type].type_size;
    t->is_quantized = is_quantized;
    t->vec_dot_type = vec_dot_type;
    t->to_float = to_float;
    t->from_float = from_float;
    t->vec_dot_ref = dots.ref;
    variants[type] = dots;
}

#if defined(__x86_64__) || defined(__i386__)
/* Reads XCR0: which register states the OS saves on a context switch. */
static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* The SIMD level from CPUID, asked directly rather than through
 * __builtin_cpu_supports (clang 14 does not know "f16c" there), and only
 * when the OS saves the wider registers (XCR0), or the first AVX
 * instruction would fault. */
static enum simd_level cpu_level(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return SIMD_SCALAR;
    bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28),
         f16c = c & (1u << 29);
    if (!osxsave || !avx || !fma || !f16c) return SIMD_SCALAR;
    uint64_t xcr0 = read_xcr0();
    if ((xcr0 & 0x6) != 0x6) return SIMD_SCALAR; /* XMM and YMM state */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return SIMD_SCALAR;
    if (!(b & (1u << 5))) return SIMD_SCALAR;             /* AVX2 */
    bool avx512 = (b & (1u << 16)) && (b & (1u << 17)) && /* F, DQ */
                  (b & (1u << 30)) && (b & (1u << 31)) && /* BW, VL */
                  (c & (1u << 11)) &&                     /* VNNI */
                  (xcr0 & 0xe0) == 0xe0; /* opmask, ZMM state */
    return avx512 ? SIMD_AVX512 : SIMD_AVX2;
}
#endif

static enum simd_level detect_level(void) {
#if defined(__x86_64__) || defined(__i386__)
    enum simd_level level = cpu_level();
    /* The environment may only lower the level: asking for AVX-512 on a
     * CPU without it must not select instructions that fault. */
    const char *cap = getenv("LLAMACHAT_SIMD");
    if (cap) {
        enum simd_level want = level;
        if (strcmp(cap, "scalar") == 0)
            want = SIMD_SCALAR;
        else if (strcmp(cap, "avx2") == 0)
            want = SIMD_AVX2;
        else if (strcmp(cap, "avx512") == 0)
            want = SIMD_AVX512;
        if (want < level) level = want;
    }
    return level;
#else
    return SIMD_SCALAR;
#endif
}

#define DOTS(t)                                                                \
    ((dot_variants){vec_dot_##t##_ref, vec_dot_##t##_avx2,                     \
                    vec_dot_##t##_avx512})

static void init_traits(void) {
    add_type(GGML_TYPE_F32, false, GGML_TYPE_F32, dequantize_row_f32,
             convert_row_f32, DOTS(f32));
    add_type(GGML_TYPE_F16, false, GGML_TYPE_F16, dequantize_row_f16,
             convert_row_f16, DOTS(f16));
    add_type(GGML_TYPE_BF16, false, GGML_TYPE_BF16, dequantize_row_bf16,
             convert_row_bf16, DOTS(bf16));
    add_type(GGML_TYPE_Q4_0, true, GGML_TYPE_Q8_0, dequantize_row_q4_0, NULL,
             DOTS(q4_0));
    add_type(GGML_TYPE_Q4_1, true, GGML_TYPE_Q8_1, dequantize_row_q4_1, NULL,
             DOTS(q4_1));
    add_type(GGML_TYPE_Q5_0, true, GGML_TYPE_Q8_0, dequantize_row_q5_0, NULL,
             DOTS(q5_0));
    add_type(GGML_TYPE_Q5_1, true, GGML_TYPE_Q8_1, dequantize_row_q5_1, NULL,
             DOTS(q5_1));
    add_type(GGML_TYPE_Q8_0, true, GGML_TYPE_Q8_0, dequantize_row_q8_0,
             quantize_row_q8_0, DOTS(q8_0));
    /* activation only: no weight ever has this type, so no dot product */
    add_type(GGML_TYPE_Q8_1, true, GGML_TYPE_Q8_1, dequantize_row_q8_1,
             quantize_row_q8_1, (dot_variants){NULL, NULL, NULL});
    add_type(GGML_TYPE_Q2_K, true, GGML_TYPE_Q8_K, dequantize_row_q2_K, NULL,
             DOTS(q2_K));
    add_type(GGML_TYPE_Q3_K, true, GGML_TYPE_Q8_K, dequantize_row_q3_K, NULL,
             DOTS(q3_K));
    add_type(GGML_TYPE_Q4_K, true, GGML_TYPE_Q8_K, dequantize_row_q4_K, NULL,
             DOTS(q4_K));
    add_type(GGML_TYPE_Q5_K, true, GGML_TYPE_Q8_K, dequantize_row_q5_K, NULL,
             DOTS(q5_K));
    add_type(GGML_TYPE_Q6_K, true, GGML_TYPE_Q8_K, dequantize_row_q6_K, NULL,
             DOTS(q6_K));
    add_type(GGML_TYPE_Q8_K, true, GGML_TYPE_Q8_K, dequantize_row_q8_K,
             quantize_row_q8_K, (dot_variants){NULL, NULL, NULL});

    chosen_level = detect_level();
    for (int i = 0; i < GGML_TYPE_COUNT; i++) {
        const dot_variants *v = &variants[i];
        lc_vec_dot_fn best = v->ref;
        if (chosen_level >= SIMD_AVX2 && v->avx2) best = v->avx2;
        if (chosen_level >= SIMD_AVX512 && v->avx512) best = v->avx512;
        traits[i].vec_dot = best;
    }
    /* Tile kernels exist only for AVX-512 VNNI; at the other levels the
     * prompt path calls vec_dot once per pair as before. */
    if (chosen_level >= SIMD_AVX512) {
        traits[GGML_TYPE_Q8_0].vec_dot_tile = vec_dot_tile_q8_0_avx512;
        traits[GGML_TYPE_Q4_K].vec_dot_tile = vec_dot_tile_q4_K_avx512;
        traits[GGML_TYPE_Q6_K].vec_dot_tile = vec_dot_tile_q6_K_avx512;
        traits[GGML_TYPE_F16].vec_dot_tile = vec_dot_tile_f16_avx512;
        /* F16's activations are rounded by vector too (same bits) */
        traits[GGML_TYPE_F16].from_float = convert_row_f16_avx512;
    }
}

const type_traits *ggml_get_type_traits(enum ggml_type type) {
    pthread_once(&traits_once, init_traits);
    if ((unsigned)type >= GGML_TYPE_COUNT || !traits[type].name) return NULL;
    return &traits[type];
}

const char *lc_simd_level(void) {
    pthread_once(&traits_once, init_traits);
    switch (chosen_level) {
    case SIMD_AVX512:
        return "avx512";
    case SIMD_AVX2:
        return "avx2";
    default:
        return "scalar";
    }
}
