/*
 * Chat templates: recognise the family of a Jinja chat template and render
 * conversations the way that family's published template does.
 *
 * Sources of the templates each renderer follows (tokenizer_config.json
 * "chat_template" of the named Hugging Face repositories):
 *   chatml   teknium/OpenHermes-2.5-Mistral-7B; Qwen/Qwen2-7B-Instruct and
 *            Qwen/Qwen2.5-7B-Instruct add a default system message, which
 *            is read from the template text
 *   qwen3    Qwen/Qwen3-8B (thinking-aware: <think> blocks of assistant
 *            turns after the last user query); Qwen3-*-Thinking-2507 and
 *            QwQ open "<think>\n" in the generation prompt
 *   llama2   meta-llama/Llama-2-7b-chat-hf
 *   llama3   meta-llama/Meta-Llama-3-8B-Instruct (April 2024: appends the
 *            assistant header even without add_generation_prompt; later
 *            revisions guard it, which is detected)
 *   llama3.1 meta-llama/Llama-3.1-8B-Instruct, Llama-3.2/3.3 (system header
 *            with "Cutting Knowledge Date" and "Today Date")
 *   mistral  mistralai/Mistral-7B-Instruct-v0.1 first template ("v0": no
 *            system role), v0.1/v0.2 later template ("v1"),
 *            Mistral-7B-Instruct-v0.3 ("v3"), Mistral-Nemo-Instruct-2407
 *            ("v3-tekken"); see also mistralai/cookbook
 *            concept-deep-dive/tokenization/templates.md. "v7" follows
 *            Mistral-Large-Instruct-2411 / Mistral-Small-24B-Instruct-2501
 *   gemma    google/gemma-3-1b-it (gemma-2 and gemma-7b-it reject a system
 *            message; we fold it into the first user turn as gemma-3 does)
 *   phi3     microsoft/Phi-3.5-mini-instruct, Phi-3-small (bos_token),
 *            the first Phi-3-mini/medium ("<|assistant|>" after each user)
 *   phi4     microsoft/phi-4
 *   zephyr   HuggingFaceH4/zephyr-7b-beta, stabilityai/stablelm-zephyr-3b
 *
 * Jinja facts that matter for exactness: `trim` and `strip()` are Python's
 * str.strip() (Unicode whitespace); `raise_exception` aborts the render,
 * which we report as an error; Hugging Face renders with trim_blocks, so a
 * newline right after a {% block %} tag is dropped.
 *
 * Where a template has no place for a system message (it drops it or
 * raises), the system text is put in front of the first user message,
 * followed by a blank line: mistral-common's convention, and what gemma-3's
 * template does natively. A system message anywhere but first is rejected
 * by those families.
 */
#include "chat_template.h"
#include "error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model.h"
#include "tokenizer.h"

/* ------------------------------------------------------------ strings */

/* A growable output buffer; `oom` sticks once an allocation fails so that
 * callers check once at the end. */
typedef struct strbuf {
    char *p;
    size_t len;
    size_t cap;
    bool oom;
} strbuf;

static void sb_putn(strbuf *b, const char *s, size_t n) {
    if (b->oom || n == 0) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* NULL writes nothing, as Jinja does for an undefined token variable. */
static void sb_puts(strbuf *b, const char *s) {
    if (s) sb_putn(b, s, strlen(s));
}

/* A view into a string: contents are trimmed and split without copies. */
typedef struct sv {
    const char *p;
    size_t n;
} sv;

static sv sv_of(const char *s) {
    sv v = {s ? s : "", s ? strlen(s) : 0};
    return v;
}

static void sb_putv(strbuf *b, sv v) {
    sb_putn(b, v.p, v.n);
}

static bool sv_has_prefix(sv s, const char *pre) {
    size_t n = strlen(pre);
    return s.n >= n && memcmp(s.p, pre, n) == 0;
}

static bool sv_has_suffix(sv s, const char *suf) {
    size_t n = strlen(suf);
    return s.n >= n && memcmp(s.p + s.n - n, suf, n) == 0;
}

/* Offset of the first (last when `last`) occurrence of needle, or -1. */
static long sv_find(sv s, const char *needle, bool last) {
    size_t n = strlen(needle);
    long found = -1;
    if (n == 0 || n > s.n) return -1;
    for (size_t i = 0; i + n <= s.n; i++) {
        if (memcmp(s.p + i, needle, n) == 0) {
            found = (long)i;
            if (!last) break;
        }
    }
    return found;
}

/* Decodes one UTF-8 character at s[0..n); returns its length, or 1 with
 * *cp = 0xFFFFFFFF for a malformed byte (never whitespace). */
static size_t utf8_decode(const char *s, size_t n, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)s;
    size_t len;
    uint32_t c;
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    } else if ((u[0] & 0xE0) == 0xC0) {
        len = 2;
        c = u[0] & 0x1F;
    } else if ((u[0] & 0xF0) == 0xE0) {
        len = 3;
        c = u[0] & 0x0F;
    } else if ((u[0] & 0xF8) == 0xF0) {
        len = 4;
        c = u[0] & 0x07;
    } else {
        *cp = 0xFFFFFFFFu;
        return 1;
    }
    if (len > n) {
        *cp = 0xFFFFFFFFu;
        return 1;
    }
    for (size_t i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) {
            *cp = 0xFFFFFFFFu;
            return 1;
        }
        c = (c << 6) | (u[i] & 0x3F);
    }
    *cp = c;
    return len;
}

