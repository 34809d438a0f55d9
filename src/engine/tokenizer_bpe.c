/*
 * Byte-level BPE ("gpt2" vocabularies).
 *
 * The text is split into words by the family's pre-tokenizer; each word's
 * bytes are written in GPT-2's byte alphabet (every byte a printable
 * character), cut into characters, and then the adjacent pair with the
 * lowest merge rank is merged (ties: leftmost) until no listed merge
 * applies. Each final symbol is a token; one that is not (which a complete
 * merge list never produces) is written byte by byte where possible.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"

typedef struct symbol {
    int prev, next;
    int off; /* into the encoded word */
    int n;   /* bytes; 0 once merged into its left neighbour */
} symbol;

typedef struct bigram {
    int rank;
    int left, right;
    int left_n, right_n; /* sizes when queued: a change makes it stale */
} bigram;

typedef struct bpe_heap {
    bigram *items;
    int n, cap;
} bpe_heap;

/* a before b: lower rank, then leftmost. */
static bool before(const bigram *a, const bigram *b) {
    if (a->rank != b->rank) return a->rank < b->rank;
    return a->left < b->left;
}

static bool heap_push(bpe_heap *h, bigram b) {
    if (h->n == h->cap) {
        int cap = h->cap ? h->cap * 2 : 64;
        bigram *items = realloc(h->items, (size_t)cap * sizeof *items);
        if (!items) return false;
        h->items = items;
        h->cap = cap;
    }
    int i = h->n++;
    h->items[i] = b;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!before(&h->items[i], &h->items[p])) break;
        bigram t = h->items[i];
        h->items[i] = h->items[p];
        h->items[p] = t;
        i = p;
    }
    return true;
}

static bigram heap_pop(bpe_heap *h) {
    bigram top = h->items[0];
    h->items[0] = h->items[--h->n];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && before(&h->items[l], &h->items[m])) m = l;
        if (r < h->n && before(&h->items[r], &h->items[m])) m = r;
        if (m == i) break;
        bigram t = h->items[i];
        h->items[i] = h->items[m];
        h->items[m] = t;
        i = m;
    }
    return top;
}

static bool add_bigram(const lc_vocab *v, const char *word, const symbol *sym,
                       int left, int right, bpe_heap *h) {
    if (left < 0 || right < 0) return true;
    const symbol *l = &sym[left], *r = &sym[right];
    int rank = lc_vocab_merge_rank(v, word + l->off, (size_t)l->n,
                                   word + r->off, (size_t)r->n);
    if (rank < 0) return true;
    return heap_push(h, (bigram){rank, left, right, l->n, r->n});
}

/* Merges one encoded word and appends its tokens. */
static bool bpe_word(const lc_vocab *v, const char *word, int len, symbol *sym,
                     bpe_heap *h, lc_tokbuf *out) {
    if (v->ignore_merges) {
        int32_t id = lc_vocab_find(v, word, (size_t)len);
        if (id >= 0) {
            lc_tokbuf_push(out, id);
            return true;
        }
    }
    int n_sym = 0;
    for (int off = 0; off < len;) {
        int cl = lc_utf8_len((unsigned char)word[off]);
        if (cl > len - off) cl = len - off;
        sym[n_sym] = (symbol){n_sym - 1, -1, off, cl};
        off += cl;
        if (off < len) sym[n_sym].next = n_sym + 1;
        n_sym++;
    }
    h->n = 0;
    for (int i = 1; i < n_sym; i++)
        if (!add_bigram(v, word, sym, i - 1, i, h)) return false;

    while (h->n > 0) {
        bigram b = heap_pop(h);
        symbol *l = &sym[b.left], *r = &sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n != b.left_n || r->n != b.right_n)
            continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = b.left;
        if (!add_bigram(v, word, sym, l->prev, b.left, h) ||
            !add_bigram(v, word, sym, b.left, l->next, h))
            return false;
    }

    for (int i = 0; i != -1 && n_sym > 0; i = sym[i].next) {
        const symbol *s = &sym[i];
        int32_t id = lc_vocab_find(v, word + s->off, (size_t)s->n);
        if (id >= 0) {
            lc_tokbuf_push(out, id);
            continue;
        }
        /* As llama.cpp: look each byte of the symbol up as a one-byte
         * token (which byte-level vocabularies rarely have). */
        for (int j = 0; j < s->n; j++) {
            id = lc_vocab_find(v, word + s->off + j, 1);
            if (id >= 0) lc_tokbuf_push(out, id);
        }
    }
    return true;
}

void lc_bpe_tokenize(const lc_vocab *v, const char *text, size_t len,
                     lc_tokbuf *out) {
    if (len == 0) return;
    if (len > (size_t)INT32_MAX / 8) {
        out->failed = true;
        return;
    }
    /* Codepoints (invalid UTF-8 becomes U+FFFD, as in llama.cpp). */
    uint32_t *cpts = malloc(len * sizeof *cpts);
    int *lens = malloc(len * sizeof *lens);
    /* A word's encoding: up to 4 bytes per codepoint, each byte up to
     * 2 bytes in the byte alphabet. */
    char *word = malloc(len * 8 + 8);
    symbol *sym = malloc((len * 8 + 8) * sizeof *sym);
    bpe_heap heap = {0};
    if (!cpts || !lens || !word || !sym) goto oom;

    int n = 0;
    for (size_t pos = 0; pos < len;)
        cpts[n++] = lc_utf8_decode(text, len, &pos);

    int n_words = lc_pretokenize(v->pre, cpts, n, lens);
    if (n_words < 0) goto oom;

    int start = 0;
    for (int w = 0; w < n_words; w++) {
        int wl = 0;
        for (int i = start; i < start + lens[w]; i++) {
            char utf8[4];
            int k = lc_utf8_encode(cpts[i], utf8);
            for (int j = 0; j < k; j++)
                wl +=
                    lc_utf8_encode(lc_byte_to_cpt((uint8_t)utf8[j]), word + wl);
        }
        start += lens[w];
        if (!bpe_word(v, word, wl, sym, &heap, out)) goto oom;
    }
    goto done;

oom:
    out->failed = true;
done:
    free(cpts);
    free(lens);
    free(word);
    free(sym);
    free(heap.items);
}
