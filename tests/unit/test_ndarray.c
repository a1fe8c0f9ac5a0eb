/* ndarray layer: arrays and views, strides, the .npy codec, zstd framing and malformed input. */
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "core/core_internal.h"
#include "ndarray/ndarray_internal.h"
#include "tu_check.h"
#include <teeu/common.h>
#include <teeu/ndarray.h>

static const teeu_dtype all_dtypes[] = {
    TEEU_DTYPE_BOOL,   TEEU_DTYPE_INT8,    TEEU_DTYPE_INT16,   TEEU_DTYPE_INT32,     TEEU_DTYPE_INT64,
    TEEU_DTYPE_UINT8,  TEEU_DTYPE_UINT16,  TEEU_DTYPE_UINT32,  TEEU_DTYPE_UINT64,    TEEU_DTYPE_FLOAT16,
    TEEU_DTYPE_FLOAT32, TEEU_DTYPE_FLOAT64, TEEU_DTYPE_COMPLEX64, TEEU_DTYPE_COMPLEX128,
};

/* Deterministic bytes, different for every position. */
static void fill_pattern(uint8_t *p, size_t n, unsigned seed)
{
    uint32_t x = 2463534242u ^ seed;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
}

/* The element at a C-order index, read through the array's strides. */
static const uint8_t *element_at(const teeu_ndarray *arr, size_t linear)
{
    const uint8_t *p = teeu_ndarray_data(arr);
    size_t nd = teeu_ndarray_ndim(arr);
    for (size_t k = nd; k-- > 0;) {
        size_t dim = teeu_ndarray_shape(arr)[k];
        p += (ptrdiff_t)(linear % dim) * teeu_ndarray_strides(arr)[k];
        linear /= dim;
    }
    return p;
}

/* Compares two arrays element by element in C order; a byte-order difference is undone per swap unit. */
static void assert_same_values(const teeu_ndarray *a, const teeu_ndarray *b)
{
    ck_assert_int_eq(teeu_ndarray_dtype(a), teeu_ndarray_dtype(b));
    ck_assert_uint_eq(teeu_ndarray_ndim(a), teeu_ndarray_ndim(b));
    for (size_t i = 0; i < teeu_ndarray_ndim(a); i++)
        ck_assert_uint_eq(teeu_ndarray_shape(a)[i], teeu_ndarray_shape(b)[i]);
    size_t isz = teeu_dtype_size(teeu_ndarray_dtype(a)), unit = tu_dtype_swap_unit(teeu_ndarray_dtype(a));
    bool swap = isz > 1 && teeu_ndarray_byte_order(a) != teeu_ndarray_byte_order(b);
    for (size_t e = 0; e < teeu_ndarray_size(a); e++) {
        const uint8_t *x = element_at(a, e), *y = element_at(b, e);
        for (size_t j = 0; j < isz; j++) {
            size_t jj = swap ? (j / unit) * unit + (unit - 1 - j % unit) : j;
            ck_assert_msg(x[j] == y[jj], "element %zu byte %zu differs", e, j);
        }
    }
}

static teeu_ndarray *roundtrip(const teeu_ndarray *arr, const teeu_npy_encode_options *eo,
                               const teeu_npy_decode_options *dopts, uint8_t **keep)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    ck_assert_ok(teeu_ndarray_encode_alloc(arr, eo, &buf, &len));
    teeu_ndarray *back = NULL;
    ck_assert_ok(teeu_ndarray_decode(buf, len, dopts, &back));
    *keep = buf; /* a decoded view may point into buf */
    return back;
}

START_TEST(dtype_table)
{
    ck_assert_uint_eq(teeu_dtype_size(TEEU_DTYPE_BOOL), 1);
    ck_assert_uint_eq(teeu_dtype_size(TEEU_DTYPE_FLOAT16), 2);
    ck_assert_uint_eq(teeu_dtype_size(TEEU_DTYPE_COMPLEX64), 8);
    ck_assert_uint_eq(teeu_dtype_size(TEEU_DTYPE_COMPLEX128), 16);
    ck_assert_uint_eq(teeu_dtype_size((teeu_dtype)0), 0);
    ck_assert_uint_eq(teeu_dtype_size((teeu_dtype)15), 0);
    ck_assert_str_eq(teeu_dtype_name(TEEU_DTYPE_UINT16), "uint16");
    ck_assert_str_eq(teeu_dtype_name(TEEU_DTYPE_COMPLEX128), "complex128");
    ck_assert_str_eq(teeu_dtype_name((teeu_dtype)99), "unknown");
    ck_assert_uint_eq(tu_dtype_swap_unit(TEEU_DTYPE_COMPLEX128), 8);
}
END_TEST