/* Python's str.isspace(), which Jinja's `trim` and str.strip() use. */
static bool is_py_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 ||
           c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

/* str.strip(): Unicode whitespace off both ends. */
static sv sv_trim(sv s) {
    uint32_t cp;
    while (s.n > 0) {
        size_t len = utf8_decode(s.p, s.n, &cp);
        if (!is_py_space(cp)) break;
        s.p += len;
        s.n -= len;
    }
    while (s.n > 0) {
        /* step back to the start of the last character */
        size_t k = s.n - 1;
        while (k > 0 && s.n - k < 4 && ((unsigned char)s.p[k] & 0xC0) == 0x80)
            k--;
        size_t len = utf8_decode(s.p + k, s.n - k, &cp);
        if (len != s.n - k || !is_py_space(cp)) break;
        s.n = k;
    }
    return s;
}

/* str.lstrip(c) / str.rstrip(c) for one ASCII character. */
static sv sv_lstrip_char(sv s, char c) {
    while (s.n > 0 && s.p[0] == c) s.p++, s.n--;
    return s;
}

static sv sv_rstrip_char(sv s, char c) {
    while (s.n > 0 && s.p[s.n - 1] == c) s.n--;
    return s;
}

static bool has(const char *t, const char *needle) {
    return t && strstr(t, needle) != NULL;
}

/* Writes the text of a Jinja string literal, decoding its escapes. */
static void sb_put_jinja_literal(strbuf *b, sv lit) {
    for (size_t i = 0; i < lit.n; i++) {
        char c = lit.p[i];
        if (c == '\\' && i + 1 < lit.n) {
            char e = lit.p[++i];
            switch (e) {
            case 'n':
                c = '\n';
                break;
            case 't':
                c = '\t';
                break;
            case 'r':
                c = '\r';
                break;
            case '\\':
            case '\'':
            case '"':
                c = e;
                break;
            default:
                /* unknown escapes stay as written, as in Python */
                sb_putn(b, "\\", 1);
                c = e;
            }
        }
        sb_putn(b, &c, 1);
    }
}

/* ------------------------------------------------------------- style */

/* What a renderer needs beyond the family: details read from the template
 * text. Views point into that text. */
typedef struct chat_style {
    enum lc_chat_family family;
    bool writes_bos;        /* the template writes bos_token */
    bool gen_always;        /* llama3 (April 2024): assistant header always */
    bool think_prompt;      /* qwen3 thinking: prompt opens "<think>\n" */
    bool eos_without_gen;   /* phi3: eos_token ends a prompt without the
                               generation prompt */
    bool prompt_after_user; /* first Phi-3-mini: "<|assistant|>\n" after
                               every user turn, no system role */
    bool skip_empty_system; /* Phi-3.5: `role == 'system' and content` */
    bool endoftext_literal; /* zephyr: '<|endoftext|>' instead of eos */
    sv default_system;      /* chatml (Qwen2/2.5): a Jinja literal, or n = 0 */
    sv default_date;        /* llama3.1: date_string default, a literal */
    bool date_from_clock;   /* llama3.2: strftime_now("%d %b %Y") */
} chat_style;

static const char *const family_names[LC_CHAT_FAMILY_COUNT] = {
    [LC_CHAT_UNKNOWN] = "unknown",
    [LC_CHAT_CHATML] = "chatml",
    [LC_CHAT_QWEN3] = "qwen3",
    [LC_CHAT_LLAMA2] = "llama2",
    [LC_CHAT_LLAMA3] = "llama3",
    [LC_CHAT_LLAMA31] = "llama3.1",
    [LC_CHAT_MISTRAL_V0] = "mistral-v0",
    [LC_CHAT_MISTRAL_V1] = "mistral-v1",
    [LC_CHAT_MISTRAL_V3] = "mistral-v3",
    [LC_CHAT_MISTRAL_V3_TEKKEN] = "mistral-v3-tekken",
    [LC_CHAT_MISTRAL_V7] = "mistral-v7",
    [LC_CHAT_MISTRAL_V7_TEKKEN] = "mistral-v7-tekken",
    [LC_CHAT_GEMMA] = "gemma",
    [LC_CHAT_PHI3] = "phi3",
    [LC_CHAT_PHI4] = "phi4",
    [LC_CHAT_ZEPHYR] = "zephyr",
};

