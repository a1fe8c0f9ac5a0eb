/*
 * teeud kernels: function identity (descriptor parsing, canonical params
 * JSON, SHA-256 identity), parameter validation, dtype rules, float16,
 * strided/negative-stride/byte-swapped inputs, and error cases. Numerical
 * agreement with numpy is checked by tests/python/test_kernels_numpy.py.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <teeu/ndarray.h>

#include "kernels_internal.h"
#include "tu_check.h"

/* ---- identity --------------------------------------------------------------- */

static void expect_canonical(const char *given, const char *canonical)
{
    tu_kernel_fn *fn = NULL;
    ck_assert_ok(tu_kernel_find(given, &fn));
    ck_assert_str_eq(tu_kernel_fn_descriptor(fn), canonical);
    char id[TU_KERNEL_IDENTITY_LEN + 1];
    ck_assert_ok(tu_kernel_identity(canonical, id));
    ck_assert_str_eq(tu_kernel_fn_identity(fn), id);
    tu_kernel_fn_free(fn);
}

START_TEST(identity_known_answer)
{
    /* Test vectors: base64(sha256(descriptor)) from Python's hashlib. */
    char id[TU_KERNEL_IDENTITY_LEN + 1];
    ck_assert_ok(tu_kernel_identity("average@1{\"axis\":1}", id));
    ck_assert_str_eq(id, "v3tJl7+X8TivDsG/7eICla6i85HBWZ3RUV8UHnvkOic=");
    ck_assert_ok(tu_kernel_identity("sum@1{}", id));
    ck_assert_str_eq(id, "OBLUdIiEtqA0RWfrue4H7ipeCf+CBHGDuMsjv05J0VQ=");
    tu_kernel_fn *fn = NULL;
    ck_assert_ok(tu_kernel_find("average@1{ \"axis\" : 1 }", &fn));
    ck_assert_str_eq(tu_kernel_fn_identity(fn), "v3tJl7+X8TivDsG/7eICla6i85HBWZ3RUV8UHnvkOic=");
    tu_kernel_fn_free(fn);
}
END_TEST

START_TEST(identity_canonicalises)
{
    expect_canonical("average@1{\"weights\":true, \"axis\":[1,\n-1]}", "average@1{\"axis\":[1,-1],\"weights\":true}");
    expect_canonical("var@1{\"ddof\":-0,\"axis\":null}", "var@1{\"axis\":null,\"ddof\":0}");
    expect_canonical("matmul@1{ }", "matmul@1{}");
    expect_canonical("concatenate@1{\"axis\":null}", "concatenate@1{\"axis\":null}");
    tu_kernel_fn *a = NULL, *b = NULL;
    ck_assert_ok(tu_kernel_find("sum@1{\"axis\":0}", &a));
    ck_assert_ok(tu_kernel_find("sum@1{\"axis\":1}", &b));
    ck_assert_str_ne(tu_kernel_fn_identity(a), tu_kernel_fn_identity(b));
    tu_kernel_fn_free(a);
    tu_kernel_fn_free(b);
    ck_assert_ok(tu_kernel_find_parts("mean", 1, "{\"axis\": -1}", &a));
    ck_assert_str_eq(tu_kernel_fn_descriptor(a), "mean@1{\"axis\":-1}");
    tu_kernel_fn_free(a);
    ck_assert_ok(tu_kernel_find_parts("add", 1, NULL, &a));
    ck_assert_str_eq(tu_kernel_fn_descriptor(a), "add@1{}");
    ck_assert_str_eq(tu_kernel_fn_info(a)->name, "add");
    size_t lo, hi;
    tu_kernel_fn_input_range(a, &lo, &hi);
    ck_assert_uint_eq(lo, 2);
    ck_assert_uint_eq(hi, 2);
    tu_kernel_fn_free(a);
    ck_assert_ok(tu_kernel_find("average@1{\"weights\":true}", &a));
    tu_kernel_fn_input_range(a, &lo, &hi);
    ck_assert_uint_eq(lo, 2);
    ck_assert_uint_eq(hi, TU_KERNEL_MAX_INPUTS);
    tu_kernel_fn_free(a);
}
END_TEST

