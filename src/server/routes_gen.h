/*
 * What the peer APIs (routes_openai.c, routes_ollama.c) share: one
 * generation, from a list of messages or a raw prompt to pieces of text and
 * measured statistics, with the caller's transport pulling pieces at its own
 * pace; model-name matching; and authentication with the
 * --allow-anonymous-loopback exception.
 *
 * A generation is stateless (the messages of the request are the whole
 * conversation: rendered through the chat template, tokenized and submitted
 * to the scheduler) unless the request names a session of the caller: then
 * it is one turn of that session (lc_chat_turn), which stores the last user
 * message and the reply, and builds the prompt from the stored history.
 *
 * Threads: a worker thread runs the generation (it only waits on the
 * scheduler's channel, the model runs on the scheduler thread); the
 * connection thread reads pieces with rg_next. rg_free cancels a generation
 * that is still running (the scheduler sees it before its next token) and
 * waits for the worker.
 */
#ifndef LC_SERVER_ROUTES_GEN_H
#define LC_SERVER_ROUTES_GEN_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "llamachat/engine.h"
#include "sched/sched.h"
#include "server/app.h"
#include "server/http.h"

/* Longest reply a request may ask for. */
#define RG_MAX_TOKENS_LIMIT 8192
/* Stop strings a request may give. */
#define RG_MAX_STOPS 8

/* An error found before the response started: each API words and shapes
 * it its own way. */
typedef struct rg_error {
    int status;       /* HTTP status */
    const char *code; /* snake_case, e.g. "model_not_found" */
    char message[512];
} rg_error;

bool rg_set_error(rg_error *e, int status, const char *code, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));

typedef struct rg_params {
    /* Chat: messages[n_messages], rendered with the model's template and
     * the generation prompt. Completion: messages NULL and prompt set, used
     * as is (BOS added as the model asks). */
    const lc_chat_message *messages;
    int n_messages;
    const char *prompt;
    lc_sampler_params sampling;
    int max_tokens;           /* <= 0: until the context (or num_ctx) is full */
    int num_ctx;              /* <= 0: the server's; larger ones are clamped */
    const char *const *stops; /* [n_stops] */
    int n_stops;
    /* When session_id is set: a turn of that session of user_id, whose
     * message is the last user message of messages (or the prompt). */
    const char *user_id;
    const char *session_id;
} rg_params;

/* Outcome of a finished generation. */
typedef struct rg_result {
    const char *finish_reason; /* "stop", "length", "cancelled", "context",
                                  "error" */
    char error[512];           /* when finish_reason is "error" */
    lc_job_stats stats;
} rg_result;

typedef struct rg_gen rg_gen;

/* Starts a generation and waits until it runs (its prompt accepted by the
 * scheduler). NULL with e set when it cannot start (model loading, queue
 * full, prompt too long, unknown session, ...). */
rg_gen *rg_start(lc_app *app, const rg_params *p, rg_error *e);

/* Waits up to timeout_ms for text. Returns 1 with *text (malloc'd, all the
 * pieces that arrived since the last call, possibly ""), 0 on timeout, -1
 * once the generation has finished and every piece was read. */
int rg_next(rg_gen *g, char **text, int timeout_ms);

/* Valid after rg_next returned -1. */
const rg_result *rg_result_of(const rg_gen *g);

/* Asks the generation to stop; it finishes with "cancelled". */
void rg_cancel(rg_gen *g);

/* Cancels when still running, waits for the worker, frees. NULL is ok. */
void rg_free(rg_gen *g);

/* Reads a whole generation (for non-streaming answers): the text, or NULL
 * when memory ran out. Cancels when the client goes away (req). */
char *rg_collect(rg_gen *g, http_request *req);

/* Counts a finished generation in the server's metrics (tokens, time to
 * first token, speed, finish reason): every API's generations do. */
void rg_record_metrics(lc_app *app, const lc_job_stats *s,
                       const char *finish_reason);

/* True when name is a name of the served model: its file name, its GGUF
 * general.name, an --alias, each also with Ollama's ":latest" tag. */
bool rg_model_matches(const lc_app *app, const char *name);

/* Authentication of the peer APIs: a bearer token as everywhere. Without
 * an Authorization header, a request from 127.0.0.1 or ::1 passes as
 * anonymous (user_id "") when the server runs with
 * --allow-anonymous-loopback.
 *
 * rg_auth_missing is true when the request has no Authorization header and
 * may not pass anonymously: the caller answers 401 in its API's shape.
 * Otherwise rg_auth returns 1 for a known user, 0 for anonymous, and -1
 * after answering 401 (bad token) in the native shape, which is OpenAI's. */
bool rg_auth_missing(lc_app *app, http_request *req);
int rg_auth(lc_app *app, http_request *req, char user_id[37]);

/* An optional number field of o in [min, max]; integer_only refuses
 * fractions. Absent or null leaves *out. false with e set (400). */
bool rg_number(json_t *o, const char *field, double min, double max,
               bool integer_only, double *out, rg_error *e);

/* The stop strings of v (absent, null, a string or an array of strings)
 * into stops[RG_MAX_STOPS] (pointing into v). false with e set (400). */
bool rg_stops(json_t *v, const char *field, const char *stops[RG_MAX_STOPS],
              int *n_stops, rg_error *e);

/* "prefix" + 24 random hex digits, for response ids. */
void rg_make_id(char *buf, size_t n, const char *prefix);

/* Unix seconds, and an RFC 3339 UTC time with nanoseconds (Go's
 * time.Time encoding). */
long long rg_unix_now(void);
void rg_rfc3339_now(char *buf, size_t n);

/* A seed for requests that give none. */
uint64_t rg_clock_seed(void);

#endif