static const char supported_list[] =
    "chatml, qwen3, llama2, llama3, llama3.1, mistral-v0, mistral-v1, "
    "mistral-v3, mistral-v3-tekken, mistral-v7, mistral-v7-tekken, gemma, "
    "phi3, phi4, zephyr";

const char *lc_chat_family_name(enum lc_chat_family family) {
    if ((int)family < 0 || family >= LC_CHAT_FAMILY_COUNT) return "unknown";
    return family_names[family];
}

static enum lc_chat_family family_from_name(const char *name) {
    for (int f = LC_CHAT_UNKNOWN + 1; f < LC_CHAT_FAMILY_COUNT; f++)
        if (strcmp(name, family_names[f]) == 0) return (enum lc_chat_family)f;
    return LC_CHAT_UNKNOWN;
}

/* The markers follow llama.cpp's llm_chat_detect_template, refined where
 * one of its families covers templates that render differently (qwen3's
 * <think> handling, llama 3.1's system header, mistral's first template). */
static enum lc_chat_family detect_text(const char *t) {
    if (has(t, "<|im_start|>")) {
        if (has(t, "<|im_sep|>")) return LC_CHAT_PHI4;
        if (has(t, "<think>")) return LC_CHAT_QWEN3;
        return LC_CHAT_CHATML;
    }
    if (strncmp(t, "mistral", 7) == 0 || has(t, "[INST]")) {
        if (has(t, "[SYSTEM_PROMPT]")) {
            /* v7 writes a space after its control tokens, v7-tekken not */
            return has(t, "[SYSTEM_PROMPT] ") || has(t, "[INST] ")
                       ? LC_CHAT_MISTRAL_V7
                       : LC_CHAT_MISTRAL_V7_TEKKEN;
        }
        if (has(t, "' [INST] ' + system_message") ||
            has(t, "[AVAILABLE_TOOLS]")) {
            if (has(t, " [INST]")) return LC_CHAT_MISTRAL_V1;
            if (has(t, "\"[INST]\"")) return LC_CHAT_MISTRAL_V3_TEKKEN;
            return LC_CHAT_MISTRAL_V3;
        }
        if (has(t, "<<SYS>>")) return LC_CHAT_LLAMA2;
        return LC_CHAT_MISTRAL_V0;
    }
    if (has(t, "<|assistant|>") && has(t, "<|end|>")) return LC_CHAT_PHI3;
    if (has(t, "<|user|>") && (has(t, "<|endoftext|>") || has(t, "eos_token")))
        return LC_CHAT_ZEPHYR;
    if (has(t, "<start_of_turn>")) return LC_CHAT_GEMMA;
    if (has(t, "<|start_header_id|>") && has(t, "<|end_header_id|>"))
        return has(t, "Cutting Knowledge Date") ? LC_CHAT_LLAMA31
                                                : LC_CHAT_LLAMA3;
    return LC_CHAT_UNKNOWN;
}

enum lc_chat_family lc_chat_detect(const char *tmpl) {
    /* A model without a template gets chatml, as llama.cpp does: it is the
     * most widely understood format and needs no special tokens to parse. */
    if (!tmpl || !*tmpl) return LC_CHAT_CHATML;
    enum lc_chat_family f = family_from_name(tmpl);
    if (f != LC_CHAT_UNKNOWN) return f;
    return detect_text(tmpl);
}

/* Qwen2/Qwen2.5 write a default system message when the conversation has
 * none: a literal '<|im_start|>system\n...<|im_end|>' all inside one
 * string. Occurrences that are followed by an expression (+ content) are
 * skipped. Returns the literal's text between the newline and <|im_end|>. */
static sv find_default_system(const char *t) {
    static const char head[] = "<|im_start|>system";
    sv none = {NULL, 0};
    for (const char *p = strstr(t, head); p; p = strstr(p + 1, head)) {
        if (p == t || (p[-1] != '\'' && p[-1] != '"')) continue;
        const char *q = p + sizeof head - 1;
        if (strncmp(q, "\\n", 2) == 0)
            q += 2;
        else if (*q == '\n')
            q += 1;
        else
            continue;
        const char *end = strstr(q, "<|im_end|>");
        if (!end || end == q) continue;
        bool one_literal = true;
        for (const char *c = q; c < end; c++) {
            if (*c == '\\' && c + 1 < end) {
                c++;
                continue;
            }
            if (*c == '\'' || *c == '"' || *c == '{' || *c == '}') {
                one_literal = false;
                break;
            }
        }
        if (one_literal) {
            sv v = {q, (size_t)(end - q)};
            return v;
        }
    }
    return none;
}

