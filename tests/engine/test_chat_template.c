/*
 * Chat templates: every case of the llama.cpp/Jinja oracle renders
 * byte-identical, and the other families render as their published Jinja
 * templates do.
 *
 * The oracle (../shared/oracle/chat-templates.json) holds the Llama 3,
 * Qwen3 and Gemma 3 templates with conversations rendered by
 * @huggingface/jinja and their token ids. The family cases below embed
 * published templates (tokenizer_config.json "chat_template" of the named
 * Hugging Face repositories; some abridged where noted, keeping every line
 * that a system/user/assistant conversation goes through) with the prompt
 * that Jinja2 3.1.6 renders for them under transformers' settings
 * (trim_blocks, lstrip_blocks), checked by hand.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "engine/chat_template.h"
#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/tokenizer.h"

/* ------------------------------------------------------------ oracle */

/* The special-token strings of each oracle template's tokenizer_config.json
 * (Qwen3 has no bos_token). They are inputs of the render, like the
 * Jinja context that transformers builds. */
typedef struct oracle_tok {
    const char *name;
    const char *bos;
    const char *eos;
    const char *vocab; /* under ../shared/vocab */
    const char *family;
    const char *gen_prompt;
} oracle_tok;

static const oracle_tok oracle_toks[] = {
    {"llama3", "<|begin_of_text|>", "<|eot_id|>",
     "vocab/ggml-vocab-llama3.gguf", "llama3",
     "<|start_header_id|>assistant<|end_header_id|>\n\n"},
    {"qwen3", NULL, "<|im_end|>", "vocab/ggml-vocab-qwen3.gguf", "qwen3",
     "<|im_start|>assistant\n"},
    {"gemma3", "<bos>", "<eos>", "vocab/ggml-vocab-gemma3.gguf", "gemma",
     "<start_of_turn>model\n"},
};

static const oracle_tok *oracle_tok_of(const char *name) {
    for (size_t i = 0; i < sizeof oracle_toks / sizeof oracle_toks[0]; i++)
        if (strcmp(oracle_toks[i].name, name) == 0) return &oracle_toks[i];
    return NULL;
}

static json_t *load_oracle(void) {
    const char *path = lc_shared_path("oracle/chat-templates.json");
    if (!lc_file_exists(path)) return NULL;
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) fail_msg("cannot parse %s: %s", path, je.text);
    return root;
}

/* messages of a case, pointing into the JSON (valid while it lives) */
static lc_chat_message *case_messages(json_t *c, int *n) {
    json_t *ms = json_object_get(c, "messages");
    *n = (int)json_array_size(ms);
    lc_chat_message *m = calloc((size_t)*n + 1, sizeof *m);
    assert_non_null(m);
    for (int i = 0; i < *n; i++) {
        json_t *mj = json_array_get(ms, (size_t)i);
        m[i].role = json_string_value(json_object_get(mj, "role"));
        m[i].content = json_string_value(json_object_get(mj, "content"));
        assert_non_null(m[i].role);
        assert_non_null(m[i].content);
    }
    return m;
}

static const char *case_template(json_t *root, json_t *c) {
    const char *name = json_string_value(json_object_get(c, "template"));
    json_t *t = json_object_get(json_object_get(root, "templates"), name);
    return json_string_value(json_object_get(t, "chat_template"));
}

static void test_oracle_render(void **state) {
    (void)state;
    lc_test_skip_without(lc_shared_path("oracle/chat-templates.json"));
    json_t *root = load_oracle();
    json_t *cases = json_object_get(root, "cases");
    assert_true(json_array_size(cases) >= 9);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *name = json_string_value(json_object_get(c, "template"));
        const oracle_tok *tok = oracle_tok_of(name);
        assert_non_null(tok);
        const char *tmpl = case_template(root, c);
        assert_non_null(tmpl);
        assert_string_equal(lc_chat_family_name(lc_chat_detect(tmpl)),
                            tok->family);
        int n;
        lc_chat_message *m = case_messages(c, &n);
        bool gen = json_is_true(json_object_get(c, "add_generation_prompt"));
        char err[512] = "";

        /* as the Jinja engine renders it (the tokenizer adds no BOS) */
        char *out = lc_chat_render_text(tmpl, tok->bos, tok->eos, false, m, n,
                                        gen, err, sizeof err);
        if (!out)
            fail_msg("%s/%s: %s", name,
                     json_string_value(json_object_get(c, "conversation")),
                     err);
        assert_string_equal(out,
                            json_string_value(json_object_get(c, "rendered")));
        free(out);

        /* as llama.cpp renders it for a tokenizer that adds BOS itself */
        const char *jinja =
            json_string_value(json_object_get(c, "llama_cpp_jinja"));
        if (jinja) {
            out = lc_chat_render_text(tmpl, tok->bos, tok->eos, true, m, n, gen,
                                      err, sizeof err);
            assert_non_null(out);
            assert_string_equal(out, jinja);
            free(out);
        }
        free(m);
    }
    json_decref(root);
}

