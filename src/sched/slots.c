/*
 * Sequence slots and KV reuse.
 *
 * The K/V of a token depend only on the tokens before it and its position,
 * so any prefix that a slot's cache shares with a new prompt can be kept:
 * only the rest of the prompt is evaluated. A slot is chosen among the free
 * ones in this order:
 *   1. the slot last used with the job's cache key (the next turn of the
 *      same conversation: its history is the new prompt's prefix);
 *   2. the slot sharing the longest prefix with the prompt, when that
 *      prefix is more than half of the prompt (a shared BOS or system
 *      prompt alone is not worth evicting another session's history);
 *   3. the least recently used slot (what it holds is least likely to be
 *      asked for again).
 */
#include <stdlib.h>
#include <string.h>

#include "sched/sched_impl.h"

/* Length of the common prefix of a slot's tokens [n_tokens] and a prompt. */
static int common_prefix(const lc_slot *sl, const int32_t *prompt, int n) {
    int lim = sl->n_tokens < n ? sl->n_tokens : n;
    int i = 0;
    while (i < lim && sl->tokens[i] == prompt[i]) i++;
    return i;
}

static int find_by_key(const lc_sched *s, const char *key) {
    if (!key) return -1;
    for (int i = 0; i < s->n_slots; i++) {
        const lc_slot *sl = &s->slots[i];
        if (!sl->job && sl->cache_key && strcmp(sl->cache_key, key) == 0)
            return i;
    }
    return -1;
}

static int find_by_prefix(const lc_sched *s, const lc_job *j) {
    int best = -1, best_len = 0;
    for (int i = 0; i < s->n_slots; i++) {
        const lc_slot *sl = &s->slots[i];
        if (sl->job) continue;
        int len = common_prefix(sl, j->prompt, j->n_prompt);
        if (2 * len > j->n_prompt && len > best_len) {
            best = i;
            best_len = len;
        }
    }
    return best;
}

static int find_lru(const lc_sched *s) {
    int best = -1;
    for (int i = 0; i < s->n_slots; i++) {
        const lc_slot *sl = &s->slots[i];
        if (sl->job) continue;
        if (best < 0 || sl->last_used < s->slots[best].last_used) best = i;
    }
    return best;
}

void lc_slots_assign(lc_sched *s, lc_job *j) {
    int i = find_by_key(s, j->cache_key);
    if (i < 0) i = find_by_prefix(s, j);
    if (i < 0) i = find_lru(s);
    /* The caller admits a job only when a slot is free. */
    lc_slot *sl = &s->slots[i];

    /* Keep the shared prefix, but always leave at least the last prompt
     * token to evaluate: its logits give the first generated token. */
    int keep = common_prefix(sl, j->prompt, j->n_prompt);
    if (keep > j->n_prompt - 1) keep = j->n_prompt - 1;
    const int held = lc_kv_seq_len(s->ctx, i);
    if (keep > held) keep = held; /* the mirror never outruns the cache */
    lc_kv_seq_rm(s->ctx, i, keep, -1);
    sl->n_tokens = keep;

    free(sl->cache_key);
    sl->cache_key = j->cache_key ? strdup(j->cache_key) : NULL;
    sl->job = j;
    sl->last_used = ++s->use_clock;
    j->run.slot = i;
    j->run.n_fed = keep;
    j->run.n_cached = keep;
}

void lc_slots_release(lc_sched *s, lc_job *j) {
    if (j->run.slot < 0) return;
    lc_slot *sl = &s->slots[j->run.slot];
    sl->job = NULL;
    sl->last_used = ++s->use_clock;
    j->run.slot = -1;
}