/* Llama 3.1: {%- set date_string = "26 Jul 2024" %}. */
static sv find_default_date(const char *t) {
    sv v = {NULL, 0};
    const char *p = strstr(t, "date_string = ");
    if (!p) return v;
    p += strlen("date_string = ");
    if (*p != '"' && *p != '\'') return v;
    char quote = *p++;
    const char *end = strchr(p, quote);
    if (!end || end - p > 64) return v;
    v.p = p;
    v.n = (size_t)(end - p);
    return v;
}

/* Fills the style of a template (text, family name or NULL). */
static void style_init(chat_style *st, const char *tmpl) {
    memset(st, 0, sizeof *st);
    st->family = lc_chat_detect(tmpl);
    bool is_text = tmpl && *tmpl && family_from_name(tmpl) == LC_CHAT_UNKNOWN;
    if (!is_text) {
        /* A family by name renders as its current published template. */
        switch (st->family) {
        case LC_CHAT_LLAMA2:
        case LC_CHAT_LLAMA3:
        case LC_CHAT_LLAMA31:
        case LC_CHAT_MISTRAL_V0:
        case LC_CHAT_MISTRAL_V1:
        case LC_CHAT_MISTRAL_V3:
        case LC_CHAT_MISTRAL_V3_TEKKEN:
        case LC_CHAT_MISTRAL_V7:
        case LC_CHAT_MISTRAL_V7_TEKKEN:
        case LC_CHAT_GEMMA:
            st->writes_bos = true;
            break;
        case LC_CHAT_PHI3: /* Phi-3.5-mini */
            st->eos_without_gen = true;
            st->skip_empty_system = true;
            break;
        case LC_CHAT_ZEPHYR:
            st->endoftext_literal = false;
            break;
        default:
            break;
        }
        st->default_date = sv_of("26 Jul 2024");
        return;
    }
    st->writes_bos = has(tmpl, "bos_token");
    switch (st->family) {
    case LC_CHAT_CHATML:
        st->default_system = find_default_system(tmpl);
        break;
    case LC_CHAT_QWEN3:
        st->think_prompt = has(tmpl, "<|im_start|>assistant\\n<think>\\n") ||
                           has(tmpl, "<|im_start|>assistant\n<think>\n");
        break;
    case LC_CHAT_LLAMA3:
        st->gen_always = !has(tmpl, "add_generation_prompt");
        break;
    case LC_CHAT_LLAMA31:
        st->default_date = find_default_date(tmpl);
        if (st->default_date.n == 0) st->default_date = sv_of("26 Jul 2024");
        st->date_from_clock = has(tmpl, "strftime_now");
        break;
    case LC_CHAT_PHI3:
        st->prompt_after_user =
            has(tmpl, "'<|end|>' + '\\n' + '<|assistant|>'");
        st->eos_without_gen = has(tmpl, "{{ eos_token }}");
        st->skip_empty_system = has(tmpl, "'system' and message['content']");
        break;
    case LC_CHAT_ZEPHYR:
        st->endoftext_literal = has(tmpl, "<|endoftext|>");
        break;
    default:
        break;
    }
}

/* ---------------------------------------------------------- renderers */

typedef struct render_in {
    const chat_style *st;
    const char *bos;
    const char *eos;
    const lc_chat_message *m; /* [n] */
    int n;
    bool add_gen;
    char *err;
    size_t err_len;
} render_in;

static bool is_role(const lc_chat_message *m, const char *role) {
    return strcmp(m->role, role) == 0;
}

static bool first_is_system(const render_in *in) {
    return in->n > 0 && is_role(&in->m[0], "system");
}

/* Templates that take the system message out and then loop over the rest
 * require user/assistant/user/...: raise_exception("Conversation roles must
 * alternate ...") in their Jinja. */
static int check_alternation(const render_in *in, int first, bool only_ua) {
    for (int i = first; i < in->n; i++) {
        bool user = is_role(&in->m[i], "user");
        if (user != ((i - first) % 2 == 0)) {
            lc_set_err(in->err, in->err_len,
                       "%s template: conversation roles must alternate "
                       "user/assistant/user/assistant/... after an optional "
                       "first system message (message %d is '%s')",
                       lc_chat_family_name(in->st->family), i, in->m[i].role);
            return -1;
        }
        if (only_ua && !user && !is_role(&in->m[i], "assistant")) {
            lc_set_err(in->err, in->err_len,
                       "%s template: only the first message may be a system "
                       "message (message %d)",
                       lc_chat_family_name(in->st->family), i);
            return -1;
        }
    }
    return 0;
}

