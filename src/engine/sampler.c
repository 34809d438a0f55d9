/*
 * Sampling: turns one row of logits into one token id.
 *
 * The chain follows llama.cpp's common sampler, in this order:
 *
 *   penalties -> top-k -> top-p -> min-p -> temperature -> softmax -> draw
 *
 * Greedy (temperature <= 0) is the exact argmax of the (penalised) logits,
 * ties going to the lowest id, so that it matches reference greedy runs bit
 * for bit. Penalties are off by default; when a caller turns them on they
 * apply to greedy picks too, as in llama.cpp.
 *
 * Cost: n_vocab can be 262k, so nothing here sorts the whole vocabulary:
 * top-k selects with a bounded heap (O(n_vocab log k)), top-p without
 * top-k histograms the probability mass and sorts only the bucket where
 * the cut falls, min-p is a threshold (O(n)).
 *
 * All state (PRNG, penalty history, scratch) hangs off the lc_sampler.
 */
#include "llamachat/engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One candidate token: its id and its current logit. */
typedef struct candidate {
    int32_t id;
    float logit;
} candidate;

struct lc_sampler {
    lc_sampler_params params;
    int n_vocab;

    /* xoshiro256** state: a small, fast PRNG with a 256-bit state, seeded
     * from `seed` through splitmix64 so that any seed (even 0) is good. */
    uint64_t rng[4];

    /* Penalty history: the last `repeat_last_n` accepted tokens in a ring,
     * and how often each token occurs in it ([n_vocab]). Keeping the counts
     * up to date on accept makes applying penalties O(repeat_last_n). */
    int32_t *history; /* [repeat_last_n] */
    int n_history;    /* tokens held, <= repeat_last_n */
    int history_head; /* index of the oldest token */
    int *counts;      /* [n_vocab] */

    candidate *cand; /* [n_vocab] scratch for top-p */
    candidate *kept; /* [n_vocab] scratch: the candidates still in play */
    float *logits;   /* [n_vocab] scratch: logits after penalties */
};