START_TEST(view_basics)
{
    double v[6] = {1, 2, 3, 4, 5, 6};
    size_t shape[2] = {2, 3};
    teeu_ndarray *arr = NULL;
    ck_assert_ok(teeu_ndarray_view(TEEU_DTYPE_FLOAT64, 2, shape, v, sizeof v, &arr));
    ck_assert_ptr_eq(teeu_ndarray_data(arr), v);
    ck_assert_int_eq(teeu_ndarray_owns_data(arr), 0);
    ck_assert_uint_eq(teeu_ndarray_size(arr), 6);
    ck_assert_uint_eq(teeu_ndarray_nbytes(arr), 48);
    ck_assert_int_eq(teeu_ndarray_strides(arr)[0], 24);
    ck_assert_int_eq(teeu_ndarray_strides(arr)[1], 8);
    ck_assert_int_eq(teeu_ndarray_is_c_contiguous(arr), 1);
    ck_assert_int_eq(teeu_ndarray_is_f_contiguous(arr), 0);
    ck_assert_int_eq(teeu_ndarray_byte_order(arr), tu_native_byte_order());
    teeu_ndarray_free(arr);
    teeu_ndarray_free(NULL);

    /* Wrong length, NULL data, bad dtype, too many dims. */
    ck_assert_status(teeu_ndarray_view(TEEU_DTYPE_FLOAT64, 2, shape, v, sizeof v - 1, &arr), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(arr);
    ck_assert_status(teeu_ndarray_view(TEEU_DTYPE_FLOAT64, 2, shape, NULL, 48, &arr), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(teeu_ndarray_view((teeu_dtype)42, 2, shape, v, sizeof v, &arr), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(teeu_ndarray_view(TEEU_DTYPE_FLOAT64, 65, shape, v, sizeof v, &arr), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(teeu_ndarray_view(TEEU_DTYPE_FLOAT64, 2, NULL, v, sizeof v, &arr), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_str_ne(teeu_last_error(), "");
    size_t huge[2] = {(size_t)1 << 62, 4};
    ck_assert_status(teeu_ndarray_view(TEEU_DTYPE_FLOAT64, 2, huge, v, sizeof v, &arr), TEEU_ERR_NPY_SIZE_OVERFLOW);

    /* 0-d and empty arrays. */
    ck_assert_ok(teeu_ndarray_view(TEEU_DTYPE_FLOAT64, 0, NULL, v, 8, &arr));
    ck_assert_uint_eq(teeu_ndarray_size(arr), 1);
    ck_assert_ptr_null(teeu_ndarray_shape(arr));
    ck_assert_ptr_null(teeu_ndarray_strides(arr));
    teeu_ndarray_free(arr);
    size_t empty[2] = {0, 3};
    ck_assert_ok(teeu_ndarray_view(TEEU_DTYPE_INT32, 2, empty, NULL, 0, &arr));
    ck_assert_uint_eq(teeu_ndarray_size(arr), 0);
    ck_assert_int_eq(teeu_ndarray_is_c_contiguous(arr), 1);
    ck_assert_int_eq(teeu_ndarray_is_f_contiguous(arr), 1);
    teeu_ndarray_free(arr);
}
END_TEST

START_TEST(new_owned_layouts)
{
    teeu_ndarray_desc d;
    teeu_ndarray_desc_init(&d, TEEU_DTYPE_INT16);
    size_t shape[3] = {2, 3, 4};
    d.ndim = 3;
    d.shape = shape;
    d.layout = TEEU_LAYOUT_FORTRAN;
    d.byte_order = TEEU_BYTE_ORDER_BIG;
    teeu_ndarray *arr = NULL;
    ck_assert_ok(teeu_ndarray_new(&d, &arr));
    ck_assert_int_eq(teeu_ndarray_owns_data(arr), 1);
    ck_assert_int_eq(teeu_ndarray_byte_order(arr), TEEU_BYTE_ORDER_BIG);
    ck_assert_int_eq(teeu_ndarray_strides(arr)[0], 2);
    ck_assert_int_eq(teeu_ndarray_strides(arr)[1], 4);
    ck_assert_int_eq(teeu_ndarray_strides(arr)[2], 12);
    ck_assert_int_eq(teeu_ndarray_is_f_contiguous(arr), 1);
    ck_assert_int_eq(teeu_ndarray_is_c_contiguous(arr), 0);
    const uint8_t *p = teeu_ndarray_data(arr);
    for (size_t i = 0; i < teeu_ndarray_nbytes(arr); i++)
        ck_assert_uint_eq(p[i], 0);
    teeu_ndarray_free(arr);

    ptrdiff_t strides[3] = {2, 4, 12};
    d.strides = strides;
    ck_assert_status(teeu_ndarray_new(&d, &arr), TEEU_ERR_INVALID_ARGUMENT);
    d.strides = NULL;
    d.layout = (teeu_layout)7;
    ck_assert_status(teeu_ndarray_new(&d, &arr), TEEU_ERR_INVALID_ARGUMENT);
    d.layout = TEEU_LAYOUT_C;
    d.byte_order = (teeu_byte_order)9;
    ck_assert_status(teeu_ndarray_new(&d, &arr), TEEU_ERR_INVALID_ARGUMENT);

    /* Length-1 axes do not break contiguity (numpy's relaxed rule). */
    size_t s1[2] = {1, 5};
    ptrdiff_t st1[2] = {999, 4};
    teeu_ndarray_desc_init(&d, TEEU_DTYPE_FLOAT32);
    d.ndim = 2;
    d.shape = s1;
    d.strides = st1;
    float f[5] = {0};
    ck_assert_ok(teeu_ndarray_view_desc(&d, f, sizeof f, &arr));
    ck_assert_int_eq(teeu_ndarray_is_c_contiguous(arr), 1);
    teeu_ndarray_free(arr);
}
END_TEST

START_TEST(strided_views_and_bounds)
{
    int32_t m[4][6];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 6; j++)
            m[i][j] = i * 10 + j;
    teeu_ndarray_desc d;
    teeu_ndarray_desc_init(&d, TEEU_DTYPE_INT32);
    size_t shape[2] = {4, 3};
    /* Every other column, rows reversed: element 0 is m[3][0]. */
    ptrdiff_t strides[2] = {-24, 8};
    d.ndim = 2;
    d.shape = shape;
    d.strides = strides;
    teeu_ndarray *arr = NULL;
    ck_assert_status(teeu_ndarray_view_desc(&d, m, sizeof m, &arr), TEEU_ERR_NPY_LAYOUT);
    ck_assert_str_ne(teeu_last_error(), "");
    d.offset = 3 * 24;
    ck_assert_ok(teeu_ndarray_view_desc(&d, m, sizeof m, &arr));
    ck_assert_ptr_eq(teeu_ndarray_data(arr), &m[3][0]);
    ck_assert_int_eq(teeu_ndarray_is_c_contiguous(arr), 0);
    ck_assert_int_eq(teeu_ndarray_is_f_contiguous(arr), 0);

    uint8_t *buf = NULL;
    teeu_ndarray *back = roundtrip(arr, NULL, NULL, &buf);
    ck_assert_int_eq(teeu_ndarray_is_c_contiguous(back), 1);
    const int32_t *v = teeu_ndarray_data(back);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            ck_assert_int_eq(v[i * 3 + j], (3 - i) * 10 + 2 * j);
    teeu_ndarray_free(back);
    teeu_free(buf);
    teeu_ndarray_free(arr);

    /* Past the end, and strides whose reach overflows. */
    d.offset = 3 * 24 + 12;
    ck_assert_status(teeu_ndarray_view_desc(&d, m, sizeof m, &arr), TEEU_ERR_NPY_LAYOUT);
    ptrdiff_t wild[2] = {PTRDIFF_MAX / 2, 8};
    d.strides = wild;
    d.offset = 0;
    ck_assert_status(teeu_ndarray_view_desc(&d, m, sizeof m, &arr), TEEU_ERR_NPY_LAYOUT);

    /* Zero strides broadcast one row. */
    ptrdiff_t bcast[2] = {0, 4};
    d.strides = bcast;
    ck_assert_ok(teeu_ndarray_view_desc(&d, m, 12, &arr));
    back = roundtrip(arr, NULL, NULL, &buf);
    v = teeu_ndarray_data(back);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            ck_assert_int_eq(v[i * 3 + j], j);
    teeu_ndarray_free(back);
    teeu_free(buf);
    teeu_ndarray_free(arr);
}
END_TEST

/* Every dtype x byte order x layout x shape class round-trips, as a view and as a copy. */
START_TEST(roundtrip_all_dtypes)
{
    static const size_t shapes[][3] = {{0}, {7}, {3, 5}, {2, 0, 4}, {2, 3, 4}};
    static const size_t ndims[] = {0, 1, 2, 3, 3};
    uint8_t data[2 * 3 * 4 * 16];
    for (size_t t = 0; t < TU_ARRAY_LEN(all_dtypes); t++) {
        for (int bo = TEEU_BYTE_ORDER_LITTLE; bo <= TEEU_BYTE_ORDER_BIG; bo++) {
            for (int lay = 0; lay < 2; lay++) {
                for (size_t s = 0; s < TU_ARRAY_LEN(ndims); s++) {
                    teeu_ndarray_desc d;
                    teeu_ndarray_desc_init(&d, all_dtypes[t]);
                    d.byte_order = (teeu_byte_order)bo;
                    d.layout = (teeu_layout)lay;
                    d.ndim = ndims[s];
                    d.shape = shapes[s];
                    fill_pattern(data, sizeof data, (unsigned)(t * 100 + s));
                    teeu_ndarray *arr = NULL;
                    ck_assert_ok(teeu_ndarray_view_desc(&d, data, sizeof data, &arr));
                    for (int copy = 0; copy < 2; copy++) {
                        teeu_npy_decode_options dopts;
                        teeu_npy_decode_options_init(&dopts);
                        dopts.flags = copy ? TEEU_NPY_DECODE_COPY : 0;
                        uint8_t *buf = NULL;
                        teeu_ndarray *back = roundtrip(arr, NULL, &dopts, &buf);
                        ck_assert_int_eq(teeu_ndarray_owns_data(back), copy);
                        if (teeu_dtype_size(all_dtypes[t]) > 1)
                            ck_assert_int_eq(teeu_ndarray_byte_order(back), bo);
                        if (teeu_ndarray_size(arr) > 0 && ndims[s] > 1)
                            ck_assert_int_eq(teeu_ndarray_is_f_contiguous(back), lay == TEEU_LAYOUT_FORTRAN);
                        assert_same_values(arr, back);
                        teeu_ndarray_free(back);
                        teeu_free(buf);
                    }
                    teeu_ndarray_free(arr);
                }
            }
        }
    }
}
END_TEST

START_TEST(header_bytes_match_numpy)
{
    double v[12] = {0};
    size_t shape[2] = {4, 3};
    teeu_ndarray *arr = NULL;
    ck_assert_ok(teeu_ndarray_view(TEEU_DTYPE_FLOAT64, 2, shape, v, sizeof v, &arr));
    uint8_t buf[256];
    size_t n = 0;
    ck_assert_ok(teeu_ndarray_encode(arr, NULL, buf, sizeof buf, &n));
    ck_assert_uint_eq(n, 128 + 96);
    /* What numpy 1.24's numpy.save writes for this array. */
    const char *expect = "\x93NUMPY\x01\x00\x76\x00{'descr': '<f8', 'fortran_order': False, 'shape': (4, 3), }";
    size_t elen = 10 + strlen(expect + 10);
    ck_assert_mem_eq(buf, expect, elen);
    for (size_t i = elen; i < 127; i++)
        ck_assert_uint_eq(buf[i], ' ');
    ck_assert_uint_eq(buf[127], '\n');
    /* One byte short. */
    ck_assert_status(teeu_ndarray_encode(arr, NULL, buf, n - 1, &n), TEEU_ERR_BUFFER_TOO_SMALL);
    teeu_ndarray_free(arr);

    /* 1-d shapes are written (5,), 0-d ones (), 1-byte dtypes with '|'. */
    uint8_t b5[5] = {1, 0, 1, 1, 0};
    size_t s5 = 5;
    ck_assert_ok(teeu_ndarray_view(TEEU_DTYPE_BOOL, 1, &s5, b5, 5, &arr));
    ck_assert_ok(teeu_ndarray_encode(arr, NULL, buf, sizeof buf, &n));
    ck_assert_ptr_nonnull(memmem(buf, n, "{'descr': '|b1', 'fortran_order': False, 'shape': (5,), }", 57));
    teeu_ndarray_free(arr);
    ck_assert_ok(teeu_ndarray_view(TEEU_DTYPE_INT64, 0, NULL, v, 8, &arr));
    ck_assert_ok(teeu_ndarray_encode(arr, NULL, buf, sizeof buf, &n));
    ck_assert_ptr_nonnull(memmem(buf, n, "'shape': (), }", 14));
    ck_assert_uint_eq(n, 128 + 8); /* numpy.save writes 136 bytes too */
    teeu_ndarray_free(arr);
}
END_TEST

START_TEST(format_versions_and_options)
{
    float v[6] = {1, 2, 3, 4, 5, 6};
    size_t shape[1] = {6};
    teeu_ndarray *arr = NULL;
    ck_assert_ok(teeu_ndarray_view(TEEU_DTYPE_FLOAT32, 1, shape, v, sizeof v, &arr));
    for (unsigned major = 1; major <= 3; major++) {
        teeu_npy_encode_options eo;
        teeu_npy_encode_options_init(&eo);
        eo.format_major = major;
        uint8_t *buf = NULL;
        size_t len = 0, need = 0;
        ck_assert_ok(teeu_ndarray_encoded_size(arr, &eo, &need));
        ck_assert_ok(teeu_ndarray_encode_alloc(arr, &eo, &buf, &len));
        ck_assert_uint_eq(len, need);
        teeu_npy_info info;
        ck_assert_ok(teeu_npy_read_info(buf, len, NULL, &info));
        ck_assert_uint_eq(info.format_major, major);
        ck_assert_uint_eq(info.header_len % 64, 0);
        ck_assert_uint_eq(info.data_len, sizeof v);
        ck_assert_int_eq(info.compressed, 0);
        teeu_free(buf);
    }
    teeu_npy_encode_options eo;
    teeu_npy_encode_options_init(&eo);
    size_t n;
    eo.format_major = 4;
    ck_assert_status(teeu_ndarray_encoded_size(arr, &eo, &n), TEEU_ERR_INVALID_ARGUMENT);
    eo.format_major = 0;
    eo.flags = TEEU_NPY_LITTLE_ENDIAN | TEEU_NPY_BIG_ENDIAN;
    ck_assert_status(teeu_ndarray_encoded_size(arr, &eo, &n), TEEU_ERR_INVALID_ARGUMENT);
    eo.flags = 0x80;
    ck_assert_status(teeu_ndarray_encoded_size(arr, &eo, &n), TEEU_ERR_INVALID_ARGUMENT);
    eo.flags = TEEU_NPY_ZSTD;
    eo.zstd_level = 1000;
    ck_assert_status(teeu_ndarray_encoded_size(arr, &eo, &n), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(teeu_ndarray_encoded_size(NULL, NULL, &n), TEEU_ERR_INVALID_ARGUMENT);
    teeu_ndarray_free(arr);
}
END_TEST

/* Forcing the other byte order swaps every unit (complex: each half) in the single pass. */
START_TEST(byte_swap_encoding)
{
    for (size_t t = 0; t < TU_ARRAY_LEN(all_dtypes); t++) {
        uint8_t data[5 * 16];
        fill_pattern(data, sizeof data, (unsigned)t);
        size_t shape[1] = {5};
        teeu_ndarray *arr = NULL;
        ck_assert_ok(teeu_ndarray_view(all_dtypes[t], 1, shape, data, 5 * teeu_dtype_size(all_dtypes[t]), &arr));
        teeu_npy_encode_options eo;
        teeu_npy_encode_options_init(&eo);
        eo.flags = tu_native_byte_order() == TEEU_BYTE_ORDER_LITTLE ? TEEU_NPY_BIG_ENDIAN : TEEU_NPY_LITTLE_ENDIAN;
        uint8_t *buf = NULL;
        teeu_ndarray *back = roundtrip(arr, &eo, NULL, &buf);
        if (teeu_dtype_size(all_dtypes[t]) > 1)
            ck_assert_int_ne(teeu_ndarray_byte_order(back), teeu_ndarray_byte_order(arr));
        assert_same_values(arr, back); /* compares through the swap */
        teeu_ndarray_free(back);
        teeu_free(buf);
        teeu_ndarray_free(arr);
    }
}
END_TEST

/* The streaming helpers: any split of the data section equals the one-shot encoding. */
START_TEST(streaming_pieces_match)
{
    uint8_t data[6 * 5 * 16];
    fill_pattern(data, sizeof data, 77);
    size_t shape[2] = {3, 5};
    ptrdiff_t strides[2] = {-160, 32}; /* complex128, rows reversed, every other column */
    teeu_ndarray_desc d;
    teeu_ndarray_desc_init(&d, TEEU_DTYPE_COMPLEX128);
    d.ndim = 2;
    d.shape = shape;
    d.strides = strides;
    d.offset = 2 * 160;
    teeu_ndarray *views[2] = {NULL, NULL};
    ck_assert_ok(teeu_ndarray_view_desc(&d, data, sizeof data, &views[0]));
    d.strides = NULL;
    d.offset = 0;
    ck_assert_ok(teeu_ndarray_view_desc(&d, data, sizeof data, &views[1]));
    for (int v = 0; v < 2; v++) {
        for (unsigned flags = 0; flags <= TEEU_NPY_BIG_ENDIAN; flags += TEEU_NPY_LITTLE_ENDIAN) {
            teeu_npy_encode_options eo;
            teeu_npy_encode_options_init(&eo);
            eo.flags = flags;
            uint8_t *whole = NULL;
            size_t whole_len = 0;
            ck_assert_ok(teeu_ndarray_encode_alloc(views[v], &eo, &whole, &whole_len));
            tu_npy_plan plan;
            ck_assert_ok(tu_npy_plan_init(views[v], &eo, &plan));
            ck_assert_int_eq(plan.contiguous, v == 1);
            uint8_t head[TU_NPY_MAX_ENCODED_HEADER];
            size_t hl = 0;
            ck_assert_ok(tu_npy_header_encode(&plan, head, sizeof head, &hl));
            ck_assert_uint_eq(hl + plan.data_len, whole_len);
            ck_assert_mem_eq(head, whole, hl);
            /* Odd-sized pieces that start and end inside elements and swap units. */
            uint8_t piece[64];
            for (size_t off = 0, step = 1; off < plan.data_len; off += step, step = step % 37 + 3) {
                size_t n = plan.data_len - off < step ? plan.data_len - off : step;
                tu_npy_data_copy(&plan, off, piece, n);
                ck_assert_mem_eq(piece, whole + hl + off, n);
            }
            teeu_free(whole);
        }
    }
    teeu_ndarray_free(views[0]);
    teeu_ndarray_free(views[1]);
}
END_TEST

START_TEST(incremental_header_parse)
{
    int64_t v[3] = {1, 2, 3};
    size_t shape[1] = {3};
    teeu_ndarray *arr = NULL;
    ck_assert_ok(teeu_ndarray_view(TEEU_DTYPE_INT64, 1, shape, v, sizeof v, &arr));
    uint8_t *buf = NULL;
    size_t len = 0;
    ck_assert_ok(teeu_ndarray_encode_alloc(arr, NULL, &buf, &len));
    teeu_ndarray_free(arr);
    teeu_npy_info info;
    size_t have = 0, need = 0;
    int rounds = 0;
    while (tu_npy_parse_header(buf, have, &info, &need) == TEEU_ERR_NPY_TRUNCATED) {
        ck_assert_uint_gt(need, have);
        have = need;
        rounds++;
    }
    ck_assert_int_eq(rounds, 2); /* preamble, then header */
    ck_assert_uint_eq(have, info.header_len);
    ck_assert_uint_eq(info.data_len, sizeof v);
    /* The streaming decode path: allocate from the header, then fill. */
    ck_assert_ok(tu_ndarray_new_from_info(&info, &arr));
    memcpy(teeu_ndarray_data(arr), buf + info.header_len, info.data_len);
    ck_assert_mem_eq(teeu_ndarray_data(arr), v, sizeof v);
    teeu_ndarray_free(arr);
    teeu_free(buf);
}
END_TEST

START_TEST(misaligned_input_is_copied)
{
    double v[4] = {1.5, 2.5, 3.5, 4.5};
    size_t shape[1] = {4};
    teeu_ndarray *arr = NULL;
    ck_assert_ok(teeu_ndarray_view(TEEU_DTYPE_FLOAT64, 1, shape, v, sizeof v, &arr));
    uint8_t *buf = NULL;
    size_t len = 0;
    ck_assert_ok(teeu_ndarray_encode_alloc(arr, NULL, &buf, &len));
    uint8_t *shifted = malloc(len + 1);
    memcpy(shifted + 1, buf, len);
    teeu_ndarray *back = NULL;
    ck_assert_ok(teeu_ndarray_decode(shifted + 1, len, NULL, &back));
    ck_assert_int_eq(teeu_ndarray_owns_data(back), 1);
    ck_assert_mem_eq(teeu_ndarray_data(back), v, sizeof v);
    teeu_ndarray_free(back);
    ck_assert_ok(teeu_ndarray_decode(buf, len, NULL, &back));
    ck_assert_int_eq(teeu_ndarray_owns_data(back), 0);
    ck_assert_ptr_eq(teeu_ndarray_data(back), buf + len - sizeof v);
    teeu_ndarray_free(back);
    free(shifted);
    teeu_free(buf);
    teeu_ndarray_free(arr);
}
END_TEST

START_TEST(zstd_roundtrip_and_bounds)
{
    size_t shape[2] = {300, 200};
    teeu_ndarray_desc d;
    teeu_ndarray_desc_init(&d, TEEU_DTYPE_FLOAT64);
    d.ndim = 2;
    d.shape = shape;
    d.layout = TEEU_LAYOUT_FORTRAN;
    teeu_ndarray *arr = NULL;
    ck_assert_ok(teeu_ndarray_new(&d, &arr));
    double *p = teeu_ndarray_data(arr);
    for (size_t i = 0; i < 300 * 200; i++)
        p[i] = (double)(i % 1000) / 8;
    teeu_npy_encode_options eo;
    teeu_npy_encode_options_init(&eo);
    eo.flags = TEEU_NPY_ZSTD;
    eo.zstd_level = 5;
    uint8_t *z = NULL;
    size_t zlen = 0, bound = 0;
    ck_assert_ok(teeu_ndarray_encoded_size(arr, &eo, &bound));
    ck_assert_ok(teeu_ndarray_encode_alloc(arr, &eo, &z, &zlen));
    ck_assert_uint_lt(zlen, teeu_ndarray_nbytes(arr) / 4);
    ck_assert_uint_le(zlen, bound);
    ck_assert(tu_npy_is_zstd(z, zlen));
    /* The frame is standard zstd holding the plain .npy bytes. */
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    ck_assert_ok(teeu_ndarray_encode_alloc(arr, NULL, &plain, &plain_len));
    uint8_t *check = malloc(plain_len);
    ck_assert_uint_eq(ZSTD_decompress(check, plain_len, z, zlen), plain_len);
    ck_assert_mem_eq(check, plain, plain_len);
    free(check);

    teeu_ndarray *back = NULL;
    ck_assert_ok(teeu_ndarray_decode(z, zlen, NULL, &back));
    ck_assert_int_eq(teeu_ndarray_owns_data(back), 1);
    ck_assert_int_eq(teeu_ndarray_is_f_contiguous(back), 1);
    assert_same_values(arr, back);
    teeu_ndarray_free(back);
    teeu_npy_info info;
    ck_assert_ok(teeu_npy_read_info(z, zlen, NULL, &info));
    ck_assert_int_eq(info.compressed, 1);
    ck_assert_int_eq(info.fortran_order, 1);

    /* The bound counts header + data; exactly enough passes, one byte less does not. */
    teeu_npy_decode_options dopts;
    teeu_npy_decode_options_init(&dopts);
    dopts.max_decompressed = plain_len;
    ck_assert_ok(teeu_ndarray_decode(z, zlen, &dopts, &back));
    teeu_ndarray_free(back);
    dopts.max_decompressed = plain_len - 1;
    ck_assert_status(teeu_ndarray_decode(z, zlen, &dopts, &back), TEEU_ERR_NPY_DECOMPRESSED_TOO_LARGE);
    ck_assert_ptr_null(back);

    /* A too-small output buffer for compression. */
    size_t n;
    uint8_t small[100];
    ck_assert_status(teeu_ndarray_encode(arr, &eo, small, sizeof small, &n), TEEU_ERR_BUFFER_TOO_SMALL);
    ck_assert_str_ne(teeu_last_error(), "");

    /* Strided and swapped data go through the chunked path. */
    eo.flags = TEEU_NPY_ZSTD | (tu_native_byte_order() == TEEU_BYTE_ORDER_LITTLE ? TEEU_NPY_BIG_ENDIAN
                                                                                 : TEEU_NPY_LITTLE_ENDIAN);
    uint8_t *z2 = NULL;
    size_t z2len = 0;
    ck_assert_ok(teeu_ndarray_encode_alloc(arr, &eo, &z2, &z2len));
    ck_assert_ok(teeu_ndarray_decode(z2, z2len, NULL, &back));
    assert_same_values(arr, back);
    teeu_ndarray_free(back);
    teeu_free(z2);

    teeu_free(plain);
    teeu_free(z);
    teeu_ndarray_free(arr);
}
END_TEST

/* A frame that expands far past the bound is refused from its header, before any big allocation. */
START_TEST(zstd_bomb_refused)
{
    const size_t data_len = (size_t)256 << 20;
    char header[128];
    int hn = snprintf(header, sizeof header, "{'descr': '|u1', 'fortran_order': False, 'shape': (%zu,), }", data_len);
    uint8_t pre[128];
    memcpy(pre, "\x93NUMPY\x01\x00", 8);
    size_t total = 10 + (size_t)hn + 1;
    size_t pad = 64 - total % 64;
    pre[8] = (uint8_t)(hn + 1 + pad);
    pre[9] = 0;
    memcpy(pre + 10, header, (size_t)hn);
    memset(pre + 10 + hn, ' ', pad);
    pre[10 + hn + pad] = '\n';
    size_t pre_len = 10 + (size_t)hn + pad + 1;

    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    size_t cap = 1 << 20;
    uint8_t *z = malloc(cap);
    uint8_t *zeros = calloc(1, 1 << 20);
    ZSTD_outBuffer out = {z, cap, 0};
    ZSTD_inBuffer in = {pre, pre_len, 0};
    ck_assert(!ZSTD_isError(ZSTD_compressStream2(cctx, &out, &in, ZSTD_e_continue)));
    for (size_t done = 0; done < data_len; done += 1 << 20) {
        ZSTD_inBuffer zin = {zeros, 1 << 20, 0};
        while (zin.pos < zin.size)
            ck_assert(!ZSTD_isError(ZSTD_compressStream2(cctx, &out, &zin, ZSTD_e_continue)));
    }
    ZSTD_inBuffer none = {NULL, 0, 0};
    while (ZSTD_compressStream2(cctx, &out, &none, ZSTD_e_end) != 0)
        ;
    ZSTD_freeCCtx(cctx);
    free(zeros);
    ck_assert_uint_lt(out.pos, 100000);

    teeu_npy_decode_options dopts;
    teeu_npy_decode_options_init(&dopts);
    dopts.max_decompressed = 1 << 20;
    teeu_ndarray *arr = NULL;
    ck_assert_status(teeu_ndarray_decode(z, out.pos, &dopts, &arr), TEEU_ERR_NPY_DECOMPRESSED_TOO_LARGE);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "bound"));
    teeu_npy_info info;
    ck_assert_status(teeu_npy_read_info(z, out.pos, &dopts, &info), TEEU_ERR_NPY_DECOMPRESSED_TOO_LARGE);
    free(z);
}
END_TEST

/* ---- malformed input ---------------------------------------------------------------- */

/* Preamble + text + numpy-style padding and '\n' + data_len pattern bytes. */
static uint8_t *npy_with_header(unsigned major, const char *text, size_t data_len, size_t *len)
{
    size_t pre = major == 1 ? 10 : 12, tl = strlen(text);
    size_t pad = 64 - (pre + tl + 1) % 64;
    size_t hl = tl + pad + 1;
    *len = pre + hl + data_len;
    uint8_t *b = malloc(*len ? *len : 1);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (uint8_t)major;
    b[7] = 0;
    for (size_t i = 0; i < pre - 8; i++)
        b[8 + i] = (uint8_t)(hl >> (8 * i));
    memcpy(b + pre, text, tl);
    memset(b + pre + tl, ' ', pad);
    b[pre + hl - 1] = '\n';
    fill_pattern(b + pre + hl, data_len, 5);
    return b;
}

typedef struct bad_case {
    const char *name;
    const char *text; /* header dict; NULL: bytes below */
    size_t data_len;
    teeu_status expect;
} bad_case;

static const bad_case bad_headers[] = {
    {"not a dict", "[1, 2, 3]", 0, TEEU_ERR_NPY_HEADER_SYNTAX},
    {"leading space", " {'descr': '<f8', 'fortran_order': False, 'shape': (), }", 8, TEEU_ERR_NPY_HEADER_SYNTAX},
    {"missing colon", "{'descr' '<f8', 'fortran_order': False, 'shape': (), }", 8, TEEU_ERR_NPY_HEADER_SYNTAX},
    {"unterminated string", "{'descr': '<f8', 'fortran_order': False, 'shape': (), 'sha", 8, TEEU_ERR_NPY_HEADER_SYNTAX},
    {"escape in string", "{'descr': '<f\\x38', 'fortran_order': False, 'shape': (), }", 8, TEEU_ERR_NPY_HEADER_SYNTAX},
    {"unquoted key", "{descr: '<f8', 'fortran_order': False, 'shape': (), }", 8, TEEU_ERR_NPY_HEADER_SYNTAX},
    {"double comma", "{'descr': '<f8',, 'fortran_order': False, 'shape': (), }", 8, TEEU_ERR_NPY_HEADER_SYNTAX},
    {"unclosed dict", "{'descr': '<f8', 'fortran_order': False, 'shape': ()", 8, TEEU_ERR_NPY_HEADER_SYNTAX},
    {"newline inside dict", "{'descr': '<f8',\n'fortran_order': False, 'shape': (), }", 8, TEEU_ERR_NPY_HEADER_SYNTAX},
    {"unknown key", "{'descr': '<f8', 'fortran_order': False, 'shape': (), 'x': 1}", 8, TEEU_ERR_NPY_HEADER_KEYS},
    {"duplicate key", "{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (), }", 8,
     TEEU_ERR_NPY_HEADER_KEYS},
    {"missing shape", "{'descr': '<f8', 'fortran_order': False, }", 8, TEEU_ERR_NPY_HEADER_KEYS},
    {"missing descr", "{'fortran_order': False, 'shape': (), }", 8, TEEU_ERR_NPY_HEADER_KEYS},
    {"unicode dtype", "{'descr': '<U4', 'fortran_order': False, 'shape': (), }", 16, TEEU_ERR_NPY_DTYPE},
    {"object dtype", "{'descr': '|O', 'fortran_order': False, 'shape': (), }", 8, TEEU_ERR_NPY_DTYPE},
    {"structured dtype", "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (), }", 8, TEEU_ERR_NPY_DTYPE},
    {"no byte order", "{'descr': 'f8', 'fortran_order': False, 'shape': (), }", 8, TEEU_ERR_NPY_DTYPE},
    {"'|' on a multi-byte type", "{'descr': '|f8', 'fortran_order': False, 'shape': (), }", 8, TEEU_ERR_NPY_DTYPE},
    {"long double", "{'descr': '<f16', 'fortran_order': False, 'shape': (), }", 16, TEEU_ERR_NPY_DTYPE},
    {"descr not a string", "{'descr': 8, 'fortran_order': False, 'shape': (), }", 8, TEEU_ERR_NPY_DTYPE},
    {"fortran_order 0", "{'descr': '<f8', 'fortran_order': 0, 'shape': (), }", 8, TEEU_ERR_NPY_FORTRAN_ORDER},
    {"fortran_order string", "{'descr': '<f8', 'fortran_order': 'False', 'shape': (), }", 8,
     TEEU_ERR_NPY_FORTRAN_ORDER},
    {"fortran_order Falsey", "{'descr': '<f8', 'fortran_order': Falsey, 'shape': (), }", 8,
     TEEU_ERR_NPY_FORTRAN_ORDER},
    {"shape as list", "{'descr': '<f8', 'fortran_order': False, 'shape': [4, 3], }", 96, TEEU_ERR_NPY_SHAPE},
    {"shape (5) is an int", "{'descr': '<f8', 'fortran_order': False, 'shape': (5), }", 40, TEEU_ERR_NPY_SHAPE},
    {"negative dim", "{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }", 8, TEEU_ERR_NPY_SHAPE},
    {"float dim", "{'descr': '<f8', 'fortran_order': False, 'shape': (3.0,), }", 24, TEEU_ERR_NPY_SHAPE},
    {"python2 long dim", "{'descr': '<f8', 'fortran_order': False, 'shape': (3L,), }", 24, TEEU_ERR_NPY_SHAPE},
    {"leading zero", "{'descr': '<f8', 'fortran_order': False, 'shape': (03,), }", 24, TEEU_ERR_NPY_SHAPE},
    {"missing separator", "{'descr': '<f8', 'fortran_order': False, 'shape': (4 3), }", 96, TEEU_ERR_NPY_SHAPE},
    {"dim overflows size_t", "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999,), }", 0,
     TEEU_ERR_NPY_SIZE_OVERFLOW},
    {"byte size overflows", "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 0,
     TEEU_ERR_NPY_SIZE_OVERFLOW},
    {"data one byte short", "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 3), }", 95,
     TEEU_ERR_NPY_DATA_LENGTH},
    {"data one byte long", "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 3), }", 97,
     TEEU_ERR_NPY_DATA_LENGTH},
    {"junk after the dict", "{'descr': '<f8', 'fortran_order': False, 'shape': (), } x", 8,
     TEEU_ERR_NPY_HEADER_PADDING},
};

START_TEST(malformed_headers_rejected)
{
    const bad_case *c = &bad_headers[_i];
    size_t len = 0;
    uint8_t *b = npy_with_header((unsigned)(1 + _i % 3), c->text, c->data_len, &len);
    teeu_ndarray *arr = (teeu_ndarray *)&len; /* must be reset to NULL */
    tu_error_clear();
    teeu_status st = teeu_ndarray_decode(b, len, NULL, &arr);
    ck_assert_msg(st == c->expect, "%s: got %d (%s: %s), expected %d", c->name, st, teeu_status_str(st),
                  teeu_last_error(), c->expect);
    ck_assert_msg(teeu_last_error()[0] != '\0', "%s: no message", c->name);
    ck_assert_ptr_null(arr);
    teeu_npy_info info;
    ck_assert_int_eq(teeu_npy_read_info(b, len, NULL, &info), c->expect);
    free(b);
}
END_TEST

/* A valid header to corrupt byte by byte: 10 + 118 bytes, then 96 bytes of data. */
static uint8_t *good_npy(size_t *len)
{
    return npy_with_header(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 3), }", 96, len);
}

static void expect_status(const uint8_t *b, size_t len, teeu_status want, const char *what)
{
    teeu_ndarray *arr = NULL;
    tu_error_clear();
    teeu_status st = teeu_ndarray_decode(b, len, NULL, &arr);
    ck_assert_msg(st == want, "%s: got %d (%s: %s), expected %d", what, st, teeu_status_str(st), teeu_last_error(),
                  want);
    ck_assert_msg(teeu_last_error()[0] != '\0', "%s: no message", what);
    ck_assert_ptr_null(arr);
}

START_TEST(malformed_preambles_rejected)
{
    size_t len;
    uint8_t *b = good_npy(&len);
    teeu_ndarray *arr = NULL;
    ck_assert_ok(teeu_ndarray_decode(b, len, NULL, &arr));
    teeu_ndarray_free(arr);

    expect_status(b, 0, TEEU_ERR_NPY_TRUNCATED, "empty input");
    expect_status(b, 7, TEEU_ERR_NPY_TRUNCATED, "inside the magic");
    expect_status(b, 9, TEEU_ERR_NPY_TRUNCATED, "inside the length field");
    expect_status(b, 100, TEEU_ERR_NPY_TRUNCATED, "inside the header");
    expect_status((const uint8_t *)"PK\x03\x04", 4, TEEU_ERR_NPY_MAGIC, "a zip file");
    expect_status((const uint8_t *)"\x93NUM", 4, TEEU_ERR_NPY_TRUNCATED, "a magic prefix");

    uint8_t *m = malloc(len);
#define MUTATE(pos, val, want, what)          \
    do {                                      \
        memcpy(m, b, len);                    \
        m[pos] = (uint8_t)(val);              \
        expect_status(m, len, want, what);    \
    } while (0)
    MUTATE(1, 'n', TEEU_ERR_NPY_MAGIC, "lowercase magic");
    MUTATE(0, 0x92, TEEU_ERR_NPY_MAGIC, "wrong first byte");
    MUTATE(6, 4, TEEU_ERR_NPY_VERSION, "version 4.0");
    MUTATE(6, 0, TEEU_ERR_NPY_VERSION, "version 0.0");
    MUTATE(7, 1, TEEU_ERR_NPY_VERSION, "version 1.1");
    MUTATE(8, 0, TEEU_ERR_NPY_HEADER_LENGTH, "header length 0");
    MUTATE(8, 20, TEEU_ERR_NPY_HEADER_LENGTH, "header length 20");
    MUTATE(9, 0xff, TEEU_ERR_NPY_TRUNCATED, "header length past the input");
    MUTATE(127, ' ', TEEU_ERR_NPY_HEADER_PADDING, "no final newline");
    MUTATE(100, 'x', TEEU_ERR_NPY_HEADER_PADDING, "junk in the padding");
    MUTATE(110, 0, TEEU_ERR_NPY_HEADER_PADDING, "NUL in the padding");
    MUTATE(22, 0xe9, TEEU_ERR_NPY_HEADER_SYNTAX, "non-ASCII in a string");
#undef MUTATE
    free(m);

    /* Version 2.0 with a header length above the limit. */
    uint8_t v2[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0x00, 0x00, 0x01, 0x00};
    expect_status(v2, sizeof v2, TEEU_ERR_NPY_HEADER_LENGTH, "v2 header of 64 KiB");
    /* Too many dimensions. */
    char text[1024] = "{'descr': '<f8', 'fortran_order': False, 'shape': (";
    for (int i = 0; i < 65; i++)
        strcat(text, "1, ");
    strcat(text, "), }");
    size_t l2;
    uint8_t *many = npy_with_header(1, text, 8, &l2);
    expect_status(many, l2, TEEU_ERR_NPY_SHAPE, "65 dimensions");
    free(many);
    free(b);
}
END_TEST

/* One zstd frame with a content checksum, as libteeu writes them. */
static size_t zc(uint8_t *dst, size_t cap, const void *src, size_t n)
{
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    ck_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)));
    size_t r = ZSTD_compress2(cctx, dst, cap, src, n);
    ZSTD_freeCCtx(cctx);
    ck_assert(!ZSTD_isError(r));
    return r;
}