/* Without the generation prompt: Qwen3 and Gemma 3 leave it out; the
 * April-2024 Llama 3 template writes the assistant header regardless. */
static void test_oracle_without_generation_prompt(void **state) {
    (void)state;
    lc_test_skip_without(lc_shared_path("oracle/chat-templates.json"));
    json_t *root = load_oracle();
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(root, "cases"), i, c) {
        const char *name = json_string_value(json_object_get(c, "template"));
        const oracle_tok *tok = oracle_tok_of(name);
        const char *tmpl = case_template(root, c);
        const char *rendered =
            json_string_value(json_object_get(c, "rendered"));
        int n;
        lc_chat_message *m = case_messages(c, &n);
        char err[512];
        char *out = lc_chat_render_text(tmpl, tok->bos, tok->eos, false, m, n,
                                        false, err, sizeof err);
        assert_non_null(out);
        size_t rl = strlen(rendered), gl = strlen(tok->gen_prompt);
        assert_true(rl > gl);
        assert_string_equal(rendered + rl - gl, tok->gen_prompt);
        if (strcmp(name, "llama3") == 0) {
            assert_string_equal(out, rendered);
        } else {
            assert_int_equal(strlen(out), rl - gl);
            assert_memory_equal(out, rendered, rl - gl);
        }
        free(out);
        free(m);
    }
    json_decref(root);
}

/* The rendered prompts tokenize (parse_special) to the oracle's ids, and
 * the BOS texts above are the vocabularies' own. */
static void test_oracle_token_ids(void **state) {
    (void)state;
    lc_test_skip_without(lc_shared_path("oracle/chat-templates.json"));
    json_t *root = load_oracle();
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(root, "cases"), i, c) {
        const char *name = json_string_value(json_object_get(c, "template"));
        const oracle_tok *tok = oracle_tok_of(name);
        const char *path = lc_shared_path(tok->vocab);
        if (!lc_file_exists(path)) {
            print_message("skip %s: %s is absent\n", name, path);
            continue;
        }
        char err[512] = "";
        gguf_file *f = gguf_open(path, err, sizeof err);
        if (!f) fail_msg("%s: %s", path, err);
        lc_vocab *v = lc_vocab_load(f, err, sizeof err);
        if (!v) fail_msg("%s: %s", path, err);
        if (tok->bos) {
            assert_true(lc_vocab_bos(v) >= 0);
            assert_string_equal(lc_vocab_text(v, lc_vocab_bos(v)), tok->bos);
        }
        int n;
        lc_chat_message *m = case_messages(c, &n);
        char *out =
            lc_chat_render_text(case_template(root, c), tok->bos, tok->eos,
                                false, m, n, true, err, sizeof err);
        assert_non_null(out);
        json_t *ids = json_object_get(c, "token_ids");
        int32_t toks[512];
        int nt = lc_vocab_tokenize(v, out, strlen(out), false, true, toks, 512);
        assert_int_equal(nt, (int)json_array_size(ids));
        for (int k = 0; k < nt; k++)
            assert_int_equal(
                toks[k], json_integer_value(json_array_get(ids, (size_t)k)));
        free(out);
        free(m);
        lc_vocab_free(v);
        gguf_close(f);
    }
    json_decref(root);
}

/* lc_chat_render over a model: BOS text from its vocabulary, left out
 * when the vocabulary adds BOS itself; no template means chatml. */
static void test_render_with_model(void **state) {
    (void)state;
    const char *path = lc_shared_path("vocab/ggml-vocab-gemma3.gguf");
    lc_test_skip_without(path);
    char err[512] = "";
    gguf_file *f = gguf_open(path, err, sizeof err);
    if (!f) fail_msg("%s: %s", path, err);
    lc_vocab *v = lc_vocab_load(f, err, sizeof err);
    if (!v) fail_msg("%s: %s", path, err);
    lc_model model;
    memset(&model, 0, sizeof model);
    model.vocab = v;
    lc_chat_message m[] = {{"user", "Hello!"}};
    const char *want = lc_vocab_add_bos(v)
                           ? "<start_of_turn>user\nHello!<end_of_turn>\n"
                             "<start_of_turn>model\n"
                           : "<bos><start_of_turn>user\nHello!<end_of_turn>\n"
                             "<start_of_turn>model\n";
    char *out = lc_chat_render(&model, "gemma", m, 1, true, err, sizeof err);
    assert_non_null(out);
    assert_string_equal(out, want);
    free(out);

    assert_string_equal(lc_chat_template_name(&model), "chatml");
    out = lc_chat_render(&model, NULL, m, 1, true, err, sizeof err);
    assert_non_null(out);
    assert_string_equal(out, "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>"
                             "assistant\n");
    free(out);

    char tmpl[] = "{{ bos_token }}{% for m in messages %}<start_of_turn>"
                  "{% endfor %}";
    model.chat_template = tmpl;
    assert_string_equal(lc_chat_template_name(&model), "gemma");
    model.chat_template = NULL;
    lc_vocab_free(v);
    gguf_close(f);
}

