/*
 * Chat templates without a Jinja interpreter.
 *
 * A GGUF file carries its chat template as Jinja text
 * (tokenizer.chat_template). Rather than interpreting Jinja, we recognise
 * the template family from distinctive markers in that text (the way
 * llama.cpp's llm_chat_detect_template does) and render each family with a
 * small C function that writes exactly what the family's published Jinja
 * template writes for system/user/assistant turns. Details that vary between
 * versions of one family (a default system message, whether the template
 * writes bos_token, a thinking prompt) are read from the template text too.
 *
 * lc_chat_render() in engine.h is a thin wrapper over lc_chat_render_text(),
 * which needs no model and is what the tests exercise.
 */
#ifndef LC_ENGINE_CHAT_TEMPLATE_H
#define LC_ENGINE_CHAT_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "llamachat/engine.h"

enum lc_chat_family {
    LC_CHAT_UNKNOWN = 0,
    LC_CHAT_CHATML,
    LC_CHAT_QWEN3,
    LC_CHAT_LLAMA2,
    LC_CHAT_LLAMA3,
    LC_CHAT_LLAMA31,
    LC_CHAT_MISTRAL_V0,
    LC_CHAT_MISTRAL_V1,
    LC_CHAT_MISTRAL_V3,
    LC_CHAT_MISTRAL_V3_TEKKEN,
    LC_CHAT_MISTRAL_V7,
    LC_CHAT_MISTRAL_V7_TEKKEN,
    LC_CHAT_GEMMA,
    LC_CHAT_PHI3,
    LC_CHAT_PHI4,
    LC_CHAT_ZEPHYR,
    LC_CHAT_FAMILY_COUNT
};

/* The family of a template: `tmpl` may be a family name ("chatml",
 * "llama3", ...) or a whole Jinja template. NULL tmpl gives chatml (the
 * fallback for models without a template); LC_CHAT_UNKNOWN when nothing
 * matches. */
enum lc_chat_family lc_chat_detect(const char *tmpl);

/* "chatml", "llama3", ...; "unknown" for LC_CHAT_UNKNOWN. */
const char *lc_chat_family_name(enum lc_chat_family family);

/* Renders a conversation with a template, given the text of the BOS and
 * EOS tokens (either may be NULL: the template then writes nothing for
 * them, as Jinja does for an undefined variable). When add_bos is true (the
 * tokenizer adds BOS itself), a BOS text at the very start of the rendered
 * prompt is left out so that BOS is not doubled; BOS texts later in the
 * prompt (llama2's history) stay. Returns a malloc'd string, or NULL with
 * one line in err (unknown template, a conversation the template rejects,
 * out of memory). */
char *lc_chat_render_text(const char *tmpl, const char *bos_text,
                          const char *eos_text, bool add_bos,
                          const lc_chat_message *messages, int n_messages,
                          bool add_generation_prompt, char *err,
                          size_t err_len);

#endif
