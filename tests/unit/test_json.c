/* core JSON reader: structure, spans, escapes, numbers, limits, malformed and truncated input. */
#include <stdlib.h>
#include <string.h>

#include "core/json_internal.h"
#include "tu_check.h"

static tu_json *parse_ok(const char *s)
{
    tu_json *j = NULL;
    ck_assert_ok(tu_json_parse(s, strlen(s), NULL, &j));
    ck_assert_ptr_nonnull(j);
    return j;
}

static teeu_status parse_status(const char *s, size_t len, const tu_json_limits *lim)
{
    tu_json *j = NULL;
    teeu_status st = tu_json_parse(s, len, lim, &j);
    if (st != TEEU_OK)
        ck_assert_ptr_null(j);
    tu_json_free(j);
    return st;
}

START_TEST(parses_structure_and_spans)
{
    const char *doc = " {\"a\": [1, -2.5e3, true, false, null], \"tcbInfo\" : {\"x\":\"y\"} , \"s\":\"q\"} ";
    tu_json *j = parse_ok(doc);
    ck_assert_int_eq(j->type, TU_JSON_OBJECT);
    ck_assert_uint_eq(j->count, 3);
    const tu_json *a = tu_json_get(j, "a");
    ck_assert_int_eq(a->type, TU_JSON_ARRAY);
    ck_assert_uint_eq(a->count, 5);
    ck_assert(tu_json_at(a, 0)->is_int);
    ck_assert_int_eq(tu_json_at(a, 0)->i64, 1);
    ck_assert(!tu_json_at(a, 1)->is_int);
    ck_assert_double_eq(tu_json_at(a, 1)->num, -2500.0);
    ck_assert(tu_json_at(a, 2)->boolean);
    ck_assert(!tu_json_at(a, 3)->boolean);
    ck_assert_int_eq(tu_json_at(a, 4)->type, TU_JSON_NULL);
    ck_assert_ptr_null(tu_json_at(a, 5));
    const tu_json *t = tu_json_get(j, "tcbInfo");
    /* The span is exactly the raw bytes of the sub-object. */
    ck_assert_uint_eq(t->end - t->start, strlen("{\"x\":\"y\"}"));
    ck_assert(memcmp(doc + t->start, "{\"x\":\"y\"}", t->end - t->start) == 0);
    ck_assert_uint_eq(j->start, 1);
    ck_assert_uint_eq(j->end, strlen(doc) - 1);
    ck_assert_ptr_null(tu_json_get(j, "missing"));
    ck_assert_str_eq(tu_json_str(tu_json_get(j, "s")), "q");
    tu_json_free(j);
}
END_TEST

START_TEST(unescapes_strings)
{
    tu_json *j = parse_ok("[\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\", \"\\u00e9\\u20AC\", \"\\ud83d\\ude00\", \"x\\u0000y\"]");
    ck_assert_str_eq(tu_json_at(j, 0)->str, "a\"b\\c/d\b\f\n\r\t");
    ck_assert_str_eq(tu_json_at(j, 1)->str, "\xC3\xA9\xE2\x82\xAC");
    ck_assert_str_eq(tu_json_at(j, 2)->str, "\xF0\x9F\x98\x80");
    ck_assert_uint_eq(tu_json_at(j, 3)->str_len, 3);
    ck_assert(memcmp(tu_json_at(j, 3)->str, "x\0y", 3) == 0);
    tu_json_free(j);
}
END_TEST

START_TEST(numbers)
{
    tu_json *j = parse_ok("[0, -0, 9223372036854775807, 9223372036854775808, 1.5, 1e2, -12]");
    ck_assert(tu_json_at(j, 2)->is_int);
    ck_assert_int_eq(tu_json_at(j, 2)->i64, INT64_MAX);
    ck_assert(!tu_json_at(j, 3)->is_int); /* does not fit: only the double */
    ck_assert(!tu_json_at(j, 5)->is_int);
    ck_assert_int_eq(tu_json_at(j, 6)->i64, -12);
    int64_t v;
    tu_json *o = parse_ok("{\"n\":5,\"f\":1.5,\"s\":\"x\"}");
    ck_assert_ok(tu_json_get_int(o, "n", "doc", 0, 10, &v));
    ck_assert_int_eq(v, 5);
    ck_assert_status(tu_json_get_int(o, "n", "doc", 6, 10, &v), TEEU_ERR_JSON);
    ck_assert_status(tu_json_get_int(o, "f", "doc", 0, 10, &v), TEEU_ERR_JSON);
    ck_assert_status(tu_json_get_int(o, "s", "doc", 0, 10, &v), TEEU_ERR_JSON);
    ck_assert_status(tu_json_get_int(o, "zz", "doc", 0, 10, &v), TEEU_ERR_JSON);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "\"zz\" is missing"));
    tu_json_free(o);
    tu_json_free(j);
}
END_TEST

