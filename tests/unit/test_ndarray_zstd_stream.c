/* The streaming zstd .npy encoder (tu_npy_zstd_*): same framing as teeu_ndarray_encode, any read size. */
#include <stdlib.h>
#include <string.h>

#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_estimateCStreamSize */
#include <zstd.h>

#include "core/core_internal.h"
#include "ndarray/ndarray_internal.h"
#include "tu_check.h"

/* Reads the whole stream in pieces of cap bytes, checking that only the last piece is short. */
static uint8_t *read_all(tu_npy_zstd *z, size_t cap, size_t *total)
{
    size_t bound = tu_npy_zstd_bound(z);
    uint8_t *out = malloc(bound + cap);
    ck_assert_ptr_nonnull(out);
    size_t len = 0;
    bool end = false;
    while (!end) {
        size_t n = 0;
        ck_assert_ok(tu_npy_zstd_read(z, out + len, cap, &n, &end));
        if (!end)
            ck_assert_uint_eq(n, cap);
        else
            ck_assert_uint_ge(n, 1);
        len += n;
        ck_assert_uint_le(len, bound);
    }
    size_t n = 99;
    ck_assert_ok(tu_npy_zstd_read(z, out + len, cap, &n, &end));
    ck_assert_uint_eq(n, 0);
    ck_assert(end);
    *total = len;
    return out;
}

/* Streams arr at level in several piece sizes; each stream decodes to arr's plain .npy; a rewind repeats it. */
static void check_stream(const teeu_ndarray *arr, int level)
{
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    ck_assert_ok(teeu_ndarray_encode_alloc(arr, NULL, &plain, &plain_len));
    static const size_t caps[] = {1, 7, 4096, (size_t)1 << 20};
    for (size_t i = 0; i < TU_ARRAY_LEN(caps); i++) {
        if (caps[i] == 1 && plain_len > (1u << 16))
            continue; /* byte by byte only for small arrays: slow */
        tu_npy_zstd *z = NULL;
        ck_assert_ok(tu_npy_zstd_new(arr, level, &z));
        size_t len = 0;
        uint8_t *s = read_all(z, caps[i], &len);
        ck_assert(tu_npy_is_zstd(s, len));
        ck_assert_uint_eq(ZSTD_getFrameContentSize(s, len), plain_len);
        uint8_t *back = malloc(plain_len + 1);
        ck_assert_uint_eq(ZSTD_decompress(back, plain_len + 1, s, len), plain_len);
        ck_assert_mem_eq(back, plain, plain_len);
        free(back);
        teeu_ndarray *dec = NULL;
        ck_assert_ok(teeu_ndarray_decode(s, len, NULL, &dec));
        ck_assert_uint_eq(teeu_ndarray_nbytes(dec), teeu_ndarray_nbytes(arr));
        teeu_ndarray_free(dec);
        /* A retry restarts the compressor: the same bytes again. */
        ck_assert_ok(tu_npy_zstd_rewind(z));
        size_t len2 = 0;
        uint8_t *s2 = read_all(z, caps[i] == 1 ? 3 : caps[i], &len2);
        ck_assert_uint_eq(len2, len);
        ck_assert_mem_eq(s2, s, len);
        free(s2);
        free(s);
        tu_npy_zstd_free(z);
    }
    teeu_free(plain);
}

static teeu_ndarray *new_f64(size_t ndim, const size_t *shape, teeu_layout layout, bool random)
{
    teeu_ndarray_desc d;
    teeu_ndarray_desc_init(&d, TEEU_DTYPE_FLOAT64);
    d.ndim = ndim;
    d.shape = shape;
    d.layout = layout;
    teeu_ndarray *a = NULL;
    ck_assert_ok(teeu_ndarray_new(&d, &a));
    double *p = teeu_ndarray_data(a);
    uint64_t x = 0x9E3779B97F4A7C15u;
    for (size_t i = 0; i < teeu_ndarray_size(a); i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        p[i] = random ? (double)((x * 0x2545F4914F6CDD1Du) >> 11) * 0x1.0p-53 : (double)(i % 64);
    }
    return a;
}

START_TEST(random_and_compressible)
{
    size_t n[1] = {(3u << 20) / 8 + 5};
    teeu_ndarray *r = new_f64(1, n, TEEU_LAYOUT_C, true);
    teeu_ndarray *c = new_f64(1, n, TEEU_LAYOUT_C, false);
    check_stream(r, 1);
    check_stream(c, 1);
    check_stream(c, 3);
    teeu_ndarray_free(r);
    teeu_ndarray_free(c);
}
END_TEST

START_TEST(layouts_and_edge_shapes)
{
    size_t shape[2] = {301, 77};
    teeu_ndarray *f = new_f64(2, shape, TEEU_LAYOUT_FORTRAN, false);
    check_stream(f, 1);
    /* A non-contiguous view (every other row, reversed columns) goes through the gather chunk. */
    size_t vshape[2] = {151, 77};
    ptrdiff_t strides[2] = {2 * 77 * 8, -8};
    teeu_ndarray *base = new_f64(2, shape, TEEU_LAYOUT_C, true);
    teeu_ndarray_desc d;
    teeu_ndarray_desc_init(&d, TEEU_DTYPE_FLOAT64);
    d.ndim = 2;
    d.shape = vshape;
    d.strides = strides;
    d.offset = 76 * 8;
    teeu_ndarray *v = NULL;
    ck_assert_ok(teeu_ndarray_view_desc(&d, teeu_ndarray_data(base), teeu_ndarray_nbytes(base), &v));
    ck_assert_int_eq(teeu_ndarray_is_c_contiguous(v), 0);
    check_stream(v, 1);
    /* 0-d and empty arrays: a header-only .npy. */
    teeu_ndarray *scalar = new_f64(0, NULL, TEEU_LAYOUT_C, true);
    check_stream(scalar, 1);
    size_t zero[2] = {0, 5};
    teeu_ndarray *empty = new_f64(2, zero, TEEU_LAYOUT_C, true);
    check_stream(empty, 1);
    teeu_ndarray_free(empty);
    teeu_ndarray_free(scalar);
    teeu_ndarray_free(v);
    teeu_ndarray_free(base);
    teeu_ndarray_free(f);
}
END_TEST

