/*
 * The conversation service: lc_chat_turn, one turn of a chat session (see
 * chat.h for the steps and their order).
 *
 * The order is what makes "nothing acknowledged is lost" hold: the prompt
 * is built and checked against the context before anything is written, so
 * a message that is too long leaves no trace; the user message is
 * committed before the job is submitted; the reply is committed whatever
 * way generation ended, with its partial text when cancelled.
 */
#include "chat/chat.h"
#include "util/utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat/history.h"
#include "chat/memory.h"
#include "chat/metrics.h"
#include "chat/prompt.h"
#include "chat/text.h"
#include "store/messages.h"
#include "store/sessions.h"

#define DEFAULT_MAX_TOKENS 512
#define TITLE_MAX_CHARS 60
#define MODEL_NAME_MAX 255 /* the store accepts up to 256 bytes */
/* How often a turn looks at should_cancel while no event arrives (a long
 * prompt evaluation), in ms: well below what a person notices. */
#define CANCEL_POLL_MS 50
/* Events a job may run ahead of its reader before it pauses. Small, so
 * that a client found gone by on_piece stops generation within a few
 * tokens rather than after a whole buffered reply; a paused job costs the
 * other jobs nothing (sched.h). */
#define CHANNEL_CAPACITY 16

struct lc_chat {
    lc_db *db;
    lc_sched *sched;
    lc_model *model;
    char *model_name;
    lc_chat_stored_fn on_stored; /* see lc_chat_on_stored; may be NULL */
    void *on_stored_ud;
    lc_chat_embed_fn memory_embed; /* see lc_chat_set_memory_embed */
    void *memory_embed_ud;
};

void lc_chat_set_memory_embed(lc_chat *c, lc_chat_embed_fn fn, void *ud) {
    c->memory_embed = fn;
    c->memory_embed_ud = ud;
}

void lc_chat_on_stored(lc_chat *c, lc_chat_stored_fn fn, void *ud) {
    c->on_stored = fn;
    c->on_stored_ud = ud;
}

/* -------------------------------------------------------------- helpers */