/* <|im_start|>role\ncontent<|im_end|>\n per message. */
static int render_chatml(strbuf *b, const render_in *in) {
    int i = 0;
    if (!first_is_system(in) && in->st->default_system.n > 0) {
        sb_puts(b, "<|im_start|>system\n");
        sb_put_jinja_literal(b, in->st->default_system);
        sb_puts(b, "<|im_end|>\n");
    }
    for (; i < in->n; i++) {
        sb_puts(b, "<|im_start|>");
        sb_puts(b, in->m[i].role);
        sb_puts(b, "\n");
        sb_puts(b, in->m[i].content);
        sb_puts(b, "<|im_end|>\n");
    }
    if (in->add_gen) sb_puts(b, "<|im_start|>assistant\n");
    return 0;
}

/* Qwen3: chatml, plus reasoning. An assistant turn that comes after the
 * last real user query (an agent's multi-step answer, or the final turn
 * when there is no generation prompt) keeps its reasoning in a
 * <think>...</think> block; earlier assistant turns lose it. */
static int render_qwen3(strbuf *b, const render_in *in) {
    if (first_is_system(in)) {
        sb_puts(b, "<|im_start|>system\n");
        sb_puts(b, in->m[0].content);
        sb_puts(b, "<|im_end|>\n");
    }
    /* last user message that is not a wrapped tool response */
    int last_query = in->n - 1;
    for (int i = in->n - 1; i >= 0; i--) {
        sv c = sv_of(in->m[i].content);
        if (is_role(&in->m[i], "user") &&
            !(sv_has_prefix(c, "<tool_response>") &&
              sv_has_suffix(c, "</tool_response>"))) {
            last_query = i;
            break;
        }
    }
    for (int i = 0; i < in->n; i++) {
        const lc_chat_message *m = &in->m[i];
        if (is_role(m, "user") || (is_role(m, "system") && i > 0)) {
            sb_puts(b, "<|im_start|>");
            sb_puts(b, m->role);
            sb_puts(b, "\n");
            sb_puts(b, m->content);
            sb_puts(b, "<|im_end|>\n");
        } else if (is_role(m, "assistant")) {
            sv content = sv_of(m->content);
            sv reasoning = {"", 0};
            long close_last = sv_find(content, "</think>", true);
            if (close_last >= 0) {
                /* content.split('</think>')[-1].lstrip('\n') */
                sv after = {content.p + close_last + 8,
                            content.n - (size_t)close_last - 8};
                /* content.split('</think>')[0].rstrip('\n')
                 *        .split('<think>')[-1].lstrip('\n') */
                long close_first = sv_find(content, "</think>", false);
                sv before = {content.p, (size_t)close_first};
                before = sv_rstrip_char(before, '\n');
                long open = sv_find(before, "<think>", true);
                if (open >= 0) {
                    before.p += open + 7;
                    before.n -= (size_t)open + 7;
                }
                reasoning = sv_lstrip_char(before, '\n');
                content = sv_lstrip_char(after, '\n');
            }
            bool last = i == in->n - 1;
            if (i > last_query && (last || reasoning.n > 0)) {
                sb_puts(b, "<|im_start|>assistant\n<think>\n");
                sb_putv(b,
                        sv_rstrip_char(sv_lstrip_char(reasoning, '\n'), '\n'));
                sb_puts(b, "\n</think>\n\n");
                sb_putv(b, sv_lstrip_char(content, '\n'));
            } else {
                sb_puts(b, "<|im_start|>assistant\n");
                sb_putv(b, content);
            }
            sb_puts(b, "<|im_end|>\n");
        }
    }
    if (in->add_gen) {
        sb_puts(b, "<|im_start|>assistant\n");
        if (in->st->think_prompt) sb_puts(b, "<think>\n");
    }
    return 0;
}

static void llama3_turn(strbuf *b, const char *role, sv content) {
    sb_puts(b, "<|start_header_id|>");
    sb_puts(b, role);
    sb_puts(b, "<|end_header_id|>\n\n");
    sb_putv(b, content);
    sb_puts(b, "<|eot_id|>");
}