START_TEST(rejects_malformed)
{
    static const char *const bad[] = {
        "", " ", "{", "}", "[1,]", "[,1]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "[01]", "[1.]",
        "[.5]", "[1e]", "[-]", "[+1]", "tru", "nul", "[true false]", "\"abc", "\"\\x\"",
        "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"a\tb\"", "[1] x",
        "{\"a\":1,\"a\":2}", "\"\xC0\xAF\"", "\"\xED\xA0\x80\"", "\"\xF5\x80\x80\x80\"", "\"\x80\"",
        "[\"a\"\"b\"]", "'a'", "NaN", "[Infinity]", "{\"a\":}", "[1 2]"};
    for (size_t i = 0; i < TU_ARRAY_LEN(bad); i++) {
        teeu_status st = parse_status(bad[i], strlen(bad[i]), NULL);
        ck_assert_msg(st == TEEU_ERR_JSON, "input %zu (%s) gave %d", i, bad[i], (int)st);
        ck_assert_ptr_nonnull(strstr(teeu_last_error(), "offset"));
    }
}
END_TEST

START_TEST(every_truncation_fails_cleanly)
{
    const char *doc = "{\"k\":[1,2.5,\"s\\u00e9\\ud83d\\ude00\",{\"n\":null,\"t\":true}],\"z\":-7}";
    size_t len = strlen(doc);
    for (size_t n = 0; n < len; n++) {
        /* A heap copy of exactly n bytes, so ASan catches any read past it. */
        char *copy = malloc(n ? n : 1);
        memcpy(copy, doc, n);
        teeu_status st = parse_status(copy, n, NULL);
        free(copy);
        ck_assert_msg(st == TEEU_ERR_JSON, "prefix of %zu bytes gave %d", n, (int)st);
    }
    ck_assert_int_eq(parse_status(doc, len, NULL), TEEU_OK);
}
END_TEST

START_TEST(limits)
{
    char deep[400];
    for (int i = 0; i < 200; i++) {
        deep[i] = '[';
        deep[200 + i] = ']';
    }
    ck_assert_status(tu_json_parse(deep, 400, NULL, &(tu_json *){NULL}), TEEU_ERR_LIMIT);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "nesting"));
    tu_json_limits lim = {.max_depth = 300};
    tu_json *j = NULL;
    ck_assert_ok(tu_json_parse(deep, 400, &lim, &j));
    tu_json_free(j);
    /* Unbalanced deep input: still bounded, no stack overflow. */
    size_t big = 100000;
    char *opens = malloc(big);
    memset(opens, '[', big);
    ck_assert_status(tu_json_parse(opens, big, NULL, &j), TEEU_ERR_LIMIT);
    free(opens);
    tu_json_limits small = {.max_nodes = 3};
    ck_assert_status(tu_json_parse("[1,2,3]", 7, &small, &j), TEEU_ERR_LIMIT);
    tu_json_limits tiny = {.max_input = 4};
    ck_assert_status(tu_json_parse("[1,2]", 5, &tiny, &j), TEEU_ERR_LIMIT);
}
END_TEST

START_TEST(writer_round_trips)
{
    const char raw[] = "q\"b\\s\n\x01\x1f end \xC3\xA9";
    tu_buf b = {0};
    ck_assert_ok(tu_json_append_string(&b, raw, sizeof raw - 1));
    tu_json *j = NULL;
    ck_assert_ok(tu_json_parse((const char *)b.data, b.len, NULL, &j));
    ck_assert_uint_eq(j->str_len, sizeof raw - 1);
    ck_assert(memcmp(j->str, raw, sizeof raw - 1) == 0);
    tu_json_free(j);
    tu_buf_free(&b);
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("json");
    tcase_add_test(tc, parses_structure_and_spans);
    tcase_add_test(tc, unescapes_strings);
    tcase_add_test(tc, numbers);
    tcase_add_test(tc, rejects_malformed);
    tcase_add_test(tc, every_truncation_fails_cleanly);
    tcase_add_test(tc, limits);
    tcase_add_test(tc, writer_round_trips);
    suite_add_tcase(s, tc);
    return s;
}

TU_CHECK_MAIN(json_suite)