/* ---------------------------------------------------------- families */

typedef struct family_case {
    const char *key;
    const char *family;
    const char *tmpl;
    const char *bos;
    const char *eos;
    const char *want; /* the conversation below, with generation prompt */
} family_case;

static const lc_chat_message conversation[] = {
    {"system", "You are terse."},
    {"user", " Hi there "},
    {"assistant", "  Hello!  "},
    {"user", "Bye\n"},
};

static const family_case family_cases[] = {
    /* meta-llama/Llama-2-7b-chat-hf */
    {"llama2", "llama2",
     "{% if messages[0]['role'] == 'system' %}{% set loop_messages "
     "= messages[1:] %}{% set system_message = messages[0]['content'] "
     "%}{% else %}{% set loop_messages = messages %}{% set system_message "
     "= false %}{% endif %}{% for message in loop_messages %}{% if "
     "(message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ "
     "raise_exception('Conversation "
     "roles must alternate user/assistant/user/assistant/...') }}{%"
     " endif %}{% if loop.index0 == 0 and system_message != false %"
     "}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' "
     "+ message['content'] %}{% else %}{% set content = message['content'] "
     "%}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + "
     "'[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] "
     "== 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token "
     "}}{% endif %}{% endfor %}",
     "<s>", "</s>",
     "<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n"
     "\n Hi there [/INST] Hello! </s><s>[INST] Bye [/INST]"},
    /* mistralai/Mistral-7B-Instruct-v0.2 (v1 template with system prompt) */
    {"mistral-v1", "mistral-v1",
     "{%- if messages[0]['role'] == 'system' %}\n"
     "    {%- set system_message = messages[0]['content'] %}\n"
     "    {%- set loop_messages = messages[1:] %}\n"
     "{%- else %}\n    {%- set loop_messages = messages %}\n"
     "{%- endif %}\n\n{{- bos_token }}\n{%- for message in loop_messages "
     "%}\n    {%- if (message['role'] == 'user') != (loop.index0 % 2 "
     "== 0) %}\n        {{- raise_exception('After the optional system "
     "message, conversation roles must alternate "
     "user/assistant/user/assistant/...') "
     "}}\n    {%- endif %}\n    {%- if message['role'] == 'user' %}\n"
     "        {%- if loop.first and system_message is defined %}\n"
     "            {{- ' [INST] ' + system_message + '\\n\\n' + "
     "message['content'] "
     "+ ' [/INST]' }}\n        {%- else %}\n            {{- ' [INST] "
     "' + message['content'] + ' [/INST]' }}\n        {%- endif %}\n"
     "    {%- elif message['role'] == 'assistant' %}\n"
     "        {{- ' ' + message['content'] + eos_token}}\n"
     "    {%- else %}\n        {{- raise_exception('Only user and assistant "
     "roles are supported, with the exception of an initial optional "
     "system message!') }}\n    {%- endif %}\n{%- endfor %}\n",
     "<s>", "</s>",
     "<s> [INST] You are terse.\n\n Hi there  [/INST]   Hello!  </s> "
     "[INST] Bye\n [/INST]"},
    /* mistralai/Mistral-7B-Instruct-v0.3, abridged: tool branches left out */
    {"mistral-v3", "mistral-v3",
     "{%- if messages[0][\"role\"] == \"system\" %}\n"
     "    {%- set system_message = messages[0][\"content\"] %}\n"
     "    {%- set loop_messages = messages[1:] %}\n"
     "{%- else %}\n    {%- set loop_messages = messages %}\n"
     "{%- endif %}\n{%- if not tools is defined %}\n"
     "    {%- set tools = none %}\n{%- endif %}\n"
     "{%- set user_messages = loop_messages | selectattr(\"role\", "
     "\"equalto\", "
     "\"user\") | list %}\n{%- for message in loop_messages %}\n"
     "    {%- if (message[\"role\"] == \"user\") != (loop.index0 % 2 == "
     "0) %}\n        {{- raise_exception(\"After the optional system "
     "message, conversation roles must alternate "
     "user/assistant/user/assistant/...\") "
     "}}\n    {%- endif %}\n{%- endfor %}\n{{- bos_token }}\n"
     "{%- for message in loop_messages %}\n    {%- if message[\"role\"] "
     "== \"user\" %}\n        {%- if tools is not none and (message == "
     "user_messages[-1]) %}\n            {{- \"[AVAILABLE_TOOLS]\" + "
     "tools|tojson "
     "+ \"[/AVAILABLE_TOOLS]\" }}\n        {%- endif %}\n"
     "        {%- if loop.last and system_message is defined %}\n"
     "            {{- \"[INST] \" + system_message + \"\\n\\n\" + "
     "message[\"content\"] "
     "+ \"[/INST]\" }}\n        {%- else %}\n            {{- \"[INST] \" "
     "+ message[\"content\"] + \"[/INST]\" }}\n        {%- endif %}\n"
     "    {%- elif message[\"role\"] == \"assistant\" %}\n"
     "        {{- \" \" + message[\"content\"]|trim + eos_token }}\n"
     "    {%- else %}\n        {{- raise_exception(\"Only user and assistant "
     "roles are supported, with the exception of an initial optional "
     "system message!\") }}\n    {%- endif %}\n{%- endfor %}\n",
     "<s>", "</s>",
     "<s>[INST]  Hi there [/INST] Hello!</s>[INST] You are terse.\n"
     "\nBye\n[/INST]"},
    /* mistralai/Mistral-Nemo-Instruct-2407, abridged: tool branches left out */
    {"mistral-v3-tekken", "mistral-v3-tekken",
     "{%- if messages[0][\"role\"] == \"system\" %}\n"
     "    {%- set system_message = messages[0][\"content\"] %}\n"
     "    {%- set loop_messages = messages[1:] %}\n"
     "{%- else %}\n    {%- set loop_messages = messages %}\n"
     "{%- endif %}\n{%- if not tools is defined %}\n"
     "    {%- set tools = none %}\n{%- endif %}\n"
     "{%- set user_messages = loop_messages | selectattr(\"role\", "
     "\"equalto\", "
     "\"user\") | list %}\n{%- for message in loop_messages %}\n"
     "    {%- if (message[\"role\"] == \"user\") != (loop.index0 % 2 == "
     "0) %}\n        {{- raise_exception(\"After the optional system "
     "message, conversation roles must alternate "
     "user/assistant/user/assistant/...\") "
     "}}\n    {%- endif %}\n{%- endfor %}\n{{- bos_token }}\n"
     "{%- for message in loop_messages %}\n    {%- if message[\"role\"] "
     "== \"user\" %}\n        {%- if tools is not none and (message == "
     "user_messages[-1]) %}\n            {{- \"[AVAILABLE_TOOLS]\" + "
     "tools|tojson "
     "+ \"[/AVAILABLE_TOOLS]\" }}\n        {%- endif %}\n"
     "        {%- if loop.last and system_message is defined %}\n"
     "            {{- \"[INST]\" + system_message + \"\\n\\n\" + "
     "message[\"content\"] "
     "+ \"[/INST]\" }}\n        {%- else %}\n            {{- \"[INST]\" + "
     "message[\"content\"] + \"[/INST]\" }}\n        {%- endif %}\n"
     "    {%- elif message[\"role\"] == \"assistant\" %}\n"
     "        {{- message[\"content\"] + eos_token }}\n"
     "    {%- else %}\n        {{- raise_exception(\"Only user and assistant "
     "roles are supported, with the exception of an initial optional "
     "system message!\") }}\n    {%- endif %}\n{%- endfor %}\n",
     "<s>", "</s>",
     "<s>[INST] Hi there [/INST]  Hello!  </s>[INST]You are terse.\n"
     "\nBye\n[/INST]"},
    /* mistralai/Mistral-Small-24B-Instruct-2501, abridged: no default system
       message */
    {"mistral-v7-tekken", "mistral-v7-tekken",
     "{{- bos_token }}\n{%- for message in messages %}\n"
     "    {%- if message['role'] == 'user' %}\n        {{- '[INST]' "
     "+ message['content'] + '[/INST]' }}\n    {%- elif message['role'] "
     "== 'system' %}\n        {{- '[SYSTEM_PROMPT]' + message['content'] "
     "+ '[/SYSTEM_PROMPT]' }}\n    {%- elif message['role'] == 'assistant' "
     "%}\n        {{- message['content'] + eos_token }}\n"
     "    {%- else %}\n        {{- raise_exception('Only user, system "
     "and assistant roles are supported!') }}\n    {%- endif %}\n"
     "{%- endfor %}",
     "<s>", "</s>",
     "<s>[SYSTEM_PROMPT]You are terse.[/SYSTEM_PROMPT][INST] Hi there "
     "[/INST]  Hello!  </s>[INST]Bye\n[/INST]"},
    /* teknium/OpenHermes-2.5-Mistral-7B */
    {"chatml", "chatml",
     "{% for message in messages %}{{'<|im_start|>' + message['role'] "
     "+ '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor "
     "%}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' "
     "}}{% endif %}",
     NULL, "<|im_end|>",
     "<|im_start|>system\nYou are terse.<|im_end|>\n"
     "<|im_start|>user\n Hi there <|im_end|>\n<|im_start|>assistant\n"
     "  Hello!  <|im_end|>\n<|im_start|>user\nBye\n"
     "<|im_end|>\n<|im_start|>assistant\n"},
    /* Qwen/Qwen2.5-7B-Instruct, abridged: tool branches left out */
    {"qwen2.5", "chatml",
     "{%- if tools %}\n    {{- '<|im_start|>system\\n' }}\n"
     "    {%- if messages[0]['role'] == 'system' %}\n"
     "        {{- messages[0]['content'] }}\n    {%- else %}\n"
     "        {{- 'You are Qwen, created by Alibaba Cloud. You are "
     "a helpful assistant.' }}\n    {%- endif %}\n"
     "    {{- \"<|im_end|>\\n\" }}\n{%- else %}\n    {%- if "
     "messages[0]['role'] "
     "== 'system' %}\n        {{- '<|im_start|>system\\n' + "
     "messages[0]['content'] "
     "+ '<|im_end|>\\n' }}\n    {%- else %}\n        {{- "
     "'<|im_start|>system\\nYou "
     "are Qwen, created by Alibaba Cloud. You are a helpful "
     "assistant.<|im_end|>\\n' "
     "}}\n    {%- endif %}\n{%- endif %}\n{%- for message in messages "
     "%}\n    {%- if (message.role == \"user\") or (message.role == \"system\" "
     "and not loop.first) or (message.role == \"assistant\" and not "
     "message.tool_calls) "
     "%}\n        {{- '<|im_start|>' + message.role + '\\n' + message.content "
     "+ '<|im_end|>' + '\\n' }}\n    {%- endif %}\n"
     "{%- endfor %}\n{%- if add_generation_prompt %}\n"
     "    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n",
     NULL, "<|im_end|>",
     "<|im_start|>system\nYou are terse.<|im_end|>\n"
     "<|im_start|>user\n Hi there <|im_end|>\n<|im_start|>assistant\n"
     "  Hello!  <|im_end|>\n<|im_start|>user\nBye\n"
     "<|im_end|>\n<|im_start|>assistant\n"},
    /* microsoft/Phi-3.5-mini-instruct */
    {"phi3", "phi3",
     "{% for message in messages %}{% if message['role'] == 'system' "
     "and message['content'] %}{{'<|system|>\\n' + message['content'] "
     "+ '<|end|>\\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\\n' "
     "+ message['content'] + '<|end|>\\n'}}{% elif message['role'] == "
     "'assistant' %}{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}"
     "}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ "
     "'<|assistant|>\\n' "
     "}}{% else %}{{ eos_token }}{% endif %}",
     "<s>", "<|endoftext|>",
     "<|system|>\nYou are terse.<|end|>\n<|user|>\n"
     " Hi there <|end|>\n<|assistant|>\n  Hello!  <|end|>\n"
     "<|user|>\nBye\n<|end|>\n<|assistant|>\n"},
    /* microsoft/Phi-3-small-8k-instruct */
    {"phi3-small", "phi3",
     "{{ bos_token }}{% for message in messages %}{{'<|' + message['role'] "
     "+ '|>' + '\\n' + message['content'] + '<|end|>\\n' }}{% endfor "
     "%}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else "
     "%}{{ eos_token }}{% endif %}",
     "<s>", "<|endoftext|>",
     "<s><|system|>\nYou are terse.<|end|>\n<|user|>\n"
     " Hi there <|end|>\n<|assistant|>\n  Hello!  <|end|>\n"
     "<|user|>\nBye\n<|end|>\n<|assistant|>\n"},
    /* microsoft/phi-4 */
    {"phi4", "phi4",
     "{% for message in messages %}{% if (message['role'] == 'system') "
     "%}{{'<|im_start|>system<|im_sep|>' + message['content'] + '<|im_end|>'}"
     "}{% elif (message['role'] == 'user') %}{{'<|im_start|>user<|im_sep|>' "
     "+ message['content'] + '<|im_end|>'}}{% elif (message['role'] "
     "== 'assistant') %}{{'<|im_start|>assistant<|im_sep|>' + "
     "message['content'] "
     "+ '<|im_end|>'}}{% endif %}{% endfor %}{% if add_generation_prompt "
     "%}{{ '<|im_start|>assistant<|im_sep|>' }}{% endif %}",
     NULL, "<|im_end|>",
     "<|im_start|>system<|im_sep|>You are "
     "terse.<|im_end|><|im_start|>user<|im_sep|> "
     "Hi there <|im_end|><|im_start|>assistant<|im_sep|>  Hello!  "
     "<|im_end|><|im_start|>user<|im_sep|>Bye\n"
     "<|im_end|><|im_start|>assistant<|im_sep|>"},
    /* HuggingFaceH4/zephyr-7b-beta */
    {"zephyr", "zephyr",
     "{% for message in messages %}\n{% if message['role'] == 'user' "
     "%}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n"
     "{% elif message['role'] == 'system' %}\n{{ '<|system|>\n"
     "' + message['content'] + eos_token }}\n{% elif message['role'] "
     "== 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + "
     "eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt "
     "%}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}",
     "<s>", "</s>",
     "<|system|>\nYou are terse.</s>\n<|user|>\n Hi there </s>\n"
     "<|assistant|>\n  Hello!  </s>\n<|user|>\nBye\n"
     "</s>\n<|assistant|>\n"},
    /* meta-llama/Llama-3.1-8B-Instruct, abridged: tool branches left out */
    {"llama3.1", "llama3.1",
     "{{- bos_token }}\n{%- if custom_tools is defined %}\n"
     "    {%- set tools = custom_tools %}\n{%- endif %}\n"
     "{%- if not tools_in_user_message is defined %}\n"
     "    {%- set tools_in_user_message = true %}\n"
     "{%- endif %}\n{%- if not date_string is defined %}\n"
     "    {%- set date_string = \"26 Jul 2024\" %}\n"
     "{%- endif %}\n{%- if not tools is defined %}\n"
     "    {%- set tools = none %}\n{%- endif %}\n"
     "\n{#- This block extracts the system message, so we can slot it "
     "into the right place. #}\n{%- if messages[0]['role'] == 'system' "
     "%}\n    {%- set system_message = messages[0]['content']|trim %"
     "}\n    {%- set messages = messages[1:] %}\n"
     "{%- else %}\n    {%- set system_message = \"\" %}\n"
     "{%- endif %}\n\n{#- System message + builtin tools #}\n"
     "{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n"
     "{%- if builtin_tools is defined or tools is not none %}\n"
     "    {{- \"Environment: ipython\\n\" }}\n{%- endif %}\n"
     "{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n"
     "{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n"
     "{{- system_message }}\n{{- \"<|eot_id|>\" }}\n"
     "\n{%- for message in messages %}\n    {{- '<|start_header_id|>' "
     "+ message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] "
     "| trim + '<|eot_id|>' }}\n{%- endfor %}\n{%- if add_generation_prompt "
     "%}\n    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' "
     "}}\n{%- endif %}\n",
     "<|begin_of_text|>", "<|eot_id|>",
     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n"
     "\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n"
     "\nYou are terse.<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\nBye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"},
};

