/* Memory retrieval for a turn; see memory.h. */
#include "chat/memory.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/text.h"
#include "store/search.h"

#define DEFAULT_TOP_K 3
#define DEFAULT_MAX_TOKENS 256
#define MAX_EMBED_DIM 16384
/* The time a turn may spend on vector retrieval before memory falls back
 * to full-text: a turn's first token should not wait much longer. */
#define LC_MEMORY_SEARCH_MS 1500
#define NOTES_HEADER "Relevant notes from earlier conversations:\n"

static void set_err(char *err, size_t err_len, const char *msg) {
    if (err && err_len) snprintf(err, err_len, "%s", msg);
}

static void defaults(lc_memory_settings *s) {
    s->enabled = false;
    s->top_k = DEFAULT_TOP_K;
    s->max_tokens = DEFAULT_MAX_TOKENS;
}

int lc_memory_settings_parse(const json_t *obj, const lc_memory_settings *base,
                             lc_memory_settings *out, char *err,
                             size_t err_len) {
    lc_memory_settings s;
    if (base)
        s = *base;
    else
        defaults(&s);
    if (!json_is_object(obj)) {
        set_err(err, err_len, "'memory' must be an object");
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        if (strcmp(key, "enabled") == 0) {
            if (!json_is_boolean(v)) {
                set_err(err, err_len, "'memory.enabled' must be a boolean");
                return -1;
            }
            s.enabled = json_is_true(v);
        } else if (strcmp(key, "top_k") == 0) {
            json_int_t k = json_is_integer(v) ? json_integer_value(v) : 0;
            if (k < 1 || k > LC_MEMORY_TOP_K_MAX) {
                set_err(err, err_len,
                        "'memory.top_k' must be an integer in 1..20");
                return -1;
            }
            s.top_k = (int)k;
        } else if (strcmp(key, "max_tokens") == 0) {
            json_int_t t = json_is_integer(v) ? json_integer_value(v) : 0;
            if (t < LC_MEMORY_TOKENS_MIN || t > LC_MEMORY_TOKENS_MAX) {
                set_err(err, err_len,
                        "'memory.max_tokens' must be an integer in 16..4096");
                return -1;
            }
            s.max_tokens = (int)t;
        } else {
            if (err && err_len)
                snprintf(err, err_len,
                         "unknown field 'memory.%.64s' (enabled, top_k, "
                         "max_tokens)",
                         key);
            return -1;
        }
    }
    *out = s;
    return 0;
}

void lc_memory_settings_from_metadata(const char *metadata,
                                      lc_memory_settings *out) {
    defaults(out);
    if (!metadata) return;
    json_t *root = json_loads(metadata, 0, NULL);
    json_t *mem = root ? json_object_get(root, "memory") : NULL;
    lc_memory_settings s;
    /* stored by PATCH after the same checks; anything else reads as off */
    if (mem && lc_memory_settings_parse(mem, NULL, &s, NULL, 0) == 0) *out = s;
    json_decref(root);
}

json_t *lc_memory_settings_json(const lc_memory_settings *s) {
    return json_pack("{s:b, s:i, s:i}", "enabled", s->enabled, "top_k",
                     s->top_k, "max_tokens", s->max_tokens);
}

void lc_memory_free(lc_memory *m) {
    if (!m) return;
    free(m->notes);
    free(m->ids);
    memset(m, 0, sizeof *m);
}

/* Tokens of text under the chat model (no BOS: it sits inside a prompt);
 * a large number when the tokenizer fails, so the text is not used. */
static int count_tokens(const lc_model *model, const char *text, size_t len) {
    int cap = (int)len + 8; /* a token covers at least one byte */
    int32_t *buf = malloc((size_t)cap * sizeof *buf);
    if (!buf) return 1 << 30;
    int n = lc_tokenize(model, text, len, false, false, buf, cap);
    free(buf);
    return n < 0 ? 1 << 30 : n;
}

/* One note's line: "- (role, YYYY-MM-DD) text\n" with the text's line
 * breaks folded, so each note stays one line; text cut to keep bytes. */
static void append_note(lc_strbuf *b, const lc_search_hit *h, size_t keep) {
    char head[64];
    snprintf(head, sizeof head, "- (%s, %.10s) ", h->role, h->created_at);
    lc_strbuf_append(b, head, strlen(head));
    for (size_t i = 0; i < keep; i++) {
        char c = h->content[i];
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
        lc_strbuf_append(b, &c, 1);
    }
    if (keep < strlen(h->content)) lc_strbuf_append(b, " ...", 4);
    lc_strbuf_append(b, "\n", 1);
}

/* A cut point at or below n that is a word boundary (or at least a UTF-8
 * character boundary when the text has no space). */