/* ------------------------------------------------------------------ PRNG */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void rng_seed(uint64_t s[4], uint64_t seed) {
    for (int i = 0; i < 4; i++) s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(uint64_t s[4]) {
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform double in [0, 1): the top 53 bits fill a double's mantissa. */
static double rng_uniform(uint64_t s[4]) {
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* ------------------------------------------------------------ lifecycle */

lc_sampler_params lc_sampler_default_params(void) {
    /* The defaults of llama.cpp's common sampler. */
    lc_sampler_params p;
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.0f;
    p.seed = 0;
    return p;
}

lc_sampler *lc_sampler_new(const lc_sampler_params *params, int n_vocab) {
    if (n_vocab <= 0) return NULL;
    lc_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->params = params ? *params : lc_sampler_default_params();
    /* A negative window makes no sense here; treat it as "no history". */
    if (s->params.repeat_last_n < 0) s->params.repeat_last_n = 0;
    s->n_vocab = n_vocab;
    size_t n = (size_t)n_vocab;
    s->counts = calloc(n, sizeof *s->counts);
    s->cand = malloc(n * sizeof *s->cand);
    s->kept = malloc(n * sizeof *s->kept);
    s->logits = malloc(n * sizeof *s->logits);
    if (s->params.repeat_last_n > 0)
        s->history =
            malloc((size_t)s->params.repeat_last_n * sizeof *s->history);
    if (!s->counts || !s->cand || !s->kept || !s->logits ||
        (s->params.repeat_last_n > 0 && !s->history)) {
        lc_sampler_free(s);
        return NULL;
    }
    rng_seed(s->rng, s->params.seed);
    return s;
}

void lc_sampler_free(lc_sampler *s) {
    if (!s) return;
    free(s->history);
    free(s->counts);
    free(s->cand);
    free(s->kept);
    free(s->logits);
    free(s);
}

void lc_sampler_reset(lc_sampler *s) {
    if (!s) return;
    /* Forget the history; the PRNG restarts from the seed so that a reset
     * sampler repeats its first run exactly. */
    memset(s->counts, 0, (size_t)s->n_vocab * sizeof *s->counts);
    s->n_history = 0;
    s->history_head = 0;
    rng_seed(s->rng, s->params.seed);
}

void lc_sampler_accept(lc_sampler *s, int32_t token) {
    if (!s || token < 0 || token >= s->n_vocab) return;
    int cap = s->params.repeat_last_n;
    if (cap <= 0) return;
    if (s->n_history == cap) {
        /* Ring full: the oldest token leaves the window. */
        s->counts[s->history[s->history_head]]--;
        s->history[s->history_head] = token;
        s->history_head = (s->history_head + 1) % cap;
    } else {
        s->history[(s->history_head + s->n_history) % cap] = token;
        s->n_history++;
    }
    s->counts[token]++;
}

/* ------------------------------------------------------------ penalties */

static bool penalties_active(const lc_sampler *s) {
    const lc_sampler_params *p = &s->params;
    return p->repeat_last_n > 0 && s->n_history > 0 &&
           (p->repeat_penalty != 1.0f || p->presence_penalty != 0.0f ||
            p->frequency_penalty != 0.0f);
}

/* Copies logits [n_vocab] into s->logits with NaN mapped to -inf (so a bad
 * row cannot poison comparisons) and the penalties applied to every token
 * of the history window. Each distinct token is penalised once: a token's
 * count is zeroed in a second pass so duplicates in the ring are skipped. */
static const float *penalised_logits(lc_sampler *s, const float *logits) {
    int n = s->n_vocab;
    for (int i = 0; i < n; i++)
        s->logits[i] = isnan(logits[i]) ? -INFINITY : logits[i];
    if (!penalties_active(s)) return s->logits;

    const lc_sampler_params *p = &s->params;
    int cap = p->repeat_last_n;
    for (int j = 0; j < s->n_history; j++) {
        int32_t t = s->history[(s->history_head + j) % cap];
        int count = s->counts[t];
        if (count <= 0) continue; /* already penalised */
        float l = s->logits[t];
        /* Dividing a negative logit would make it MORE likely, so negative
         * logits are multiplied instead (the CTRL paper's rule). */
        l = l > 0.0f ? l / p->repeat_penalty : l * p->repeat_penalty;
        l -= (float)count * p->frequency_penalty + p->presence_penalty;
        s->logits[t] = l;
        s->counts[t] = -count; /* mark as done */
    }
    for (int j = 0; j < s->n_history; j++) {
        int32_t t = s->history[(s->history_head + j) % cap];
        if (s->counts[t] < 0) s->counts[t] = -s->counts[t];
    }
    return s->logits;
}

/* --------------------------------------------------------------- greedy */

/* exp((l - max) * inv_t), the unnormalised softmax weight of a logit. The
 * l == max case is spelled out so that a +inf maximum gives 1, not NaN. */
static double weight(float l, float max, float inv_t) {
    if (l == max) return 1.0;
    /* expf: single precision is plenty for one weight (sums are double),
     * and at 262k tokens per draw the speed matters. */
    return (double)expf((l - max) * inv_t);
}

static int32_t sample_greedy(const float *logits, int n, float *prob) {
    /* logits: [n]. Strict '>' keeps the lowest id among equal maxima. */
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = i;
    if (prob) {
        float max = logits[best];
        if (max == -INFINITY) {
            *prob = 0.0f; /* nothing is possible; report no confidence */
        } else {
            double sum = 0.0;
            for (int i = 0; i < n; i++) sum += weight(logits[i], max, 1.0f);
            *prob = (float)(1.0 / sum);
        }
    }
    return best;
}

/* ------------------------------------------------------------- top-k */

/* Order of candidates: higher logit first, lower id on ties (so results do
 * not depend on the order in which candidates are visited). */
static bool better(const candidate *a, const candidate *b) {
    if (a->logit != b->logit) return a->logit > b->logit;
    return a->id < b->id;
}

static int cmp_better(const void *a, const void *b) {
    return better(a, b) ? -1 : better(b, a) ? 1 : 0;
}

/* Sift-down in a MIN-heap h [n] (the worst candidate at the root). */
static void sift_down_worst(candidate *h, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && better(&h[w], &h[l])) w = l;
        if (r < n && better(&h[w], &h[r])) w = r;
        if (w == i) return;
        candidate t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* The k best of logits [n] into out [k], best first. A min-heap of the k
 * best so far: most tokens lose against its root with one comparison, so
 * this is O(n) in practice and O(n log k) at worst; then O(k log k). */
static void select_top_k(const float *logits, int n, int k, candidate *out) {
    for (int i = 0; i < k; i++) out[i] = (candidate){i, logits[i]};
    for (int i = k / 2 - 1; i >= 0; i--) sift_down_worst(out, k, i);
    for (int i = k; i < n; i++) {
        candidate c = {i, logits[i]};
        if (better(&c, &out[0])) {
            out[0] = c;
            sift_down_worst(out, k, 0);
        }
    }
    qsort(out, (size_t)k, sizeof *out, cmp_better);
}

/* ------------------------------------------------------------- top-p */

enum { N_BUCKETS = 512 };
/* Logits this far below the best carry a weight under e^-40 (< 1e-17) of
 * the best one: they all share the last bucket. */
#define BUCKET_SPAN 40.0f

/* Top-p over candidates c [n] in no particular order (top-k off): keeps
 * the smallest set of best tokens whose probability reaches p, and returns
 * its size (the kept tokens first in c, not sorted). Sorting all n would
 * cost O(n log n) at 262k tokens; instead the probability mass is
 * histogrammed by logit into buckets (best first), the bucket where the
 * cumulative mass crosses p is found, and only that bucket is sorted.
 * scratch: [n]. */
static int bucket_of(float l, float max) {
    if (l == max) return 0; /* also a +inf maximum */
    float d = (max - l) * ((float)N_BUCKETS / BUCKET_SPAN); /* >= 0 */
    return d < (float)(N_BUCKETS - 1) ? (int)d : N_BUCKETS - 1;
}

static int top_p_unsorted(candidate *c, int n, float p, float max, double z,
                          candidate *scratch) {
    double mass[N_BUCKETS] = {0};
    for (int i = 0; i < n; i++)
        mass[bucket_of(c[i].logit, max)] += weight(c[i].logit, max, 1.0f);
    double target = (double)p * z, cum = 0.0;
    int cross = N_BUCKETS - 1;
    for (int b = 0; b < N_BUCKETS; b++) {
        if (cum + mass[b] >= target) {
            cross = b;
            break;
        }
        cum += mass[b];
    }
    /* Buckets before `cross` are kept whole; `cross` goes to scratch. */
    int n_kept = 0, n_cross = 0;
    for (int i = 0; i < n; i++) {
        int b = bucket_of(c[i].logit, max);
        if (b < cross)
            c[n_kept++] = c[i];
        else if (b == cross)
            scratch[n_cross++] = c[i];
    }
    qsort(scratch, (size_t)n_cross, sizeof *scratch, cmp_better);
    for (int i = 0; i < n_cross; i++) {
        c[n_kept++] = scratch[i];
        cum += weight(scratch[i].logit, max, 1.0f);
        if (cum >= target) break;
    }
    return n_kept;
}

/* --------------------------------------------------------------- chain */

/* Applies top-k, top-p and min-p to logits [n] (after penalties). Writes
 * the kept candidates into s->kept and returns how many; the best token
 * is always kept. */
static int truncate_candidates(lc_sampler *s, const float *logits) {
    const lc_sampler_params *p = &s->params;
    int n = s->n_vocab;
    candidate *c = s->kept; /* [n] */
    int n_c;

    /* top-k: the k best, sorted. */
    bool sorted = p->top_k > 0 && p->top_k < n;
    if (sorted) {
        n_c = p->top_k;
        select_top_k(logits, n, n_c, c);
    } else {
        n_c = n;
        for (int i = 0; i < n; i++) c[i] = (candidate){i, logits[i]};
    }
    float max = c[0].logit;
    for (int i = 1; i < n_c; i++)
        if (c[i].logit > max) max = c[i].logit;
    if (max == -INFINITY) return n_c; /* nothing to rank */

    /* top-p: softmax over what top-k left, smallest best set >= p. */
    if (p->top_p < 1.0f) {
        double z = 0.0;
        for (int i = 0; i < n_c; i++) z += weight(c[i].logit, max, 1.0f);
        if (sorted) {
            double cum = 0.0;
            for (int i = 0; i < n_c; i++) {
                cum += weight(c[i].logit, max, 1.0f);
                if (cum >= (double)p->top_p * z) {
                    n_c = i + 1;
                    break;
                }
            }
        } else {
            n_c = top_p_unsorted(c, n_c, p->top_p, max, z, s->cand);
        }
    }

    /* min-p: keep logits >= max + log(min_p), i.e. p >= min_p * p_max.
     * The best token survives top-p, so max is still the maximum. */
    if (p->min_p > 0.0f) {
        float min_logit = max + logf(p->min_p);
        int m = 0;
        for (int i = 0; i < n_c; i++)
            if (c[i].logit >= min_logit || c[i].logit == max) c[m++] = c[i];
        n_c = m;
    }
    return n_c;
}

int32_t lc_sampler_sample(lc_sampler *s, const float *logits, float *prob) {
    if (prob) *prob = 0.0f;
    if (!s || !logits) return 0;
    const float *l = penalised_logits(s, logits);
    if (s->params.temperature <= 0.0f)
        return sample_greedy(l, s->n_vocab, prob);

    candidate *kept = s->kept; /* [n_kept] */
    int n_kept = truncate_candidates(s, l);

    /* Temperature, then softmax over the kept tokens. */
    float inv_t = 1.0f / s->params.temperature;
    float max = -INFINITY;
    for (int i = 0; i < n_kept; i++)
        if (kept[i].logit > max) max = kept[i].logit;
    if (max == -INFINITY) {
        /* Every logit is -inf (or NaN): nothing to draw from. */
        return kept[0].id;
    }
    double sum = 0.0;
    for (int i = 0; i < n_kept; i++) sum += weight(kept[i].logit, max, inv_t);

    /* Draw: walk the cumulative weights to u * sum. */
    double u = rng_uniform(s->rng) * sum, acc = 0.0;
    int pick = n_kept - 1;
    for (int i = 0; i < n_kept; i++) {
        acc += weight(kept[i].logit, max, inv_t);
        if (u < acc) {
            pick = i;
            break;
        }
    }
    /* Rounding can leave u just past the last sum: fall back to the last
     * token with non-zero weight rather than one of weight zero. */
    while (pick > 0 && weight(kept[pick].logit, max, inv_t) == 0.0) pick--;
    if (prob) *prob = (float)(weight(kept[pick].logit, max, inv_t) / sum);
    return kept[pick].id;
}

/* ---------------------------------------------------------- stop strings */

long lc_find_stop(const char *text, size_t len, const char *const *stops,
                  int n_stops, size_t *partial) {
    long first = -1;
    size_t hold = 0;
    for (int k = 0; k < n_stops; k++) {
        if (!stops || !stops[k] || !stops[k][0]) continue;
        const char *stop = stops[k];
        size_t sl = strlen(stop);
        /* A complete occurrence. */
        for (size_t i = 0; i + sl <= len; i++) {
            if (first >= 0 && (long)i >= first) break;
            if (memcmp(text + i, stop, sl) == 0) {
                first = (long)i;
                break;
            }
        }
        /* The longest suffix of text that is a proper prefix of stop: it
         * may become a stop string once more text arrives. */
        size_t max_m = sl - 1 < len ? sl - 1 : len;
        for (size_t m = max_m; m > hold; m--) {
            if (memcmp(text + len - m, stop, m) == 0) {
                hold = m;
                break;
            }
        }
    }
    if (partial) *partial = first >= 0 ? 0 : hold;
    return first;
}