static void expect_params(const char *json, const char *canonical)
{
    char *out = NULL;
    ck_assert_ok(tu_kernel_params_canonical(json, strlen(json), &out));
    ck_assert_str_eq(out, canonical);
    free(out);
}

static void expect_params_error(const char *json, teeu_status expected, const char *needle)
{
    char *out = NULL;
    ck_assert_status(tu_kernel_params_canonical(json, strlen(json), &out), expected);
    ck_assert_ptr_null(out);
    ck_assert_msg(strstr(teeu_last_error(), needle) != NULL, "message \"%s\" lacks \"%s\"", teeu_last_error(),
                  needle);
}

START_TEST(params_json_subset)
{
    expect_params("{\"b\":\"x\\u00e9\\n\\\"\",\"a\":[true,false,null,-9223372036854775808]}",
                  "{\"a\":[true,false,null,-9223372036854775808],\"b\":\"x\xc3\xa9\\n\\\"\"}");
    expect_params("{\"s\":\"\\ud83d\\ude00\\/\\u0001\"}", "{\"s\":\"\xf0\x9f\x98\x80/\\u0001\"}");
    expect_params(" { } ", "{}");
    expect_params_error("{\"a\":1.5}", TEEU_ERR_JSON, "only integer");
    expect_params_error("{\"a\":1e3}", TEEU_ERR_JSON, "only integer");
    expect_params_error("{\"a\":01}", TEEU_ERR_JSON, "leading zero");
    expect_params_error("{\"a\":9223372036854775808}", TEEU_ERR_JSON, "int64");
    expect_params_error("{\"a\":99999999999999999999999}", TEEU_ERR_JSON, "out of range");
    expect_params_error("{\"a\":[[1]]}", TEEU_ERR_JSON, "nested arrays");
    expect_params_error("{\"a\":{}}", TEEU_ERR_JSON, "nested objects");
    expect_params_error("{\"a\":1,\"a\":2}", TEEU_ERR_JSON, "duplicate key");
    expect_params_error("{\"a\":1} x", TEEU_ERR_JSON, "trailing");
    expect_params_error("{\"a\":1,}", TEEU_ERR_JSON, "expected a string");
    expect_params_error("[1]", TEEU_ERR_JSON, "must be a JSON object");
    expect_params_error("{\"a\":tru}", TEEU_ERR_JSON, "expected a value");
    expect_params_error("{\"a\":\"\\ud800\"}", TEEU_ERR_JSON, "surrogate");
    expect_params_error("{\"a\":\"\\u0000\"}", TEEU_ERR_JSON, "NUL");
    expect_params_error("{\"a\":\"\xc3\"}", TEEU_ERR_JSON, "UTF-8");
    expect_params_error("{\"a\":\"\xed\xa0\x80\"}", TEEU_ERR_JSON, "UTF-8");
    expect_params_error("{\"a\":\"\x01\"}", TEEU_ERR_JSON, "control character");
    expect_params_error("{\"a\":\"abc", TEEU_ERR_JSON, "unterminated");
    expect_params_error("", TEEU_ERR_JSON, "must be a JSON object");

    /* Bounds: keys, array entries, string length. */
    char big[4096];
    size_t o = (size_t)snprintf(big, sizeof(big), "{");
    for (int i = 0; i < TK_JSON_MAX_KEYS + 1; i++)
        o += (size_t)snprintf(big + o, sizeof(big) - o, "%s\"k%d\":1", i ? "," : "", i);
    snprintf(big + o, sizeof(big) - o, "}");
    expect_params_error(big, TEEU_ERR_LIMIT, "keys");
    o = (size_t)snprintf(big, sizeof(big), "{\"a\":[");
    for (int i = 0; i < TK_JSON_MAX_ARRAY + 1; i++)
        o += (size_t)snprintf(big + o, sizeof(big) - o, "%s%d", i ? "," : "", i);
    snprintf(big + o, sizeof(big) - o, "]}");
    expect_params_error(big, TEEU_ERR_LIMIT, "array longer");
    o = (size_t)snprintf(big, sizeof(big), "{\"a\":\"");
    memset(big + o, 'x', TK_JSON_MAX_STRING + 8);
    snprintf(big + o + TK_JSON_MAX_STRING + 8, sizeof(big) - o - TK_JSON_MAX_STRING - 8, "\"}");
    expect_params_error(big, TEEU_ERR_LIMIT, "string longer");
}
END_TEST