static void test_families(void **state) {
    (void)state;
    int n = (int)(sizeof conversation / sizeof conversation[0]);
    for (size_t i = 0; i < sizeof family_cases / sizeof family_cases[0]; i++) {
        const family_case *fc = &family_cases[i];
        char err[512] = "";
        assert_string_equal(lc_chat_family_name(lc_chat_detect(fc->tmpl)),
                            fc->family);
        char *out = lc_chat_render_text(fc->tmpl, fc->bos, fc->eos, false,
                                        conversation, n, true, err, sizeof err);
        if (!out) fail_msg("%s: %s", fc->key, err);
        if (strcmp(out, fc->want) != 0)
            fail_msg("%s:\n got  [%s]\n want [%s]", fc->key, out, fc->want);
        free(out);
        /* a tokenizer that adds BOS: the leading BOS text goes, the
         * rest stays */
        out = lc_chat_render_text(fc->tmpl, fc->bos, fc->eos, true,
                                  conversation, n, true, err, sizeof err);
        assert_non_null(out);
        size_t skip =
            fc->bos && strncmp(fc->want, fc->bos, strlen(fc->bos)) == 0
                ? strlen(fc->bos)
                : 0;
        assert_string_equal(out, fc->want + skip);
        free(out);
    }
}

/* A family chosen by name renders as its current published template. */
static void test_family_names(void **state) {
    (void)state;
    static const char *const same[] = {"llama2", "mistral-v1", "chatml",
                                       "phi3",   "phi4",       "llama3.1"};
    int n = (int)(sizeof conversation / sizeof conversation[0]);
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        const family_case *fc = NULL;
        for (size_t k = 0; k < sizeof family_cases / sizeof family_cases[0];
             k++)
            if (strcmp(family_cases[k].key, same[i]) == 0)
                fc = &family_cases[k];
        assert_non_null(fc);
        assert_int_equal(lc_chat_detect(same[i]), lc_chat_detect(fc->tmpl));
        char err[512];
        char *out = lc_chat_render_text(same[i], fc->bos, fc->eos, false,
                                        conversation, n, true, err, sizeof err);
        assert_non_null(out);
        assert_string_equal(out, fc->want);
        free(out);
    }
    /* no template at all: chatml, as llama.cpp falls back */
    assert_string_equal(lc_chat_family_name(lc_chat_detect(NULL)), "chatml");
    assert_string_equal(lc_chat_family_name(lc_chat_detect("")), "chatml");
}

