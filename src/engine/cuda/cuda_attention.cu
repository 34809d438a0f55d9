/*
 * Attention over the device KV cache: for token i (sequence seq[i],
 * position pos[i]) and query head h reading KV head g = h / (n_head /
 * n_head_kv) (GQA),
 *
 *   att[i][h] = sum_j softmax_j(scale * q[i][h] · K[seq][j][g]) V[seq][j][g]
 *
 * over the keys j in [j0, pos] (causal; j0 = pos - n_swa + 1 on a
 * sliding-window layer, else 0), as lc_attention_head computes it.
 *
 * k_attn (flash-attention style): one block of 128 threads per (head,
 * token, split). It walks its key range in tiles of 64 keys with an online
 * softmax: the 4 warps compute the tile's scores (one key per warp at a
 * time, lanes over head_dim, so a key row is read coalesced), then the
 * running maximum m, the running sum l and the accumulator (thread t owns
 * output dims t and t + 128) are rescaled by exp(m_old - m_new) and the
 * tile's weighted values added (thread t reads V[j][t]: coalesced). Nothing
 * is materialised per position, so prompts of any length need no score
 * buffer.
 *
 * Decoding (few tokens, long caches) would leave most of the GPU idle with
 * one block per (head, token), so the key range is split (split-K) into up
 * to LCG_ATTN_MAX_SPLIT parts of >= LCG_ATTN_SPLIT_KEYS keys; each part
 * writes (m, l, unnormalised accumulator) and k_attn_reduce merges them:
 *   M = max m_z,  L = sum l_z e^(m_z - M),  out = sum acc_z e^(m_z - M) / L.
 * With one part the kernel writes the normalised output directly.
 */
#include <math.h>

#include "cuda_common.cuh"

#define TILE 64
#define WARPS (LCG_ATTN_THREADS / 32)

typedef struct attn_args {
    const float *q;           /* [n][n_head][hd] */
    const float *kc, *vc;     /* this layer's caches [n_seq][n_ctx][kv_dim] */
    const int32_t *seq, *pos; /* [n] */
    float *att;               /* [n][n_head][hd] (one split) */
    float *part;              /* [n][n_head][n_split][hd + 2] (several) */
    int n_head, hd, group, kv_dim, n_ctx, window, n_split;
    float scale;
} attn_args;

__global__ void __launch_bounds__(LCG_ATTN_THREADS) k_attn(attn_args a) {
    const int h = blockIdx.x, i = blockIdx.y, z = blockIdx.z;
    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    const int hd = a.hd, g = h / a.group;
    __shared__ float s_q[LCG_HEAD_DIM_MAX];
    __shared__ float s_p[TILE];

    /* keys [j0, j1] of this token; this split takes an equal share */
    const int pos = a.pos[i];
    const int j0 =
        a.window > 0 && pos - a.window + 1 > 0 ? pos - a.window + 1 : 0;
    const int n_keys = pos - j0 + 1;
    const int per = (n_keys + a.n_split - 1) / a.n_split;
    const int jb = j0 + z * per;
    const int je = min(jb + per, pos + 1); /* exclusive */

    const float *qv = a.q + ((size_t)i * a.n_head + h) * hd;
    for (int d = tid; d < hd; d += LCG_ATTN_THREADS) s_q[d] = qv[d];
    const size_t base = (size_t)a.seq[i] * a.n_ctx;
    const float *K = a.kc + base * a.kv_dim + (size_t)g * hd;
    const float *V = a.vc + base * a.kv_dim + (size_t)g * hd;
    __syncthreads();

    float m = -INFINITY, l = 0.0f, acc0 = 0.0f, acc1 = 0.0f;
    const int d0 = tid, d1 = tid + LCG_ATTN_THREADS;
    for (int t0 = jb; t0 < je; t0 += TILE) {
        const int nt = min(TILE, je - t0);
        /* scores of the tile: warp w takes keys w, w + 4, ... */
        for (int jj = warp; jj < nt; jj += WARPS) {
            const float *kr = K + (size_t)(t0 + jj) * a.kv_dim;
            float s = 0.0f;
            for (int d = lane; d < hd; d += 32) s += s_q[d] * kr[d];
            for (int off = 16; off > 0; off >>= 1)
                s += __shfl_xor_sync(0xffffffffu, s, off);
            if (lane == 0) s_p[jj] = s * a.scale;
        }
        __syncthreads();
        float tmax = -INFINITY;
        for (int jj = 0; jj < nt; jj++) tmax = fmaxf(tmax, s_p[jj]);
        const float m_new = fmaxf(m, tmax);
        const float corr = expf(m - m_new); /* 0 on the first tile */
        __syncthreads(); /* everyone has read the raw scores */
        if (tid < nt) s_p[tid] = expf(s_p[tid] - m_new);
        __syncthreads();
        float psum = 0.0f;
        float a0 = 0.0f, a1 = 0.0f;
        for (int jj = 0; jj < nt; jj++) {
            const float p = s_p[jj];
            psum += p;
            const float *vr = V + (size_t)(t0 + jj) * a.kv_dim;
            if (d0 < hd) a0 += p * vr[d0];
            if (d1 < hd) a1 += p * vr[d1];
        }
        l = l * corr + psum;
        acc0 = acc0 * corr + a0;
        acc1 = acc1 * corr + a1;
        m = m_new;
        __syncthreads(); /* s_p is rewritten by the next tile */
    }

    if (a.n_split == 1) {
        float *out = a.att + ((size_t)i * a.n_head + h) * hd;
        const float inv = l > 0.0f ? 1.0f / l : 0.0f;
        if (d0 < hd) out[d0] = acc0 * inv;
        if (d1 < hd) out[d1] = acc1 * inv;
        return;
    }
    float *pp =
        a.part + (((size_t)i * a.n_head + h) * a.n_split + z) * (hd + 2);
    if (d0 < hd) pp[d0] = acc0;
    if (d1 < hd) pp[d1] = acc1;
    if (tid == 0) {
        pp[hd] = m; /* -inf for an empty range */
        pp[hd + 1] = l;
    }
}

