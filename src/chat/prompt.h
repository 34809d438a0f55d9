/*
 * From a conversation to the prompt tokens, under the context policy.
 *
 * The prompt is [system prompt] + the stored turns + the new user message,
 * rendered through the model's chat template (with the generation prompt)
 * and tokenized with special tokens parsed, since the template writes them
 * as text. It must leave room for the reply: at most `budget` tokens.
 *
 * Policy when it does not fit: drop the oldest turns (a user message with
 * its replies), never the system prompt nor the new message, until it fits.
 * The number of turns to drop is found by binary search over the turns, so
 * a session of a thousand turns costs about ten renders, not a thousand.
 * When even [system prompt, new message] does not fit, the message is too
 * long.
 */
#ifndef LC_CHAT_PROMPT_H
#define LC_CHAT_PROMPT_H

#include <stddef.h>
#include <stdint.h>

#include "chat/history.h"
#include "llamachat/engine.h"

enum lc_prompt_status {
    LC_PROMPT_OK,
    LC_PROMPT_TOO_LONG, /* [system, message] alone exceed the budget */
    LC_PROMPT_ERROR,    /* the template or the tokenizer failed (err) */
};

typedef struct lc_prompt {
    int32_t *tokens; /* [n_tokens], malloc'd */
    int n_tokens;
    int n_dropped; /* turns of the history left out */
    int n_needed;  /* when LC_PROMPT_TOO_LONG: tokens of [system, msg] */
} lc_prompt;

/* system may be NULL or "" (none). budget >= 1. */
enum lc_prompt_status lc_prompt_build(const lc_model *model, const char *system,
                                      const lc_history *history,
                                      const char *message, int budget,
                                      lc_prompt *out, char *err,
                                      size_t err_len);

void lc_prompt_free(lc_prompt *p);

#endif