static void expect_find_error(const char *descriptor, teeu_status expected, const char *needle)
{
    tu_kernel_fn *fn = (tu_kernel_fn *)1;
    ck_assert_status(tu_kernel_find(descriptor, &fn), expected);
    ck_assert_ptr_null(fn);
    ck_assert_msg(strstr(teeu_last_error(), needle) != NULL, "%s: message \"%s\" lacks \"%s\"", descriptor,
                  teeu_last_error(), needle);
}

START_TEST(descriptor_errors)
{
    expect_find_error("median@1{}", TEEU_ERR_UNSUPPORTED, "unknown kernel \"median\"");
    expect_find_error("sum@2{}", TEEU_ERR_UNSUPPORTED, "version 1, not 2");
    expect_find_error("sum@01{}", TEEU_ERR_INVALID_ARGUMENT, "decimal version");
    expect_find_error("sum@{}", TEEU_ERR_INVALID_ARGUMENT, "decimal version");
    expect_find_error("sum1{}", TEEU_ERR_INVALID_ARGUMENT, "name@version{params}");
    expect_find_error("Sum@1{}", TEEU_ERR_INVALID_ARGUMENT, "name@version{params}");
    expect_find_error("sum@1", TEEU_ERR_INVALID_ARGUMENT, "decimal version");
    expect_find_error("sum@1{\"axes\":0}", TEEU_ERR_INVALID_ARGUMENT, "unknown parameter \"axes\"");
    expect_find_error("add@1{\"axis\":0}", TEEU_ERR_INVALID_ARGUMENT, "unknown parameter \"axis\"");
    expect_find_error("sum@1{\"ddof\":1}", TEEU_ERR_INVALID_ARGUMENT, "unknown parameter \"ddof\"");
    expect_find_error("sum@1{\"axis\":\"0\"}", TEEU_ERR_INVALID_ARGUMENT, "axis");
    expect_find_error("sum@1{\"axis\":[0,null]}", TEEU_ERR_INVALID_ARGUMENT, "list of integers");
    expect_find_error("stack@1{\"axis\":null}", TEEU_ERR_INVALID_ARGUMENT, "must be an integer");
    expect_find_error("concatenate@1{\"axis\":[0]}", TEEU_ERR_INVALID_ARGUMENT, "null or an integer");
    expect_find_error("var@1{\"ddof\":true}", TEEU_ERR_INVALID_ARGUMENT, "integer");
    expect_find_error("average@1{\"weights\":1}", TEEU_ERR_INVALID_ARGUMENT, "true or false");
    expect_find_error("sum@1{\"axis\":1.0}", TEEU_ERR_JSON, "only integer");
    char *longd = malloc(TU_KERNEL_DESCRIPTOR_MAX + 16);
    ck_assert_ptr_nonnull(longd);
    memset(longd, 'a', TU_KERNEL_DESCRIPTOR_MAX + 15);
    longd[TU_KERNEL_DESCRIPTOR_MAX + 15] = '\0';
    expect_find_error(longd, TEEU_ERR_LIMIT, "longer than");
    free(longd);
}
END_TEST