static enum lc_turn_status fail(char *err, size_t err_len,
                                enum lc_turn_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum lc_turn_status fail(char *err, size_t err_len,
                                enum lc_turn_status st, const char *fmt, ...) {
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return st;
}

/* Error texts are one line: libpq's messages carry newlines and tabs. */
static void one_line(char *s, size_t len) {
    if (!s || len == 0) return;
    for (; *s; s++)
        if (*s == '\n' || *s == '\r' || *s == '\t') *s = ' ';
}

/* A store failure in the terms of a turn. */
static enum lc_turn_status from_store(const lc_store_error *e, char *err,
                                      size_t err_len) {
    enum lc_turn_status st;
    switch (e->status) {
    case LC_STORE_NOT_FOUND:
        st = LC_TURN_NOT_FOUND;
        break;
    case LC_STORE_UNAVAILABLE:
        st = LC_TURN_UNAVAILABLE;
        break;
    case LC_STORE_INVALID:
        st = LC_TURN_INVALID;
        break;
    default:
        st = LC_TURN_ERROR;
        break;
    }
    if (e->status == LC_STORE_NOT_FOUND)
        return fail(err, err_len, st, "no such session");
    fail(err, err_len, st, "database: %s", e->message);
    one_line(err, err_len);
    return st;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* The scheduler's finish reason as one of our own literals, so that
 * out->finish_reason outlives the job that produced it. */
static const char *finish_literal(const char *r) {
    static const char *const known[] = {"stop", "length", "cancelled",
                                        "context", "error"};
    for (size_t i = 0; r && i < sizeof known / sizeof known[0]; i++)
        if (strcmp(r, known[i]) == 0) return known[i];
    return "error";
}

/* Copies at most max bytes of s, never splitting a UTF-8 character. */
static char *dup_bounded(const char *s, size_t max) {
    size_t n = strlen(s);
    if (n > max) {
        n = max;
        /* back up over continuation bytes to a character boundary */
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) n--;
    }
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* ----------------------------------------------------------- lifecycle */

lc_chat *lc_chat_new(lc_db *db, lc_sched *sched, lc_model *model,
                     const char *model_name) {
    if (!db || !sched || !model) return NULL;
    lc_chat *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->db = db;
    c->sched = sched;
    c->model = model;
    const char *name =
        model_name && model_name[0] ? model_name : lc_model_name(model);
    if (!name || !name[0]) name = "unknown";
    c->model_name = dup_bounded(name, MODEL_NAME_MAX);
    if (!c->model_name ||
        !lc_utf8_valid(c->model_name, strlen(c->model_name), NULL)) {
        free(c->model_name);
        free(c);
        return NULL;
    }
    return c;
}

void lc_chat_free(lc_chat *c) {
    if (!c) return;
    free(c->model_name);
    free(c);
}

void lc_turn_result_clear(lc_turn_result *r) {
    if (!r) return;
    free(r->text);
    memset(r, 0, sizeof *r);
}

/* ----------------------------------------------------------- one turn */

static enum lc_turn_status check_params(const lc_turn_params *p, char *err,
                                        size_t err_len) {
    if (!p->user_id || !p->session_id)
        return fail(err, err_len, LC_TURN_INVALID, "user and session needed");
    if (p->n_stops < 0 || (p->n_stops > 0 && !p->stops))
        return fail(err, err_len, LC_TURN_INVALID, "bad stop strings");
    /* a regenerate turn answers the stored history: it has no message */
    if (p->regenerate) return LC_TURN_OK;
    if (!p->message)
        return fail(err, err_len, LC_TURN_INVALID, "message is missing");
    size_t len = strlen(p->message);
    if (len == 0)
        return fail(err, err_len, LC_TURN_INVALID, "message is empty");
    if (len > LC_MESSAGE_MAX)
        return fail(err, err_len, LC_TURN_INVALID,
                    "message is longer than %d bytes", LC_MESSAGE_MAX);
    size_t bad;
    if (!lc_utf8_valid(p->message, len, &bad))
        return fail(err, err_len, LC_TURN_INVALID,
                    "message is not valid UTF-8 (byte %zu)", bad);
    return LC_TURN_OK;
}

/* Regenerate: takes the last message off the history (the reply to be
 * replaced, then the user message it answered) and hands back the content
 * of the last one taken, which the caller owns. The history is what the
 * prompt builder wants: everything before the message being answered. */
static char *history_pop(lc_history *h) {
    if (h->n == 0) return NULL;
    h->n--;
    char *content = (char *)h->msgs[h->n].content;
    h->msgs[h->n].content = NULL;
    /* a turn begins at a user message: taking that message ends the turn */
    if (h->n_turns > 0 && h->turn_start[h->n_turns - 1] >= h->n) h->n_turns--;
    return content;
}

/* Names an untitled session after its first message. A failure here costs
 * only the title, never the turn, so it is not reported. */
static void name_session(lc_chat *c, const lc_turn_params *p,
                         const lc_session *s) {
    if (s->title && s->title[0] && strcmp(s->title, "New chat") != 0) return;
    char *title = lc_chat_title_from_message(p->message, TITLE_MAX_CHARS);
    if (title && title[0]) {
        lc_store_error e = {0};
        lc_sessions_rename(c->db, p->user_id, p->session_id, title, &e);
    }
    free(title);
}

/* Reads the job's events until its DONE event, handing pieces to the
 * caller and turning the caller's wishes into a cancel. */
static void stream_reply(lc_job *job, const lc_turn_callbacks *cb,
                         lc_strbuf *text, lc_event *done) {
    bool cancelled = false;
    /* without should_cancel there is nothing to poll: wait for events */
    int timeout = cb && cb->should_cancel ? CANCEL_POLL_MS : -1;
    for (;;) {
        lc_event ev;
        int got = lc_job_next(job, &ev, timeout);
        if (got < 0) break;
        if (got == 1 && ev.type == LC_EVENT_DONE) {
            /* text held back for a possible stop string comes with DONE
             * when generation ended at an end-of-generation token */
            if (!cancelled && ev.text && ev.text[0]) {
                lc_strbuf_append(text, ev.text, strlen(ev.text));
                if (cb && cb->on_piece) cb->on_piece(cb->ud, ev.text, ev.index);
            }
            *done = ev;
            return;
        }
        /* after a cancel only the DONE event matters: text that was still
         * in the channel is not kept, so the stored reply is what the
         * client was given */
        if (cancelled) continue;
        if (got == 1 && ev.text && ev.text[0]) {
            lc_strbuf_append(text, ev.text, strlen(ev.text));
            if (cb && cb->on_piece && !cb->on_piece(cb->ud, ev.text, ev.index))
                cancelled = true;
        }
        if (!cancelled && cb && cb->should_cancel && cb->should_cancel(cb->ud))
            cancelled = true;
        if (cancelled) {
            lc_job_cancel(job);
            timeout = -1;
        }
    }
    /* the job's events ended without DONE: report it as an error */
    *done = (lc_event){.type = LC_EVENT_DONE,
                       .finish_reason = "error",
                       .error = "the job ended without a final event"};
}

/* Commits the reply; out->assistant_message_id gets its id. */
static lc_store_status store_reply(lc_chat *c, const lc_turn_params *p,
                                   lc_turn_result *out, int max_tokens,
                                   const lc_memory *memory, lc_store_error *e) {
    lc_reply_facts facts = {
        .finish_reason = out->finish_reason,
        .sampling = &p->sampling,
        .max_tokens = max_tokens,
        .stats = &out->stats,
        .n_dropped_turns = out->n_dropped_turns,
    };
    char *metadata = lc_chat_reply_metadata(&facts);
    if (metadata && memory) {
        /* the messages memory put into the prompt: "memory": [ids] */
        char *with = lc_memory_add_to_metadata(metadata, memory);
        free(metadata);
        metadata = with;
    }
    if (!metadata) return lc_store_fail(e, LC_STORE_ERROR, "out of memory");
    lc_assistant_reply reply = {
        .content = out->text,
        .model = c->model_name,
        .tokens = out->stats.n_generated,
        .processing_time_ms = (int)(out->stats.total_ms + 0.5),
        .tokens_per_second = (int)(out->tokens_per_second + 0.5),
        .cuda_accelerated = out->cuda_accelerated,
        .gpu_memory_used_mb = out->gpu_memory_used_mb,
        /* no token, no probability: the column stays NULL */
        .confidence = out->stats.n_generated > 0 ? out->confidence : -1,
        .metadata = metadata,
    };
    lc_store_status st = lc_messages_add_assistant(
        c->db, p->user_id, p->session_id, &reply, out->assistant_message_id, e);
    free(metadata);
    if (st == LC_STORE_OK && c->on_stored)
        c->on_stored(c->on_stored_ud, out->assistant_message_id, out->text);
    return st;
}

enum lc_turn_status lc_chat_turn(lc_chat *c, const lc_turn_params *p,
                                 const lc_turn_callbacks *cb,
                                 lc_turn_result *out, char *err,
                                 size_t err_len) {
    char scratch[256]; /* every step below writes err: give it a place */
    if (!err || err_len == 0) {
        err = scratch;
        err_len = sizeof scratch;
    }
    err[0] = '\0';
    if (!out) return fail(err, err_len, LC_TURN_INVALID, "no result");
    memset(out, 0, sizeof *out);
    out->finish_reason = "";
    if (!c || !p) return fail(err, err_len, LC_TURN_INVALID, "no parameters");
    enum lc_turn_status st = check_params(p, err, err_len);
    if (st != LC_TURN_OK) return st;
    double t_start = now_ms();
    int max_tokens = p->max_tokens > 0 ? p->max_tokens : DEFAULT_MAX_TOKENS;

    /* 1. the session (only the caller's) and its conversation so far */
    lc_store_error e = {0};
    lc_session session = {0};
    lc_history history = {0};
    lc_prompt prompt = {0};
    lc_memory memory = {0};
    bool memory_on = false;
    char *system = NULL;
    lc_job *job = NULL;
    lc_strbuf text = {0};
    const char *message = p->message; /* what the reply answers */
    char *regen_message = NULL;       /* owned, when regenerating */
    if (lc_sessions_get(c->db, p->user_id, p->session_id, &session, &e)) {
        st = from_store(&e, err, err_len);
        goto done;
    }
    if (lc_history_load(&history, c->db, p->user_id, p->session_id, &e)) {
        st = from_store(&e, err, err_len);
        goto done;
    }
    if (p->regenerate) {
        /* the reply being replaced leaves the prompt; the user message
         * before it becomes the message answered */
        if (history.n > 0 &&
            strcmp(history.msgs[history.n - 1].role, "assistant") == 0)
            free(history_pop(&history));
        if (history.n == 0 ||
            strcmp(history.msgs[history.n - 1].role, "user") != 0) {
            st = fail(err, err_len, LC_TURN_INVALID,
                      "the session has no user message to answer");
            goto done;
        }
        regen_message = history_pop(&history);
        message = regen_message;
    }

    /* 2. the prompt under the context policy, before anything is written:
     * the reply needs room too, up to a quarter of the context */
    int n_ctx = lc_sched_n_ctx(c->sched);
    int reserve = max_tokens < n_ctx / 4 ? max_tokens : n_ctx / 4;
    if (reserve < 1) reserve = 1;

    /* 2a. memory: notes from the user's other sessions, appended to the
     * system prompt (chat/memory.h). A failed retrieval costs the notes,
     * never the turn. */
    lc_memory_settings ms;
    lc_memory_settings_from_metadata(session.metadata, &ms);
    if (ms.enabled) {
        memory_on = true;
        char merr[256];
        lc_memory_recall(c->db, c->model, &ms, p->user_id, p->session_id,
                         message, c->memory_embed, c->memory_embed_ud, &memory,
                         merr, sizeof merr);
    }
    if (memory.notes) {
        const char *sp = session.system_prompt ? session.system_prompt : "";
        size_t len = strlen(sp) + strlen(memory.notes) + 3;
        system = malloc(len);
        if (system)
            snprintf(system, len, "%s%s%s", sp, sp[0] ? "\n\n" : "",
                     memory.notes);
        else
            lc_memory_free(&memory);
    }
    enum lc_prompt_status ps = lc_prompt_build(
        c->model, system ? system : session.system_prompt, &history, message,
        n_ctx - reserve, &prompt, err, err_len);
    if (ps == LC_PROMPT_TOO_LONG && system) {
        /* the notes do not fit beside the message: go without them */
        lc_memory_free(&memory);
        free(system);
        system = NULL;
        ps = lc_prompt_build(c->model, session.system_prompt, &history, message,
                             n_ctx - reserve, &prompt, err, err_len);
    }
    switch (ps) {
    case LC_PROMPT_OK:
        break;
    case LC_PROMPT_TOO_LONG:
        st = LC_TURN_TOO_LONG;
        goto done;
    default:
        st = LC_TURN_ERROR;
        goto done;
    }
    out->n_dropped_turns = prompt.n_dropped;

    /* 3. commit the user message: from here on it is acknowledged. A
     * regenerate turn instead retires the reply it replaces (its user
     * message is already stored). */
    if (p->regenerate) {
        char deleted[37];
        if (lc_messages_delete_last_reply(c->db, p->user_id, p->session_id,
                                          deleted, &e)) {
            st = from_store(&e, err, err_len);
            goto done;
        }
    } else {
        if (lc_messages_add_user(c->db, p->user_id, p->session_id, message,
                                 c->model_name, out->user_message_id, &e)) {
            st = from_store(&e, err, err_len);
            goto done;
        }
        if (c->on_stored)
            c->on_stored(c->on_stored_ud, out->user_message_id, message);
        name_session(c, p, &session);
    }

    /* 4. generate: the session id is the cache key, so the next turn of
     * this session finds its prefix in the KV cache */
    lc_job_params jp = {
        .prompt = prompt.tokens,
        .n_prompt = prompt.n_tokens,
        .cache_key = p->session_id,
        .sampling = p->sampling,
        .max_tokens = max_tokens,
        .stops = p->stops,
        .n_stops = p->n_stops,
        .channel_capacity = CHANNEL_CAPACITY,
    };
    char serr[256] = "";
    switch (lc_sched_submit(c->sched, &jp, &job, serr, sizeof serr)) {
    case LC_SUBMIT_OK:
        break;
    case LC_SUBMIT_QUEUE_FULL:
        st = fail(err, err_len, LC_TURN_BUSY, "the request queue is full");
        goto done;
    case LC_SUBMIT_STOPPING:
        st = fail(err, err_len, LC_TURN_BUSY, "the server is shutting down");
        goto done;
    case LC_SUBMIT_TOO_LONG:
        st = fail(err, err_len, LC_TURN_TOO_LONG, "%s", serr);
        goto done;
    case LC_SUBMIT_INVALID:
        st = fail(err, err_len, LC_TURN_INVALID, "%s", serr);
        goto done;
    default:
        st = fail(err, err_len, LC_TURN_ERROR, "submit failed: %s", serr);
        goto done;
    }
    if (cb && cb->on_started)
        cb->on_started(cb->ud, out->user_message_id, prompt.n_tokens,
                       prompt.n_dropped);

    lc_event done_ev;
    stream_reply(job, cb, &text, &done_ev);
    out->finish_reason = finish_literal(done_ev.finish_reason);
    out->stats = done_ev.stats;
    char error_text[256] = "";
    if (done_ev.error)
        snprintf(error_text, sizeof error_text, "%s", done_ev.error);
    lc_job_free(job);
    job = NULL;

    /* 5. the measured facts, then commit the reply */
    out->text = lc_chat_utf8_sanitize(text.data ? text.data : "", text.len);
    if (!out->text || text.oom) {
        st = fail(err, err_len, LC_TURN_ERROR, "out of memory");
        goto done;
    }
    /* processing time is the whole turn as the caller saw it: history,
     * prompt, queue, generation (the scheduler's total_ms starts later) */
    out->stats.total_ms = now_ms() - t_start;
    out->confidence = lc_chat_confidence(&out->stats);
    out->tokens_per_second = lc_chat_tokens_per_second(&out->stats);
    /* measured by the scheduler, which owns the engine context: false and
     * 0 when the context runs on the CPU */
    out->cuda_accelerated = lc_sched_gpu_active(c->sched);
    out->gpu_memory_used_mb = out->stats.gpu_memory_mb;
    if (store_reply(c, p, out, max_tokens, memory_on ? &memory : NULL, &e)) {
        /* the text stays in out: the caller can still show it */
        st = e.status == LC_STORE_NOT_FOUND
                 ? fail(err, err_len, LC_TURN_NOT_FOUND,
                        "the session was deleted during the turn")
                 : fail(err, err_len, LC_TURN_UNAVAILABLE,
                        "the reply could not be stored: %s", e.message);
        one_line(err, err_len);
        goto done;
    }
    if (strcmp(out->finish_reason, "error") == 0) {
        st = fail(err, err_len, LC_TURN_ERROR, "generation failed: %s",
                  error_text[0] ? error_text : "unknown error");
        goto done;
    }
    st = LC_TURN_OK;
done:
    if (job) lc_job_free(job);
    lc_strbuf_free(&text);
    lc_prompt_free(&prompt);
    lc_memory_free(&memory);
    free(system);
    free(regen_message);
    lc_history_free(&history);
    lc_session_clear(&session);
    return st;
}