START_TEST(malformed_zstd_rejected)
{
    size_t len;
    uint8_t *b = good_npy(&len);
    size_t zcap = 3 * ZSTD_compressBound(len + 1) + 64;
    uint8_t *z = malloc(zcap + 8);
    size_t zlen = zc(z, zcap, b, len);
    ck_assert(!ZSTD_isError(zlen));
    teeu_ndarray *arr = NULL;
    ck_assert_ok(teeu_ndarray_decode(z, zlen, NULL, &arr));
    ck_assert_int_eq(teeu_ndarray_owns_data(arr), 1);
    teeu_ndarray_free(arr);

    expect_status(z, zlen - 3, TEEU_ERR_NPY_COMPRESSED, "truncated frame");
    expect_status(z, 4, TEEU_ERR_NPY_COMPRESSED, "only the frame magic");
    memcpy(z + zlen, "JUNK", 4);
    expect_status(z, zlen + 1, TEEU_ERR_NPY_COMPRESSED, "one byte after the frame");
    expect_status(z, zlen + 4, TEEU_ERR_NPY_COMPRESSED, "bytes after the frame");
    uint8_t saved = z[zlen / 2];
    z[zlen / 2] ^= 0x55;
    expect_status(z, zlen, TEEU_ERR_NPY_COMPRESSED, "corrupted frame");
    z[zlen / 2] = saved;

    /* Concatenated frames (header in one, data in the next, a skippable frame between) are one stream. */
    size_t split = 70;
    size_t n1 = zc(z, zcap, b, split);
    uint8_t skippable[12] = {0x50, 0x2A, 0x4D, 0x18, 4, 0, 0, 0, 'n', 'o', 't', 'e'};
    memcpy(z + n1, skippable, sizeof skippable);
    size_t n2 = zc(z + n1 + sizeof skippable, zcap - n1 - sizeof skippable, b + split, len - split);
    ck_assert_ok(teeu_ndarray_decode(z, n1 + sizeof skippable + n2, NULL, &arr));
    ck_assert_mem_eq(teeu_ndarray_data(arr), b + len - 96, 96);
    teeu_ndarray_free(arr);
    /* pzstd starts its output with a skippable frame. */
    uint8_t *lead = malloc(sizeof skippable + n1 + sizeof skippable + n2);
    memcpy(lead, skippable, sizeof skippable);
    memcpy(lead + sizeof skippable, z, n1 + sizeof skippable + n2);
    ck_assert_ok(teeu_ndarray_decode(lead, sizeof skippable + n1 + sizeof skippable + n2, NULL, &arr));
    teeu_ndarray_free(arr);
    free(lead);
    n2 = zc(z + n1, zcap - n1, b + split, len - split);
    size_t n3 = zc(z + n1 + n2, zcap - n1 - n2, "x", 1);
    expect_status(z, n1 + n2 + n3, TEEU_ERR_NPY_DATA_LENGTH, "zstd: a further frame with more data");

    /* The frame is fine but its content is not: data one byte long, one byte short, not .npy. */
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, b, len);
    longer[len] = 7;
    zlen = zc(z, zcap, longer, len + 1);
    expect_status(z, zlen, TEEU_ERR_NPY_DATA_LENGTH, "zstd: data one byte long");
    zlen = zc(z, zcap, b, len - 1);
    expect_status(z, zlen, TEEU_ERR_NPY_DATA_LENGTH, "zstd: data one byte short");
    zlen = zc(z, zcap, b, 50);
    expect_status(z, zlen, TEEU_ERR_NPY_TRUNCATED, "zstd: content ends inside the header");
    zlen = ZSTD_compress(z, zcap, "hello, world", 12, 3);
    expect_status(z, zlen, TEEU_ERR_NPY_MAGIC, "zstd: content is not .npy");
    free(longer);
    free(z);
    free(b);
}
END_TEST