/* One block per (head, token): merges the n_split partial results. */
__global__ void __launch_bounds__(LCG_ATTN_THREADS)
    k_attn_reduce(const float *__restrict__ part, float *__restrict__ att,
                  int n_head, int hd, int n_split) {
    const int h = blockIdx.x, i = blockIdx.y;
    const float *pp = part + ((size_t)i * n_head + h) * n_split * (hd + 2);
    float M = -INFINITY;
    for (int z = 0; z < n_split; z++) M = fmaxf(M, pp[z * (hd + 2) + hd]);
    float L = 0.0f;
    for (int z = 0; z < n_split; z++) {
        const float mz = pp[z * (hd + 2) + hd];
        if (mz != -INFINITY) L += pp[z * (hd + 2) + hd + 1] * expf(mz - M);
    }
    const float inv = L > 0.0f ? 1.0f / L : 0.0f;
    float *out = att + ((size_t)i * n_head + h) * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float s = 0.0f;
        for (int z = 0; z < n_split; z++) {
            const float mz = pp[z * (hd + 2) + hd];
            if (mz != -INFINITY) s += pp[z * (hd + 2) + d] * expf(mz - M);
        }
        out[d] = s * inv;
    }
}

int lcg_attention(lc_gpu_ctx *gc, int il, float *att, const float *q,
                  const int32_t *seq, const int32_t *pos, int n, int max_keys,
                  char *err, size_t err_len) {
    if (n <= 0) return 0;
    const lc_gpu_model *gm = gc->gm;
    const lc_hparams *hp = &gm->hp;
    const size_t layer = (size_t)il * gc->n_seq * gc->n_ctx * gc->kv_dim;
    attn_args a;
    a.q = q;
    a.kc = gc->k_cache + layer;
    a.vc = gc->v_cache + layer;
    a.seq = seq;
    a.pos = pos;
    a.att = att;
    a.part = gc->att_part;
    a.n_head = hp->n_head;
    a.hd = hp->head_dim;
    a.group = hp->n_head / hp->n_head_kv;
    a.kv_dim = gc->kv_dim;
    a.n_ctx = gc->n_ctx;
    a.window = gm->layers[il].swa ? hp->n_swa : 0;
    a.scale = hp->attn_scale;
    /* Split only small batches (the partials are sized for LCG_MMV_MAX
     * tokens) whose (head, token) blocks cannot fill the GPU. */
    int n_split = 1;
    if (n <= LCG_MMV_MAX) {
        int keys = max_keys;
        if (a.window > 0 && keys > a.window) keys = a.window;
        n_split = (keys + LCG_ATTN_SPLIT_KEYS - 1) / LCG_ATTN_SPLIT_KEYS;
        if (n_split > LCG_ATTN_MAX_SPLIT) n_split = LCG_ATTN_MAX_SPLIT;
        if (n_split < 1) n_split = 1;
    }
    a.n_split = n_split;
    k_attn<<<dim3(hp->n_head, n, n_split), LCG_ATTN_THREADS, 0, gc->stream>>>(
        a);
    LCG_LAUNCHED("attention");
    if (n_split > 1) {
        k_attn_reduce<<<dim3(hp->n_head, n), LCG_ATTN_THREADS, 0, gc->stream>>>(
            gc->att_part, att, hp->n_head, hp->head_dim, n_split);
        LCG_LAUNCHED("attention reduce");
    }
    return 0;
}