static size_t cut_point(const char *s, size_t n) {
    size_t k = n;
    while (k > 0 && s[k] != ' ' && s[k] != '\0') k--;
    if (k > 0) return k;
    k = n;
    while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80) k--;
    return k;
}

/* Appends as much of hit h to b as the budget allows: whole, or cut
 * (found by bisection on the byte length). Returns false when not even a
 * few words fit. */
static bool fit_note(const lc_model *model, lc_strbuf *b,
                     const lc_search_hit *h, int budget) {
    size_t len = strlen(h->content);
    size_t base = b->len;
    append_note(b, h, len);
    if (b->oom) return false;
    if (count_tokens(model, b->data, b->len) <= budget) return true;
    /* too long: the longest prefix that fits */
    size_t lo = 0, hi = len;
    while (lo + 1 < hi) {
        size_t mid = (lo + hi) / 2;
        b->len = base;
        append_note(b, h, cut_point(h->content, mid));
        if (b->oom) return false;
        if (count_tokens(model, b->data, b->len) <= budget)
            lo = mid;
        else
            hi = mid;
    }
    b->len = base;
    size_t keep = cut_point(h->content, lo);
    if (keep == 0) {
        if (b->data) b->data[base] = '\0';
        return false;
    }
    append_note(b, h, keep);
    return !b->oom;
}

int lc_memory_recall(lc_db *db, const lc_model *model,
                     const lc_memory_settings *s, const char *user_id,
                     const char *session_id, const char *message,
                     lc_memory_embed_fn embed, void *embed_ud, lc_memory *out,
                     char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    if (!s->enabled) return 0;
    /* the query vector when an embedding model is loaded */
    float *qvec = NULL;
    int dim = -1;
    if (embed) {
        qvec = malloc(MAX_EMBED_DIM * sizeof *qvec);
        if (qvec) dim = embed(embed_ud, message, qvec, MAX_EMBED_DIM);
    }
    /* the search refuses a query beyond its size: the start of a long
     * message stands for it */
    char query[LC_SEARCH_QUERY_MAX + 1];
    size_t qlen = strlen(message);
    if (qlen > LC_SEARCH_QUERY_MAX)
        qlen = cut_point(message, LC_SEARCH_QUERY_MAX);
    memcpy(query, message, qlen);
    query[qlen] = '\0';
    lc_search_query q = {
        .user_id = user_id,
        .text = query,
        .qvec = dim > 0 ? qvec : NULL,
        .dim = dim,
        .exclude_session_id = session_id,
        .limit = s->top_k,
        .any_word = true,
        .timeout_ms = LC_MEMORY_SEARCH_MS,
    };
    lc_search_hit *hits = NULL;
    size_t n = 0;
    lc_store_error e = {0};
    lc_store_status st = lc_search_run(db, &q, &hits, &n, NULL, &e);
    if (st != LC_STORE_OK && st != LC_STORE_UNAVAILABLE && q.qvec) {
        /* most likely the time limit: exact cosine over a long history on
         * the array fallback; full-text alone is fast */
        q.qvec = NULL;
        st = lc_search_run(db, &q, &hits, &n, NULL, &e);
    }
    free(qvec);
    if (st != LC_STORE_OK) {
        set_err(err, err_len, e.message);
        return -1;
    }
    if (n == 0) return 0;
    out->ids = calloc(n, sizeof *out->ids);
    lc_strbuf b = {0};
    lc_strbuf_append(&b, NOTES_HEADER, strlen(NOTES_HEADER));
    for (size_t i = 0; out->ids && !b.oom && i < n; i++) {
        if (!fit_note(model, &b, &hits[i], s->max_tokens)) break;
        snprintf(out->ids[out->n_ids++], 37, "%s", hits[i].message_id);
        /* a cut note fills the budget: nothing more would fit */
        if (count_tokens(model, b.data, b.len) >= s->max_tokens) break;
    }
    lc_search_hits_free(hits, n);
    if (!out->ids || b.oom) {
        lc_strbuf_free(&b);
        lc_memory_free(out);
        set_err(err, err_len, "out of memory");
        return -1;
    }
    if (out->n_ids == 0) {
        lc_strbuf_free(&b);
        lc_memory_free(out);
        return 0;
    }
    out->notes = lc_strbuf_take(&b);
    if (!out->notes) {
        lc_memory_free(out);
        set_err(err, err_len, "out of memory");
        return -1;
    }
    return 0;
}

char *lc_memory_add_to_metadata(const char *metadata, const lc_memory *m) {
    json_t *root = json_loads(metadata ? metadata : "{}", 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return NULL;
    }
    json_t *ids = json_array();
    for (int i = 0; m && i < m->n_ids; i++)
        json_array_append_new(ids, json_string(m->ids[i]));
    json_object_set_new(root, "memory", ids);
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}