/* Mutated descriptors never crash or leak and either parse or fail with a message. */
START_TEST(descriptor_mutations)
{
    static const char *seeds[] = {
        "average@1{\"axis\":[0,-1],\"weights\":true}",
        "var@1{\"ddof\":1,\"axis\":null}",
        "concatenate@1{\"axis\":-1}",
        "sum@1{\"axis\":\"\\u00e9\\ud83d\\ude00\"}",
    };
    static const char alphabet[] = "{}[]\",:\\u0123456789-+.eE truefalsnl@axisddofweights\x01\xc3\xff";
    uint64_t x = 0x9E3779B97F4A7C15u;
    char buf[256];
    for (int iter = 0; iter < 20000; iter++) {
        const char *seed = seeds[iter % 4];
        size_t len = strlen(seed);
        memcpy(buf, seed, len + 1);
        int edits = 1 + iter % 4;
        for (int e = 0; e < edits; e++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            size_t pos = (size_t)(x % len);
            char c = alphabet[(x >> 32) % (sizeof(alphabet) - 1)];
            switch ((x >> 40) % 3) {
            case 0: buf[pos] = c; break;                                     /* replace */
            case 1: memmove(buf + pos, buf + pos + 1, len - pos); len--; break; /* delete */
            default:
                if (len + 2 < sizeof(buf)) {                                   /* insert */
                    memmove(buf + pos + 1, buf + pos, len - pos + 1);
                    buf[pos] = c;
                    len++;
                }
            }
            if (len == 0)
                break;
        }
        tu_kernel_fn *fn = NULL;
        teeu_status st = tu_kernel_find(buf, &fn);
        if (st == TEEU_OK) {
            ck_assert_uint_eq(strlen(tu_kernel_fn_identity(fn)), TU_KERNEL_IDENTITY_LEN);
            /* The canonical form is a fixed point. */
            tu_kernel_fn *again = NULL;
            ck_assert_ok(tu_kernel_find(tu_kernel_fn_descriptor(fn), &again));
            ck_assert_str_eq(tu_kernel_fn_descriptor(again), tu_kernel_fn_descriptor(fn));
            tu_kernel_fn_free(again);
        } else {
            ck_assert_ptr_null(fn);
            ck_assert_msg(teeu_last_error()[0] != '\0', "no message for %s", buf);
        }
        tu_kernel_fn_free(fn);
    }
}
END_TEST

START_TEST(listing_covers_every_kernel)
{
    ck_assert_uint_eq(tu_kernel_count(), 15);
    ck_assert_ptr_null(tu_kernel_info_at(15));
    char *text = NULL;
    ck_assert_ok(tu_kernel_list(&text));
    for (size_t i = 0; i < tu_kernel_count(); i++) {
        const tu_kernel_info *info = tu_kernel_info_at(i);
        char d[64], id[TU_KERNEL_IDENTITY_LEN + 1], line[160];
        snprintf(d, sizeof(d), "%s@%u{}", info->name, info->version);
        ck_assert_ok(tu_kernel_identity(d, id));
        snprintf(line, sizeof(line), "%-16s %s", d, id);
        ck_assert_msg(strstr(text, line) != NULL, "listing lacks %s", line);
    }
    free(text);
}
END_TEST

/* ---- dtype rules -------------------------------------------------------------- */

