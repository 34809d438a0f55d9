/* The context policy: fitting a conversation into the prompt budget; see
 * prompt.h. */
#include "chat/prompt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What every trial render needs; the trials differ only in `drop`. */
typedef struct fitter {
    const lc_model *model;
    const char *system; /* NULL when none */
    const lc_history *h;
    const char *message;   /* the new user message */
    char *merged_tail;     /* history's last user message + message, when
                              the history ends with an unanswered user
                              message (see history.h), else NULL */
    lc_chat_message *msgs; /* [h->n + 2] scratch: system, turns, message */
    int32_t *tokens;       /* [budget]: the tokens of the last trial */
    int budget;
    int held; /* turns dropped in the trial held in tokens */
} fitter;

/* Renders and tokenizes the conversation without its first `drop` turns.
 * Returns the number of tokens (f->tokens holds at most budget of them),
 * or -1 with err set. */
static int count_tokens(fitter *f, int drop, char *err, size_t err_len) {
    const lc_history *h = f->h;
    int n = 0;
    if (f->system) f->msgs[n++] = (lc_chat_message){"system", f->system};
    int first = drop < h->n_turns ? h->turn_start[drop] : h->n;
    for (int i = first; i < h->n; i++) f->msgs[n++] = h->msgs[i];
    if (first < h->n && f->merged_tail)
        f->msgs[n - 1].content = f->merged_tail;
    else
        f->msgs[n++] = (lc_chat_message){"user", f->message};

    char *text = lc_chat_render(f->model, NULL, f->msgs, n, true, err, err_len);
    if (!text) return -1;
    /* add_special: BOS as the model asks (the template's own BOS text was
     * left out by lc_chat_render for exactly this case); parse_special: the
     * template writes control tokens such as <|im_start|> as text */
    int count = lc_tokenize(f->model, text, strlen(text), true, true, f->tokens,
                            f->budget);
    free(text);
    if (count < 0) {
        snprintf(err, err_len, "the prompt cannot be tokenized");
        return -1;
    }
    f->held = drop;
    return count;
}

static char *join_blank_line(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + 2 + lb + 1);
    if (!s) return NULL;
    memcpy(s, a, la);
    memcpy(s + la, "\n\n", 2);
    memcpy(s + la + 2, b, lb + 1);
    return s;
}

enum lc_prompt_status lc_prompt_build(const lc_model *model, const char *system,
                                      const lc_history *history,
                                      const char *message, int budget,
                                      lc_prompt *out, char *err,
                                      size_t err_len) {
    *out = (lc_prompt){0};
    if (budget < 1) budget = 1;
    fitter f = {
        .model = model,
        .system = system && system[0] ? system : NULL,
        .h = history,
        .message = message,
        .budget = budget,
        .held = -1,
    };
    enum lc_prompt_status st = LC_PROMPT_ERROR;
    f.msgs = malloc((size_t)(history->n + 2) * sizeof *f.msgs);
    f.tokens = malloc((size_t)budget * sizeof *f.tokens);
    if (!f.msgs || !f.tokens) {
        snprintf(err, err_len, "out of memory");
        goto done;
    }
    if (history->n > 0 &&
        strcmp(history->msgs[history->n - 1].role, "user") == 0) {
        f.merged_tail =
            join_blank_line(history->msgs[history->n - 1].content, message);
        if (!f.merged_tail) {
            snprintf(err, err_len, "out of memory");
            goto done;
        }
    }

    /* The smallest prompt first: if [system, message] does not fit,
     * nothing will. */
    int turns = history->n_turns;
    int n = count_tokens(&f, turns, err, err_len);
    if (n < 0) goto done;
    if (n > budget) {
        out->n_needed = n;
        snprintf(err, err_len,
                 "the message needs %d prompt tokens; the context leaves "
                 "room for %d",
                 n, budget);
        st = LC_PROMPT_TOO_LONG;
        goto done;
    }
    int keep_n = n;
    if (turns > 0) {
        /* the usual case: the whole history fits */
        n = count_tokens(&f, 0, err, err_len);
        if (n < 0) goto done;
        if (n <= budget) {
            keep_n = n;
        } else {
            /* Invariant: dropping lo turns does not fit, dropping hi does.
             * Fewer turns never make more tokens, so the boundary between
             * them is the fewest turns to drop. */
            int lo = 0, hi = turns;
            int hi_n = keep_n;
            while (hi - lo > 1) {
                int mid = lo + (hi - lo) / 2;
                n = count_tokens(&f, mid, err, err_len);
                if (n < 0) goto done;
                if (n <= budget) {
                    hi = mid;
                    hi_n = n;
                } else {
                    lo = mid;
                }
            }
            if (f.held != hi) {
                hi_n = count_tokens(&f, hi, err, err_len);
                if (hi_n < 0) goto done;
            }
            keep_n = hi_n;
        }
    }
    out->tokens = f.tokens;
    out->n_tokens = keep_n;
    out->n_dropped = f.held;
    f.tokens = NULL;
    st = LC_PROMPT_OK;
done:
    free(f.merged_tail);
    free(f.msgs);
    free(f.tokens);
    return st;
}

void lc_prompt_free(lc_prompt *p) {
    free(p->tokens);
    *p = (lc_prompt){0};
}