/* Mistral v0.1's first template and the first Phi-3-mini have no system
 * role: the system text opens the first user message, then a blank line. */
static void test_system_folding(void **state) {
    (void)state;
    static const char mistral_v0[] =
        "{{ bos_token }}{% for message in messages %}{% if (message['role'] "
        "== 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('"
        "Conversation roles must alternate user/assistant/user/assistant/..."
        "') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + "
        "message['content'] + ' [/INST]' }}{% elif message['role'] == "
        "'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ "
        "raise_exception('Only user and assistant roles are supported!') }}"
        "{% endif %}{% endfor %}";
    static const char phi3_first[] =
        "{{ bos_token }}{% for message in messages %}{% if (message['role'] "
        "== 'user') %}{{'<|user|>' + '\\n' + message['content'] + '<|end|>' "
        "+ '\\n' + '<|assistant|>' + '\\n'}}{% elif (message['role'] == "
        "'assistant') %}{{message['content'] + '<|end|>' + '\\n'}}{% endif "
        "%}{% endfor %}";
    int n = (int)(sizeof conversation / sizeof conversation[0]);
    char err[512];
    assert_string_equal(lc_chat_family_name(lc_chat_detect(mistral_v0)),
                        "mistral-v0");
    char *out = lc_chat_render_text(mistral_v0, "<s>", "</s>", false,
                                    conversation, n, true, err, sizeof err);
    assert_non_null(out);
    assert_string_equal(out, "<s>[INST] You are terse.\n\n Hi there  [/INST]"
                             "  Hello!  </s>[INST] Bye\n [/INST]");
    free(out);
    /* without a system message it is exactly the Jinja rendering */
    out = lc_chat_render_text(mistral_v0, "<s>", "</s>", false,
                              conversation + 1, n - 1, true, err, sizeof err);
    assert_non_null(out);
    assert_string_equal(out, "<s>[INST]  Hi there  [/INST]  Hello!  </s>"
                             "[INST] Bye\n [/INST]");
    free(out);

    assert_string_equal(lc_chat_family_name(lc_chat_detect(phi3_first)),
                        "phi3");
    out = lc_chat_render_text(phi3_first, "<s>", "<|endoftext|>", false,
                              conversation, n, true, err, sizeof err);
    assert_non_null(out);
    assert_string_equal(out, "<s><|user|>\nYou are terse.\n\n Hi there "
                             "<|end|>\n<|assistant|>\n  Hello!  <|end|>\n"
                             "<|user|>\nBye\n<|end|>\n<|assistant|>\n");
    free(out);
}