START_TEST(promotion_table)
{
    struct { teeu_dtype a, b, r; } cases[] = {
        {TEEU_DTYPE_INT8, TEEU_DTYPE_UINT8, TEEU_DTYPE_INT16},
        {TEEU_DTYPE_INT64, TEEU_DTYPE_UINT64, TEEU_DTYPE_FLOAT64},
        {TEEU_DTYPE_UINT32, TEEU_DTYPE_INT64, TEEU_DTYPE_INT64},
        {TEEU_DTYPE_UINT32, TEEU_DTYPE_INT32, TEEU_DTYPE_INT64},
        {TEEU_DTYPE_INT16, TEEU_DTYPE_INT8, TEEU_DTYPE_INT16},
        {TEEU_DTYPE_BOOL, TEEU_DTYPE_UINT8, TEEU_DTYPE_UINT8},
        {TEEU_DTYPE_INT8, TEEU_DTYPE_FLOAT16, TEEU_DTYPE_FLOAT16},
        {TEEU_DTYPE_INT16, TEEU_DTYPE_FLOAT16, TEEU_DTYPE_FLOAT32},
        {TEEU_DTYPE_INT32, TEEU_DTYPE_FLOAT32, TEEU_DTYPE_FLOAT64},
        {TEEU_DTYPE_FLOAT64, TEEU_DTYPE_COMPLEX64, TEEU_DTYPE_COMPLEX128},
        {TEEU_DTYPE_INT16, TEEU_DTYPE_COMPLEX64, TEEU_DTYPE_COMPLEX64},
        {TEEU_DTYPE_UINT32, TEEU_DTYPE_COMPLEX64, TEEU_DTYPE_COMPLEX128},
        {TEEU_DTYPE_FLOAT16, TEEU_DTYPE_FLOAT32, TEEU_DTYPE_FLOAT32},
    };
    for (size_t i = 0; i < TU_ARRAY_LEN(cases); i++) {
        ck_assert_int_eq(tk_promote(cases[i].a, cases[i].b), cases[i].r);
        ck_assert_int_eq(tk_promote(cases[i].b, cases[i].a), cases[i].r);
    }
}
END_TEST

START_TEST(float16_round_trip_and_rounding)
{
    for (uint32_t h = 0; h < 0x10000; h++) {
        double d = tk_f16_to_f64((uint16_t)h);
        if (isnan(d))
            continue;
        ck_assert_uint_eq(tk_f64_to_f16(d), h);
    }
    ck_assert_uint_eq(tk_f64_to_f16(2049.0), tk_f64_to_f16(2048.0)); /* tie to even */
    ck_assert_uint_eq(tk_f64_to_f16(2051.0), tk_f64_to_f16(2052.0));
    ck_assert_uint_eq(tk_f64_to_f16(65519.0), 0x7BFF);
    ck_assert_uint_eq(tk_f64_to_f16(65520.0), 0x7C00);
    ck_assert_uint_eq(tk_f64_to_f16(-1e300), 0xFC00);
    ck_assert_uint_eq(tk_f64_to_f16(ldexp(1.0, -25)), 0x0000);            /* tie to even: 0 */
    ck_assert_uint_eq(tk_f64_to_f16(ldexp(1.5, -25)), 0x0001);
    ck_assert_uint_eq(tk_f64_to_f16(ldexp(1.0, -14) * (1023.5 / 1024.0)), 0x0400); /* up to min normal */
}
END_TEST

/* ---- running kernels on views ---------------------------------------------------- */

static teeu_status run1(const char *descriptor, const teeu_ndarray *a, const teeu_ndarray *b, teeu_ndarray **out)
{
    tu_kernel_fn *fn = NULL;
    teeu_status st = tu_kernel_find(descriptor, &fn);
    if (st != TEEU_OK)
        return st;
    const teeu_ndarray *in[2] = {a, b};
    st = tu_kernel_run(fn, in, b ? 2 : 1, out);
    tu_kernel_fn_free(fn);
    return st;
}