START_TEST(null_arguments)
{
    teeu_ndarray *arr = NULL;
    size_t n;
    uint8_t *p;
    ck_assert_status(teeu_ndarray_decode(NULL, 10, NULL, &arr), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(teeu_ndarray_decode("x", 1, NULL, NULL), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(teeu_ndarray_encode(NULL, NULL, NULL, 0, &n), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(teeu_ndarray_encode_alloc(NULL, NULL, &p, &n), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(teeu_npy_read_info("x", 1, NULL, NULL), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(teeu_ndarray_view_desc(NULL, NULL, 0, &arr), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(teeu_ndarray_new(NULL, &arr), TEEU_ERR_INVALID_ARGUMENT);
    teeu_npy_decode_options dopts;
    teeu_npy_decode_options_init(&dopts);
    ck_assert_uint_eq(dopts.max_decompressed, TEEU_NPY_DEFAULT_MAX_DECOMPRESSED);
    dopts.flags = 0x40;
    ck_assert_status(teeu_ndarray_decode("x", 1, &dopts, &arr), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(teeu_ndarray_ndim(NULL), 0);
    ck_assert_ptr_null(teeu_ndarray_data(NULL));
}
END_TEST

static Suite *ndarray_suite(void)
{
    Suite *s = suite_create("ndarray");
    TCase *api = tcase_create("api");
    tcase_add_test(api, dtype_table);
    tcase_add_test(api, view_basics);
    tcase_add_test(api, new_owned_layouts);
    tcase_add_test(api, strided_views_and_bounds);
    tcase_add_test(api, null_arguments);
    suite_add_tcase(s, api);
    TCase *codec = tcase_create("codec");
    tcase_add_test(codec, roundtrip_all_dtypes);
    tcase_add_test(codec, header_bytes_match_numpy);
    tcase_add_test(codec, format_versions_and_options);
    tcase_add_test(codec, byte_swap_encoding);
    tcase_add_test(codec, streaming_pieces_match);
    tcase_add_test(codec, incremental_header_parse);
    tcase_add_test(codec, misaligned_input_is_copied);
    suite_add_tcase(s, codec);
    TCase *zstd = tcase_create("zstd");
    tcase_set_timeout(zstd, 120);
    tcase_add_test(zstd, zstd_roundtrip_and_bounds);
    tcase_add_test(zstd, zstd_bomb_refused);
    tcase_add_test(zstd, malformed_zstd_rejected);
    suite_add_tcase(s, zstd);
    TCase *bad = tcase_create("malformed");
    tcase_add_loop_test(bad, malformed_headers_rejected, 0, (int)TU_ARRAY_LEN(bad_headers));
    tcase_add_test(bad, malformed_preambles_rejected);
    suite_add_tcase(s, bad);
    return s;
}

TU_CHECK_MAIN(ndarray_suite)