/* Qwen3 keeps the reasoning of assistant turns after the last user query
 * only; earlier turns lose their <think> block. */
static void test_qwen3_reasoning(void **state) {
    (void)state;
    lc_test_skip_without(lc_shared_path("oracle/chat-templates.json"));
    json_t *root = load_oracle();
    const char *tmpl = json_string_value(json_object_get(
        json_object_get(json_object_get(root, "templates"), "qwen3"),
        "chat_template"));
    assert_non_null(tmpl);
    lc_chat_message m[] = {
        {"user", "Q1"},
        {"assistant", "<think>\nr1\n</think>\n\nA1"},
        {"user", "Q2"},
        {"assistant", "<think>\nr2\n</think>\n\nA2"},
    };
    char err[512];
    char *out = lc_chat_render_text(tmpl, NULL, "<|im_end|>", false, m, 4,
                                    false, err, sizeof err);
    assert_non_null(out);
    assert_string_equal(out, "<|im_start|>user\nQ1<|im_end|>\n"
                             "<|im_start|>assistant\nA1<|im_end|>\n"
                             "<|im_start|>user\nQ2<|im_end|>\n"
                             "<|im_start|>assistant\n<think>\nr2\n</think>"
                             "\n\nA2<|im_end|>\n");
    free(out);
    /* the final turn gets an empty think block when it has none */
    m[3].content = "A2";
    out = lc_chat_render_text(tmpl, NULL, "<|im_end|>", false, m, 4, false, err,
                              sizeof err);
    assert_non_null(out);
    assert_string_equal(out, "<|im_start|>user\nQ1<|im_end|>\n"
                             "<|im_start|>assistant\nA1<|im_end|>\n"
                             "<|im_start|>user\nQ2<|im_end|>\n"
                             "<|im_start|>assistant\n<think>\n\n</think>"
                             "\n\nA2<|im_end|>\n");
    free(out);

    /* thinking variants (Qwen3-*-Thinking-2507) open <think> in the
     * generation prompt */
    const char *gen = "{{- '<|im_start|>assistant\\n' }}";
    const char *at = strstr(tmpl, gen);
    assert_non_null(at);
    size_t pre = (size_t)(at - tmpl);
    const char *think = "{{- '<|im_start|>assistant\\n<think>\\n' }}";
    char *thinking = malloc(strlen(tmpl) + strlen(think) + 1);
    assert_non_null(thinking);
    memcpy(thinking, tmpl, pre);
    strcpy(thinking + pre, think);
    strcat(thinking, at + strlen(gen));
    out = lc_chat_render_text(thinking, NULL, "<|im_end|>", false, m, 3, true,
                              err, sizeof err);
    assert_non_null(out);
    assert_string_equal(out, "<|im_start|>user\nQ1<|im_end|>\n"
                             "<|im_start|>assistant\nA1<|im_end|>\n"
                             "<|im_start|>user\nQ2<|im_end|>\n"
                             "<|im_start|>assistant\n<think>\n");
    free(out);
    free(thinking);
    json_decref(root);
}

