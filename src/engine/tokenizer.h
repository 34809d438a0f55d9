/*
 * Tokenizers built from GGUF metadata (tokenizer.ggml.*):
 *   "llama": SentencePiece-style BPE over scores, with byte fallback;
 *   "gpt2":  byte-level BPE over merges, with the pre-tokenizer named by
 *            tokenizer.ggml.pre (gpt2, llama3, qwen2, deepseek, starcoder,
 *            falcon, ...);
 *   "bert":  WordPiece.
 * Special/control tokens are matched in text when parse_special is set.
 */
#ifndef LC_ENGINE_TOKENIZER_H
#define LC_ENGINE_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

typedef struct lc_vocab lc_vocab;

/* NULL on failure (err: missing or inconsistent tokenizer metadata). */
lc_vocab *lc_vocab_load(const gguf_file *f, char *err, size_t err_len);
void lc_vocab_free(lc_vocab *v);

int lc_vocab_n_tokens(const lc_vocab *v);
/* Same contract as lc_tokenize() in engine.h. */
int lc_vocab_tokenize(const lc_vocab *v, const char *text, size_t len,
                      bool add_special, bool parse_special, int32_t *out,
                      int max_tokens);
/* Same contract as lc_token_to_piece() in engine.h. */
int lc_vocab_piece(const lc_vocab *v, int32_t token, bool special, char *buf,
                   int buf_len);
/* The token's text as stored in the vocabulary (NUL-terminated). */
const char *lc_vocab_text(const lc_vocab *v, int32_t token);
int32_t lc_vocab_bos(const lc_vocab *v);
int32_t lc_vocab_eos(const lc_vocab *v);
bool lc_vocab_add_bos(const lc_vocab *v);
bool lc_vocab_is_eog(const lc_vocab *v, int32_t token);
/* "llama", "gpt2", "bert", ... */
const char *lc_vocab_type_name(const lc_vocab *v);

#endif
