/*
 * Memory settings (chat/memory.h): what PATCH accepts and refuses, how
 * they are read back from a session's metadata, and the reply metadata's
 * "memory" list. Retrieval itself runs against a real server in
 * tests/integration/search.test.js.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "chat/memory.h"

static lc_memory_settings parse_ok(const char *text,
                                   const lc_memory_settings *base) {
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    assert_non_null(j);
    lc_memory_settings s;
    char err[160] = "";
    if (lc_memory_settings_parse(j, base, &s, err, sizeof err))
        fail_msg("%s: %s", text, err);
    json_decref(j);
    return s;
}

static void test_parse(void **state) {
    (void)state;
    lc_memory_settings s = parse_ok("{}", NULL);
    assert_false(s.enabled);
    assert_int_equal(s.top_k, 3);
    assert_int_equal(s.max_tokens, 256);
    s = parse_ok("{\"enabled\":true,\"top_k\":20,\"max_tokens\":16}", NULL);
    assert_true(s.enabled);
    assert_int_equal(s.top_k, 20);
    assert_int_equal(s.max_tokens, 16);
    /* fields not given keep the base's values */
    lc_memory_settings t = parse_ok("{\"top_k\":1}", &s);
    assert_true(t.enabled);
    assert_int_equal(t.top_k, 1);
    assert_int_equal(t.max_tokens, 16);

    static const char *const bad[] = {
        "[]",
        "\"on\"",
        "null",
        "{\"enabled\":1}",
        "{\"top_k\":0}",
        "{\"top_k\":21}",
        "{\"top_k\":2.5}",
        "{\"top_k\":\"3\"}",
        "{\"max_tokens\":15}",
        "{\"max_tokens\":4097}",
        "{\"colour\":\"red\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        assert_non_null(j);
        lc_memory_settings out = {.top_k = -7};
        char err[160] = "";
        assert_int_equal(lc_memory_settings_parse(j, &s, &out, err, sizeof err),
                         -1);
        assert_true(err[0] != '\0');
        assert_int_equal(out.top_k, -7); /* untouched */
        json_decref(j);
    }
}

static void test_from_metadata(void **state) {
    (void)state;
    lc_memory_settings s;
    lc_memory_settings_from_metadata(NULL, &s);
    assert_false(s.enabled);
    lc_memory_settings_from_metadata("{}", &s);
    assert_false(s.enabled);
    lc_memory_settings_from_metadata("not json", &s);
    assert_false(s.enabled);
    lc_memory_settings_from_metadata(
        "{\"x\":1,\"memory\":{\"enabled\":true,\"top_k\":5}}", &s);
    assert_true(s.enabled);
    assert_int_equal(s.top_k, 5);
    assert_int_equal(s.max_tokens, 256);
    /* a stored value out of range reads as off, never as a crash */
    lc_memory_settings_from_metadata(
        "{\"memory\":{\"enabled\":true,\"top_k\":500}}", &s);
    assert_false(s.enabled);
    json_t *j = lc_memory_settings_json(&(lc_memory_settings){true, 4, 99});
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text,
                        "{\"enabled\":true,\"max_tokens\":99,\"top_k\":4}");
    free(text);
    json_decref(j);
}

static void test_metadata_list(void **state) {
    (void)state;
    char ids[2][37] = {"11111111-1111-1111-1111-111111111111",
                       "22222222-2222-2222-2222-222222222222"};
    lc_memory m = {.ids = ids, .n_ids = 2};
    char *text = lc_memory_add_to_metadata("{\"finish_reason\":\"stop\"}", &m);
    assert_non_null(text);
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "finish_reason")),
                        "stop");
    json_t *list = json_object_get(j, "memory");
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(json_string_value(json_array_get(list, 1)), ids[1]);
    json_decref(j);
    free(text);
    /* nothing used: an empty list */
    lc_memory none = {0};
    text = lc_memory_add_to_metadata("{}", &none);
    assert_string_equal(text, "{\"memory\":[]}");
    free(text);
    assert_null(lc_memory_add_to_metadata("[1]", &none));
    assert_null(lc_memory_add_to_metadata("{broken", &none));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_from_metadata),
        cmocka_unit_test(test_metadata_list),
    };
    return cmocka_run_group_tests_name("memory", tests, NULL, NULL);
}