/* Gemma: the system message (untrimmed) opens the first user turn; turn
 * contents are trimmed of Unicode whitespace like Python's str.strip(). */
static void test_gemma_system_and_trim(void **state) {
    (void)state;
    lc_chat_message m[] = {
        {"system", " Be brief. "},
        {"user", "\xe3\x80\x80Hi\xc2\xa0"}, /* U+3000 Hi U+00A0 */
        {"assistant", "\nHello\t"},
    };
    char err[512];
    char *out = lc_chat_render_text("gemma", "<bos>", "<eos>", false, m, 3,
                                    false, err, sizeof err);
    assert_non_null(out);
    assert_string_equal(out, "<bos><start_of_turn>user\n Be brief. \n\nHi"
                             "<end_of_turn>\n<start_of_turn>model\nHello"
                             "<end_of_turn>\n");
    free(out);
}

static void test_errors(void **state) {
    (void)state;
    char err[512] = "";
    lc_chat_message two_users[] = {{"user", "a"}, {"user", "b"}};
    lc_chat_message m[] = {{"user", "a"}};

    /* templates that raise_exception on non-alternating roles */
    static const char *const strict[] = {"gemma", "llama2", "mistral-v1",
                                         "mistral-v3"};
    for (size_t i = 0; i < sizeof strict / sizeof strict[0]; i++) {
        err[0] = '\0';
        assert_null(lc_chat_render_text(strict[i], "<s>", "</s>", false,
                                        two_users, 2, true, err, sizeof err));
        assert_non_null(strstr(err, "alternate"));
    }
    /* chatml does not care */
    char *out = lc_chat_render_text("chatml", NULL, NULL, false, two_users, 2,
                                    false, err, sizeof err);
    assert_non_null(out);
    free(out);

    err[0] = '\0';
    assert_null(lc_chat_render_text("{{ messages }} no known markers", NULL,
                                    NULL, false, m, 1, true, err, sizeof err));
    assert_non_null(strstr(err, "unknown chat template"));
    assert_non_null(strstr(err, "llama3"));
    assert_non_null(strstr(err, "chatml"));
    assert_int_equal(lc_chat_detect("{{ messages }}"), LC_CHAT_UNKNOWN);

    lc_chat_message bad_role[] = {{"tool", "x"}};
    err[0] = '\0';
    assert_null(lc_chat_render_text("chatml", NULL, NULL, false, bad_role, 1,
                                    true, err, sizeof err));
    assert_non_null(strstr(err, "role"));
    lc_chat_message null_content[] = {{"user", NULL}};
    assert_null(lc_chat_render_text("chatml", NULL, NULL, false, null_content,
                                    1, true, err, sizeof err));
    assert_null(lc_chat_render_text("chatml", NULL, NULL, false, m, 0, true,
                                    err, sizeof err));
    assert_null(lc_chat_render_text("chatml", NULL, NULL, false, NULL, 1, true,
                                    err, sizeof err));
    /* no err buffer: still no crash */
    assert_null(lc_chat_render_text("nonsense", NULL, NULL, false, m, 1, true,
                                    NULL, 0));
    assert_null(lc_chat_render(NULL, NULL, m, 1, true, err, sizeof err));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oracle_render),
        cmocka_unit_test(test_oracle_without_generation_prompt),
        cmocka_unit_test(test_oracle_token_ids),
        cmocka_unit_test(test_render_with_model),
        cmocka_unit_test(test_families),
        cmocka_unit_test(test_family_names),
        cmocka_unit_test(test_system_folding),
        cmocka_unit_test(test_qwen3_reasoning),
        cmocka_unit_test(test_gemma_system_and_trim),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