START_TEST(negative_strides_and_byte_order)
{
    /* data = 1..6 as int32; view it reversed with shape (2, 3): [[6,5,4],[3,2,1]]. */
    int32_t data[6] = {1, 2, 3, 4, 5, 6};
    size_t shape[2] = {2, 3};
    ptrdiff_t strides[2] = {-12, -4};
    teeu_ndarray_desc desc;
    teeu_ndarray_desc_init(&desc, TEEU_DTYPE_INT32);
    desc.ndim = 2;
    desc.shape = shape;
    desc.strides = strides;
    desc.offset = 5 * sizeof(int32_t);
    teeu_ndarray *rev = NULL, *out = NULL;
    ck_assert_ok(teeu_ndarray_view_desc(&desc, data, sizeof(data), &rev));

    ck_assert_ok(run1("sum@1{\"axis\":1}", rev, NULL, &out));
    ck_assert_int_eq(teeu_ndarray_dtype(out), TEEU_DTYPE_INT64);
    const int64_t *s = teeu_ndarray_data(out);
    ck_assert_int_eq(s[0], 15);
    ck_assert_int_eq(s[1], 6);
    teeu_ndarray_free(out);

    ck_assert_ok(run1("concatenate@1{\"axis\":null}", rev, NULL, &out));
    const int32_t *c = teeu_ndarray_data(out);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(c[i], 6 - i);
    teeu_ndarray_free(out);

    /* The same values stored big-endian: max along axis 0 of [[1,2,3],[4,5,6]]. */
    uint8_t be[24];
    for (int i = 0; i < 6; i++) {
        uint32_t v = (uint32_t)data[i];
        be[4 * i] = (uint8_t)(v >> 24);
        be[4 * i + 1] = (uint8_t)(v >> 16);
        be[4 * i + 2] = (uint8_t)(v >> 8);
        be[4 * i + 3] = (uint8_t)v;
    }
    teeu_ndarray_desc_init(&desc, TEEU_DTYPE_INT32);
    desc.byte_order = TEEU_BYTE_ORDER_BIG;
    desc.ndim = 2;
    desc.shape = shape;
    teeu_ndarray *big = NULL;
    ck_assert_ok(teeu_ndarray_view_desc(&desc, be, sizeof(be), &big));
    ck_assert_ok(run1("max@1{\"axis\":0}", big, NULL, &out));
    c = teeu_ndarray_data(out);
    ck_assert_int_eq(teeu_ndarray_byte_order(out), teeu_ndarray_byte_order(rev));
    ck_assert_int_eq(c[0], 4);
    ck_assert_int_eq(c[2], 6);
    teeu_ndarray_free(out);

    /* big + reversed: [[1,2,3],[4,5,6]] + [[6,5,4],[3,2,1]] = all 7. */
    ck_assert_ok(run1("add@1{}", big, rev, &out));
    c = teeu_ndarray_data(out);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(c[i], 7);
    teeu_ndarray_free(out);
    teeu_ndarray_free(big);
    teeu_ndarray_free(rev);
}
END_TEST