/* Llama 3: BOS, then a header + trimmed content + <|eot_id|> per turn. */
static int render_llama3(strbuf *b, const render_in *in) {
    if (in->st->writes_bos) sb_puts(b, in->bos);
    for (int i = 0; i < in->n; i++)
        llama3_turn(b, in->m[i].role, sv_trim(sv_of(in->m[i].content)));
    if (in->add_gen || in->st->gen_always)
        sb_puts(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    return 0;
}

/* Llama 3.1+: the system turn is always written and starts with the
 * knowledge cutoff and today's date. */
static int render_llama31(strbuf *b, const render_in *in) {
    char date[64];
    size_t dn = in->st->default_date.n < sizeof date - 1
                    ? in->st->default_date.n
                    : sizeof date - 1;
    memcpy(date, in->st->default_date.p, dn);
    date[dn] = '\0';
    if (in->st->date_from_clock) {
        /* Llama 3.2 asks the renderer for today: strftime_now("%d %b %Y") */
        time_t now = time(NULL);
        struct tm tm;
        if (localtime_r(&now, &tm))
            strftime(date, sizeof date, "%d %b %Y", &tm);
    }
    if (in->st->writes_bos) sb_puts(b, in->bos);
    int i = 0;
    sv system = {"", 0};
    if (first_is_system(in)) {
        system = sv_trim(sv_of(in->m[0].content));
        i = 1;
    }
    sb_puts(b, "<|start_header_id|>system<|end_header_id|>\n\n");
    sb_puts(b, "Cutting Knowledge Date: December 2023\nToday Date: ");
    sb_puts(b, date);
    sb_puts(b, "\n\n");
    sb_putv(b, system);
    sb_puts(b, "<|eot_id|>");
    for (; i < in->n; i++)
        llama3_turn(b, in->m[i].role, sv_trim(sv_of(in->m[i].content)));
    if (in->add_gen)
        sb_puts(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    return 0;
}

/* Llama 2 chat: the system message goes inside the first [INST] between
 * <<SYS>> markers; each user turn starts with BOS and the whole
 * (system + user) text is strip()ed; assistant turns are padded with one
 * space on each side and end with EOS. No generation prompt. */
static int render_llama2(strbuf *b, const render_in *in) {
    int first = first_is_system(in) ? 1 : 0;
    if (check_alternation(in, first, false) < 0) return -1;
    strbuf tmp = {0};
    for (int i = first; i < in->n; i++) {
        const lc_chat_message *m = &in->m[i];
        tmp.len = 0;
        if (i == first && first == 1) {
            sb_puts(&tmp, "<<SYS>>\n");
            sb_puts(&tmp, in->m[0].content);
            sb_puts(&tmp, "\n<</SYS>>\n\n");
        }
        sb_puts(&tmp, m->content);
        sv content = {tmp.p ? tmp.p : "", tmp.len};
        if (is_role(m, "user")) {
            if (in->st->writes_bos) sb_puts(b, in->bos);
            sb_puts(b, "[INST] ");
            sb_putv(b, sv_trim(content));
            sb_puts(b, " [/INST]");
        } else if (is_role(m, "assistant")) {
            sb_puts(b, " ");
            sb_putv(b, sv_trim(content));
            sb_puts(b, " ");
            sb_puts(b, in->eos);
        }
        /* a later system message at an odd position writes nothing */
    }
    if (tmp.oom) b->oom = true;
    free(tmp.p);
    return 0;
}

/* Mistral v0/v1/v3/v3-tekken: BOS once, [INST] user [/INST] assistant EOS,
 * with the family's whitespace. The system message joins the first (v0,
 * v1) or the last (v3, v3-tekken) user message, followed by a blank line.
 * No generation prompt: the prompt already ends with [/INST]. */
static int render_mistral(strbuf *b, const render_in *in) {
    enum lc_chat_family f = in->st->family;
    int first = first_is_system(in) ? 1 : 0;
    if (check_alternation(in, first, true) < 0) return -1;
    const char *open = f == LC_CHAT_MISTRAL_V0   ? "[INST] "
                       : f == LC_CHAT_MISTRAL_V1 ? " [INST] "
                       : f == LC_CHAT_MISTRAL_V3 ? "[INST] "
                                                 : "[INST]";
    const char *close = f == LC_CHAT_MISTRAL_V0 || f == LC_CHAT_MISTRAL_V1
                            ? " [/INST]"
                            : "[/INST]";
    bool sys_on_last =
        f == LC_CHAT_MISTRAL_V3 || f == LC_CHAT_MISTRAL_V3_TEKKEN;
    if (in->st->writes_bos) sb_puts(b, in->bos);
    for (int i = first; i < in->n; i++) {
        const lc_chat_message *m = &in->m[i];
        if (is_role(m, "user")) {
            bool with_sys =
                first == 1 && (sys_on_last ? i == in->n - 1 : i == first);
            sb_puts(b, open);
            if (with_sys) {
                sb_puts(b, in->m[0].content);
                sb_puts(b, "\n\n");
            }
            sb_puts(b, m->content);
            sb_puts(b, close);
        } else {
            sv c = sv_of(m->content);
            if (f == LC_CHAT_MISTRAL_V1) sb_puts(b, " ");
            if (f == LC_CHAT_MISTRAL_V3) {
                sb_puts(b, " ");
                c = sv_trim(c);
            }
            sb_putv(b, c);
            sb_puts(b, in->eos);
        }
    }
    return 0;
}

/* Mistral v7: system prompts have their own control tokens and may come
 * anywhere; v7 puts a space after each control token, v7-tekken none. */
static int render_mistral_v7(strbuf *b, const render_in *in) {
    const char *sp = in->st->family == LC_CHAT_MISTRAL_V7 ? " " : "";
    if (in->st->writes_bos) sb_puts(b, in->bos);
    for (int i = 0; i < in->n; i++) {
        const lc_chat_message *m = &in->m[i];
        if (is_role(m, "system")) {
            sb_puts(b, "[SYSTEM_PROMPT]");
            sb_puts(b, sp);
            sb_puts(b, m->content);
            sb_puts(b, "[/SYSTEM_PROMPT]");
        } else if (is_role(m, "user")) {
            sb_puts(b, "[INST]");
            sb_puts(b, sp);
            sb_puts(b, m->content);
            sb_puts(b, "[/INST]");
        } else {
            sb_puts(b, sp);
            sb_puts(b, m->content);
            sb_puts(b, in->eos);
        }
    }
    return 0;
}

/* Gemma: BOS, turns as <start_of_turn>user|model\n...<end_of_turn>\n with
 * trimmed content; the system message (untrimmed) + a blank line opens the
 * first turn. */
static int render_gemma(strbuf *b, const render_in *in) {
    int first = first_is_system(in) ? 1 : 0;
    if (check_alternation(in, first, false) < 0) return -1;
    if (in->st->writes_bos) sb_puts(b, in->bos);
    for (int i = first; i < in->n; i++) {
        const lc_chat_message *m = &in->m[i];
        sb_puts(b, "<start_of_turn>");
        sb_puts(b, is_role(m, "assistant") ? "model" : m->role);
        sb_puts(b, "\n");
        if (i == first && first == 1) {
            sb_puts(b, in->m[0].content);
            sb_puts(b, "\n\n");
        }
        sb_putv(b, sv_trim(sv_of(m->content)));
        sb_puts(b, "<end_of_turn>\n");
    }
    if (in->add_gen) sb_puts(b, "<start_of_turn>model\n");
    return 0;
}

/* Phi-3: <|role|>\ncontent<|end|>\n per message. */
static int render_phi3(strbuf *b, const render_in *in) {
    const chat_style *st = in->st;
    if (st->writes_bos) sb_puts(b, in->bos);
    if (st->prompt_after_user) {
        /* first Phi-3-mini/medium: no system role, the assistant header
         * follows each user turn, add_generation_prompt is not used */
        int first = first_is_system(in) ? 1 : 0;
        for (int i = first; i < in->n; i++) {
            const lc_chat_message *m = &in->m[i];
            if (is_role(m, "user")) {
                sb_puts(b, "<|user|>\n");
                if (i == first && first == 1) {
                    sb_puts(b, in->m[0].content);
                    sb_puts(b, "\n\n");
                }
                sb_puts(b, m->content);
                sb_puts(b, "<|end|>\n<|assistant|>\n");
            } else if (is_role(m, "assistant")) {
                sb_puts(b, m->content);
                sb_puts(b, "<|end|>\n");
            } else {
                lc_set_err(in->err, in->err_len,
                           "phi3 template: only the first message may be a "
                           "system message (message %d)",
                           i);
                return -1;
            }
        }
        return 0;
    }
    for (int i = 0; i < in->n; i++) {
        const lc_chat_message *m = &in->m[i];
        if (st->skip_empty_system && is_role(m, "system") && !m->content[0])
            continue;
        sb_puts(b, "<|");
        sb_puts(b, m->role);
        sb_puts(b, "|>\n");
        sb_puts(b, m->content);
        sb_puts(b, "<|end|>\n");
    }
    if (in->add_gen)
        sb_puts(b, "<|assistant|>\n");
    else if (st->eos_without_gen)
        sb_puts(b, in->eos);
    return 0;
}

/* Phi-4: chatml with <|im_sep|> after the role and no newlines. */
static int render_phi4(strbuf *b, const render_in *in) {
    for (int i = 0; i < in->n; i++) {
        sb_puts(b, "<|im_start|>");
        sb_puts(b, in->m[i].role);
        sb_puts(b, "<|im_sep|>");
        sb_puts(b, in->m[i].content);
        sb_puts(b, "<|im_end|>");
    }
    if (in->add_gen) sb_puts(b, "<|im_start|>assistant<|im_sep|>");
    return 0;
}

/* Zephyr: <|role|>\ncontent</s>\n; the generation prompt is written inside
 * the message loop (loop.last), so an empty conversation gets none. */
static int render_zephyr(strbuf *b, const render_in *in) {
    const char *end = in->st->endoftext_literal ? "<|endoftext|>" : in->eos;
    for (int i = 0; i < in->n; i++) {
        sb_puts(b, "<|");
        sb_puts(b, in->m[i].role);
        sb_puts(b, "|>\n");
        sb_puts(b, in->m[i].content);
        sb_puts(b, end);
        sb_puts(b, "\n");
    }
    if (in->add_gen && in->n > 0) sb_puts(b, "<|assistant|>\n");
    return 0;
}

/* ------------------------------------------------------------ public */

char *lc_chat_render_text(const char *tmpl, const char *bos_text,
                          const char *eos_text, bool add_bos,
                          const lc_chat_message *messages, int n_messages,
                          bool add_generation_prompt, char *err,
                          size_t err_len) {
    /* Many templates index messages[0] and fail on an empty conversation;
     * there is nothing to generate from one anyway. */
    if (n_messages <= 0 || !messages) {
        lc_set_err(err, err_len, "chat template: the conversation is empty");
        return NULL;
    }
    for (int i = 0; i < n_messages; i++) {
        const char *r = messages[i].role;
        if (!r || (strcmp(r, "system") && strcmp(r, "user") &&
                   strcmp(r, "assistant"))) {
            lc_set_err(err, err_len,
                       "chat template: message %d has role '%s'; roles must be "
                       "system, user or assistant",
                       i, r ? r : "(null)");
            return NULL;
        }
        if (!messages[i].content) {
            lc_set_err(err, err_len, "chat template: message %d has no content",
                       i);
            return NULL;
        }
    }
    chat_style st;
    style_init(&st, tmpl);
    render_in in = {&st,      bos_text,   eos_text,
                    messages, n_messages, add_generation_prompt,
                    err,      err_len};
    strbuf b = {0};
    sb_putn(&b, "", 0);
    int rc;
    switch (st.family) {
    case LC_CHAT_CHATML:
        rc = render_chatml(&b, &in);
        break;
    case LC_CHAT_QWEN3:
        rc = render_qwen3(&b, &in);
        break;
    case LC_CHAT_LLAMA2:
        rc = render_llama2(&b, &in);
        break;
    case LC_CHAT_LLAMA3:
        rc = render_llama3(&b, &in);
        break;
    case LC_CHAT_LLAMA31:
        rc = render_llama31(&b, &in);
        break;
    case LC_CHAT_MISTRAL_V0:
    case LC_CHAT_MISTRAL_V1:
    case LC_CHAT_MISTRAL_V3:
    case LC_CHAT_MISTRAL_V3_TEKKEN:
        rc = render_mistral(&b, &in);
        break;
    case LC_CHAT_MISTRAL_V7:
    case LC_CHAT_MISTRAL_V7_TEKKEN:
        rc = render_mistral_v7(&b, &in);
        break;
    case LC_CHAT_GEMMA:
        rc = render_gemma(&b, &in);
        break;
    case LC_CHAT_PHI3:
        rc = render_phi3(&b, &in);
        break;
    case LC_CHAT_PHI4:
        rc = render_phi4(&b, &in);
        break;
    case LC_CHAT_ZEPHYR:
        rc = render_zephyr(&b, &in);
        break;
    default:
        lc_set_err(err, err_len,
                   "unknown chat template (supported families: %s); pass one "
                   "of these names as the template to choose it",
                   supported_list);
        rc = -1;
    }
    if (rc == 0 && b.oom) {
        lc_set_err(err, err_len, "chat template: out of memory");
        rc = -1;
    }
    if (rc < 0) {
        free(b.p);
        return NULL;
    }
    if (!b.p) {
        b.p = calloc(1, 1);
        if (!b.p) {
            lc_set_err(err, err_len, "chat template: out of memory");
            return NULL;
        }
    }
    /* The tokenizer adds BOS as a token; its text at the start would be
     * tokenized into a second BOS. */
    if (add_bos && bos_text && *bos_text) {
        size_t n = strlen(bos_text);
        if (b.len >= n && memcmp(b.p, bos_text, n) == 0)
            memmove(b.p, b.p + n, b.len - n + 1);
    }
    return b.p;
}

char *lc_chat_render(const lc_model *model, const char *template_override,
                     const lc_chat_message *messages, int n_messages,
                     bool add_generation_prompt, char *err, size_t err_len) {
    if (!model) {
        lc_set_err(err, err_len, "chat template: no model");
        return NULL;
    }
    const char *tmpl =
        template_override ? template_override : model->chat_template;
    const char *bos = NULL, *eos = NULL;
    bool add_bos = false;
    const lc_vocab *v = model->vocab;
    if (v) {
        int n_tokens = lc_vocab_n_tokens(v);
        int32_t bos_id = lc_vocab_bos(v), eos_id = lc_vocab_eos(v);
        if (bos_id >= 0 && bos_id < n_tokens) bos = lc_vocab_text(v, bos_id);
        if (eos_id >= 0 && eos_id < n_tokens) eos = lc_vocab_text(v, eos_id);
        add_bos = lc_vocab_add_bos(v);
    }
    return lc_chat_render_text(tmpl, bos, eos, add_bos, messages, n_messages,
                               add_generation_prompt, err, err_len);
}

const char *lc_chat_template_name(const lc_model *model) {
    return lc_chat_family_name(
        lc_chat_detect(model ? model->chat_template : NULL));
}