START_TEST(context_memory_is_capped)
{
    size_t n[1] = {(64u << 20) / 8};
    teeu_ndarray_desc d;
    teeu_ndarray_desc_init(&d, TEEU_DTYPE_FLOAT64);
    d.ndim = 1;
    d.shape = n;
    /* Only the size matters for the parameters: a view over no real data is never read here. */
    static double dummy[1];
    teeu_ndarray *a = NULL;
    d.strides = (const ptrdiff_t[]){0};
    ck_assert_ok(teeu_ndarray_view_desc(&d, dummy, sizeof dummy, &a));
    static const int levels[] = {1, 3, 9, 19, 22};
    for (size_t i = 0; i < TU_ARRAY_LEN(levels); i++) {
        tu_npy_zstd *z = NULL;
        ck_assert_ok(tu_npy_zstd_new(a, levels[i], &z));
        ck_assert_uint_gt(tu_npy_zstd_memory(z), 0);
        ck_assert_msg(tu_npy_zstd_memory(z) <= (24u << 20), "level %d: %zu bytes", levels[i],
                      tu_npy_zstd_memory(z));
        tu_npy_zstd_free(z);
    }
    /* Without the cap, level 22 would want hundreds of MiB. */
    ck_assert_uint_gt(ZSTD_estimateCStreamSize(22), 100u << 20);
    teeu_ndarray_free(a);
}
END_TEST

START_TEST(probe_says_whether_zstd_pays)
{
    size_t n[1] = {(4u << 20) / 8};
    teeu_ndarray *r = new_f64(1, n, TEEU_LAYOUT_C, true);
    teeu_ndarray *c = new_f64(1, n, TEEU_LAYOUT_C, false);
    bool worth = true;
    ck_assert_ok(tu_npy_zstd_probe(r, 1u << 20, &worth));
    ck_assert(!worth); /* uniform random doubles keep ~94% of their bytes */
    ck_assert_ok(tu_npy_zstd_probe(c, 1u << 20, &worth));
    ck_assert(worth);
    /* Rounded to 2^-36: the low two bytes of each mantissa are zero, ~77% left: worth it. */
    double *p = teeu_ndarray_data(r);
    for (size_t i = 0; i < n[0]; i++)
        p[i] = (double)(int64_t)(p[i] * 0x1.0p36) * 0x1.0p-36;
    ck_assert_ok(tu_npy_zstd_probe(r, 1u << 20, &worth));
    ck_assert(worth);
    /* Small arrays are not probed: the caller's choice stands. */
    size_t small[1] = {1000};
    teeu_ndarray *s = new_f64(1, small, TEEU_LAYOUT_C, true);
    worth = false;
    ck_assert_ok(tu_npy_zstd_probe(s, 1u << 20, &worth));
    ck_assert(worth);
    /* A strided view is gathered for the sample. */
    size_t vshape[1] = {n[0] / 2};
    ptrdiff_t stride[1] = {16};
    teeu_ndarray_desc d;
    teeu_ndarray_desc_init(&d, TEEU_DTYPE_FLOAT64);
    d.ndim = 1;
    d.shape = vshape;
    d.strides = stride;
    teeu_ndarray *v = NULL;
    teeu_ndarray *rr = new_f64(1, n, TEEU_LAYOUT_C, true);
    ck_assert_ok(teeu_ndarray_view_desc(&d, teeu_ndarray_data(rr), teeu_ndarray_nbytes(rr), &v));
    ck_assert_ok(tu_npy_zstd_probe(v, 1u << 20, &worth));
    ck_assert(!worth);
    ck_assert_status(tu_npy_zstd_probe(v, 0, &worth), TEEU_ERR_INVALID_ARGUMENT);
    teeu_ndarray_free(v);
    teeu_ndarray_free(rr);
    teeu_ndarray_free(s);
    teeu_ndarray_free(c);
    teeu_ndarray_free(r);
}
END_TEST

START_TEST(bad_arguments)
{
    size_t n = 0;
    bool end = false;
    ck_assert_status(tu_npy_zstd_new(NULL, 1, &(tu_npy_zstd *){NULL}), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(tu_npy_zstd_read(NULL, NULL, 0, &n, &end), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(tu_npy_zstd_rewind(NULL), TEEU_ERR_INVALID_ARGUMENT);
    size_t shape[1] = {4};
    teeu_ndarray *a = new_f64(1, shape, TEEU_LAYOUT_C, true);
    tu_npy_zstd *z = NULL;
    ck_assert_status(tu_npy_zstd_new(a, 99, &z), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(z);
    tu_npy_zstd_free(NULL);
    teeu_ndarray_free(a);
}
END_TEST

static Suite *zstd_stream_suite(void)
{
    Suite *s = suite_create("ndarray_zstd_stream");
    TCase *t = tcase_create("stream");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, random_and_compressible);
    tcase_add_test(t, layouts_and_edge_shapes);
    tcase_add_test(t, context_memory_is_capped);
    tcase_add_test(t, probe_says_whether_zstd_pays);
    tcase_add_test(t, bad_arguments);
    suite_add_tcase(s, t);
    return s;
}

TU_CHECK_MAIN(zstd_stream_suite)