START_TEST(run_errors)
{
    double d[4] = {1, 2, 3, 4};
    size_t shape[1] = {4};
    teeu_ndarray *a = NULL, *out = (teeu_ndarray *)1;
    ck_assert_ok(teeu_ndarray_view(TEEU_DTYPE_FLOAT64, 1, shape, d, sizeof(d), &a));
    ck_assert_status(run1("add@1{}", a, NULL, &out), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(out);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "takes 2 inputs, got 1"));
    ck_assert_status(run1("average@1{\"weights\":true}", a, NULL, &out), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(run1("sum@1{\"axis\":1}", a, NULL, &out), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "axis 1 is out of bounds for array of dimension 1"));
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "sum@1{\"axis\":1}"));
    ck_assert_status(run1("var@1{\"axis\":[0,0]}", a, NULL, &out), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "duplicate value in 'axis'"));
    tu_kernel_fn *fn = NULL;
    ck_assert_ok(tu_kernel_find("sum@1{}", &fn));
    const teeu_ndarray *in[2] = {a, NULL};
    ck_assert_status(tu_kernel_run(fn, in, 2, &out), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(tu_kernel_run(fn, NULL, 1, &out), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(tu_kernel_run(fn, in, 0, &out), TEEU_ERR_INVALID_ARGUMENT);
    tu_kernel_fn_free(fn);
    tu_kernel_fn_free(NULL);
    teeu_ndarray_free(a);

    /* Zero-stride views whose broadcast result cannot exist: a clean error, no huge allocation. */
    size_t s1[2] = {(size_t)1 << 40, 1}, s2[2] = {1, (size_t)1 << 40};
    ptrdiff_t zero[2] = {0, 0};
    teeu_ndarray_desc desc;
    teeu_ndarray_desc_init(&desc, TEEU_DTYPE_FLOAT64);
    desc.ndim = 2;
    desc.strides = zero;
    teeu_ndarray *x = NULL, *y = NULL;
    desc.shape = s1;
    ck_assert_ok(teeu_ndarray_view_desc(&desc, d, sizeof(d), &x));
    desc.shape = s2;
    ck_assert_ok(teeu_ndarray_view_desc(&desc, d, sizeof(d), &y));
    teeu_status st = run1("add@1{}", x, y, &out);
    ck_assert_msg(st == TEEU_ERR_OVERFLOW || st == TEEU_ERR_NPY_SIZE_OVERFLOW || st == TEEU_ERR_NOMEM,
                  "got %s: %s", teeu_status_str(st), teeu_last_error());
    ck_assert_ptr_null(out);
    st = run1("matmul@1{}", x, y, &out);
    ck_assert_msg(st == TEEU_ERR_OVERFLOW || st == TEEU_ERR_NPY_SIZE_OVERFLOW || st == TEEU_ERR_NOMEM,
                  "got %s: %s", teeu_status_str(st), teeu_last_error());
    ck_assert_ptr_null(out);
    teeu_ndarray_free(x);
    teeu_ndarray_free(y);
}
END_TEST

START_TEST(large_reduction_is_chunked)
{
    /* More than one chunk per line, and lines longer than a chunk on either axis. */
    size_t n = 3 * TK_CHUNK + 17;
    float *x = malloc(n * 2 * sizeof(float));
    ck_assert_ptr_nonnull(x);
    for (size_t i = 0; i < n * 2; i++)
        x[i] = (float)(i % 7);
    size_t shape[2] = {n, 2};
    teeu_ndarray *a = NULL, *out = NULL;
    ck_assert_ok(teeu_ndarray_view(TEEU_DTYPE_FLOAT32, 2, shape, x, n * 2 * sizeof(float), &a));
    double want0 = 0, want1 = 0;
    for (size_t i = 0; i < n; i++) {
        want0 += x[2 * i];
        want1 += x[2 * i + 1];
    }
    ck_assert_ok(run1("sum@1{\"axis\":0}", a, NULL, &out));
    const float *s = teeu_ndarray_data(out);
    ck_assert_float_eq(s[0], (float)want0);
    ck_assert_float_eq(s[1], (float)want1);
    teeu_ndarray_free(out);
    ck_assert_ok(run1("count@1{}", a, NULL, &out));
    size_t zeros = 0;
    for (size_t i = 0; i < n * 2; i++)
        zeros += x[i] == 0.0f;
    ck_assert_int_eq(*(const int64_t *)teeu_ndarray_data(out), (int64_t)(n * 2 - zeros));
    ck_assert_uint_eq(teeu_ndarray_ndim(out), 0);
    teeu_ndarray_free(out);
    teeu_ndarray_free(a);
    free(x);
}
END_TEST

static Suite *kernels_suite(void)
{
    Suite *s = suite_create("kernels");
    TCase *tc = tcase_create("identity");
    tcase_add_test(tc, identity_known_answer);
    tcase_add_test(tc, identity_canonicalises);
    tcase_add_test(tc, params_json_subset);
    tcase_add_test(tc, descriptor_errors);
    tcase_add_test(tc, descriptor_mutations);
    tcase_add_test(tc, listing_covers_every_kernel);
    suite_add_tcase(s, tc);
    tc = tcase_create("compute");
    tcase_add_test(tc, promotion_table);
    tcase_add_test(tc, float16_round_trip_and_rounding);
    tcase_add_test(tc, negative_strides_and_byte_order);
    tcase_add_test(tc, run_errors);
    tcase_add_test(tc, large_reduction_is_chunked);
    suite_add_tcase(s, tc);
    return s;
}

TU_CHECK_MAIN(kernels_suite)
