/*
 * SentencePiece-style tokenizer ("llama" vocabularies).
 *
 * The text (spaces written as U+2581, optionally with one prefixed) is cut
 * into UTF-8 characters; then, repeatedly, the adjacent pair whose
 * concatenation is the token with the highest score is merged (ties: the
 * leftmost pair). A priority queue holds the candidate pairs; entries made
 * stale by an earlier merge are skipped when popped. Characters that never
 * became tokens are written as byte tokens <0xXX>.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"

typedef struct symbol {
    int prev, next; /* linked list of live symbols; -1 ends */
    size_t off;     /* into the escaped text */
    size_t n;       /* bytes; 0 once merged into its left neighbour */
} symbol;

typedef struct bigram {
    float score;
    int left, right;
    size_t size; /* bytes of the merged text when it was queued */
} bigram;

typedef struct spm_state {
    const lc_vocab *v;
    const char *text;
    symbol *sym;
    bigram *all; /* every bigram ever queued (the heap refers to these) */
    int n_all, cap_all;
    int *heap; /* indices into all */
    int n_heap;
    bool failed;
} spm_state;

/* a before b: higher score, then leftmost. */
static bool before(const bigram *a, const bigram *b) {
    if (a->score != b->score) return a->score > b->score;
    return a->left < b->left;
}

static void heap_push(spm_state *s, int idx) {
    int i = s->n_heap++;
    s->heap[i] = idx;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!before(&s->all[s->heap[i]], &s->all[s->heap[p]])) break;
        int t = s->heap[i];
        s->heap[i] = s->heap[p];
        s->heap[p] = t;
        i = p;
    }
}

static int heap_pop(spm_state *s) {
    int top = s->heap[0];
    s->heap[0] = s->heap[--s->n_heap];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->n_heap && before(&s->all[s->heap[l]], &s->all[s->heap[m]]))
            m = l;
        if (r < s->n_heap && before(&s->all[s->heap[r]], &s->all[s->heap[m]]))
            m = r;
        if (m == i) break;
        int t = s->heap[i];
        s->heap[i] = s->heap[m];
        s->heap[m] = t;
        i = m;
    }
    return top;
}

static void try_add_bigram(spm_state *s, int left, int right) {
    if (left < 0 || right < 0 || s->failed) return;
    size_t size = s->sym[left].n + s->sym[right].n;
    int32_t id = lc_vocab_find(s->v, s->text + s->sym[left].off, size);
    if (id < 0) return;
    if (s->n_all == s->cap_all) {
        int cap = s->cap_all * 2;
        bigram *all = realloc(s->all, (size_t)cap * sizeof *all);
        int *heap = realloc(s->heap, (size_t)cap * sizeof *heap);
        if (all) s->all = all;
        if (heap) s->heap = heap;
        if (!all || !heap) {
            s->failed = true;
            return;
        }
        s->cap_all = cap;
    }
    s->all[s->n_all] = (bigram){s->v->tokens[id].score, left, right, size};
    heap_push(s, s->n_all++);
}

static void push_bytes(spm_state *s, const symbol *sym, lc_tokbuf *out) {
    for (size_t j = 0; j < sym->n; j++) {
        int32_t id = s->v->byte_token[(unsigned char)s->text[sym->off + j]];
        /* A vocabulary without byte tokens has no better answer than
         * the unknown token. */
        if (id < 0) id = s->v->unk;
        if (id >= 0) lc_tokbuf_push(out, id);
    }
}

/* Writes a final symbol: its token, else (rarely) the two halves it was
 * once queued as, else its bytes. */
static void resegment(spm_state *s, int i, lc_tokbuf *out, int depth) {
    const symbol *sym = &s->sym[i];
    const char *t = s->text + sym->off;
    int32_t id = lc_vocab_find(s->v, t, sym->n);
    if (id >= 0) {
        lc_tokbuf_push(out, id);
        return;
    }
    for (int k = s->n_all - 1; k >= 0 && depth < 32; k--) {
        const bigram *b = &s->all[k];
        if (b->size == sym->n &&
            memcmp(s->text + s->sym[b->left].off, t, sym->n) == 0) {
            resegment(s, b->left, out, depth + 1);
            resegment(s, b->right, out, depth + 1);
            return;
        }
    }
    push_bytes(s, sym, out);
}

void lc_spm_tokenize(const lc_vocab *v, const char *text, size_t len,
                     bool prefix_space, lc_tokbuf *out) {
    /* Escape: ' ' -> U+2581 (3 bytes). */
    size_t cap = (len + 1) * 3;
    char *esc = malloc(cap);
    if (!esc) {
        out->failed = true;
        return;
    }
    size_t n = 0;
    if (prefix_space) {
        memcpy(esc, "\xe2\x96\x81", 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(esc + n, "\xe2\x96\x81", 3);
            n += 3;
        } else {
            esc[n++] = text[i];
        }
    }
    if (n == 0) {
        free(esc);
        return;
    }

    spm_state s = {.v = v, .text = esc};
    s.sym = malloc(n * sizeof *s.sym);
    s.cap_all = (int)n + 16;
    s.all = malloc((size_t)s.cap_all * sizeof *s.all);
    s.heap = malloc((size_t)s.cap_all * sizeof *s.heap);
    if (!s.sym || !s.all || !s.heap) {
        out->failed = true;
        goto done;
    }

    int n_sym = 0;
    for (size_t off = 0; off < n;) {
        size_t cl = (size_t)lc_utf8_len((unsigned char)esc[off]);
        if (cl > n - off) cl = n - off;
        s.sym[n_sym] = (symbol){n_sym - 1, -1, off, cl};
        off += cl;
        if (off < n) s.sym[n_sym].next = n_sym + 1;
        n_sym++;
    }
    for (int i = 1; i < n_sym; i++) try_add_bigram(&s, i - 1, i);

    while (s.n_heap > 0 && !s.failed) {
        const bigram b = s.all[heap_pop(&s)];
        symbol *l = &s.sym[b.left], *r = &s.sym[b.right];
        /* Stale: one side was merged away or has grown since. */
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) s.sym[r->next].prev = b.left;
        try_add_bigram(&s, l->prev, b.left);
        try_add_bigram(&s, b.left, l->next);
    }
    if (s.failed) {
        out->failed = true;
        goto done;
    }
    for (int i = 0; i != -1; i = s.sym[i].next) resegment(&s, i, out, 0);

done:
    free(s.sym);
    free(s.all);
    free(s.heap);
    free(esc);
}
