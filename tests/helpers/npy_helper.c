/*
 * Test helper for the numpy cross-checks (tests/python/test_ndarray_numpy.py).
 *
 *   npy_helper encode --dtype NAME --byte-order little|big --order C|F --shape D0,D1,...
 *                     [--view contiguous|strided|reversed] [--zstd LEVEL] [--format N] RAW OUT
 *       RAW holds the elements in C order and native byte order (numpy's
 *       arr.tofile()). Builds a libteeu array with the requested byte order
 *       and memory layout (strided: every other element on each axis;
 *       reversed: axis 0 walked backwards with a negative stride), encodes
 *       it and writes OUT.
 *   npy_helper decode IN RAW_OUT
 *       Decodes IN, prints one JSON line (dtype, byte_order, shape,
 *       fortran, owns_data) and writes the elements to RAW_OUT in C order
 *       and native byte order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_internal.h"
#include "ndarray/ndarray_internal.h"
#include <teeu/ndarray.h>

static int die(const char *what, teeu_status st)
{
    fprintf(stderr, "npy_helper: %s: %s: %s\n", what, teeu_status_str(st), teeu_last_error());
    return 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: npy_helper encode --dtype NAME --byte-order little|big --order C|F --shape D,...\n"
                    "                         [--view contiguous|strided|reversed] [--zstd L] [--format N] RAW OUT\n"
                    "       npy_helper decode IN RAW_OUT\n");
    return 2;
}

static teeu_dtype dtype_by_name(const char *name)
{
    for (int d = TEEU_DTYPE_BOOL; d <= TEEU_DTYPE_COMPLEX128; d++)
        if (strcmp(teeu_dtype_name((teeu_dtype)d), name) == 0)
            return (teeu_dtype)d;
    return (teeu_dtype)0;
}

/* Copies one element, reversing each swap unit when asked. */
static void put_element(uint8_t *dst, const uint8_t *src, size_t isz, size_t unit, bool swap)
{
    for (size_t j = 0; j < isz; j++)
        dst[j] = swap ? src[(j / unit) * unit + (unit - 1 - j % unit)] : src[j];
}

/* Byte offset of C-order element `linear` from element 0, through shape and strides. */
static ptrdiff_t offset_of(size_t ndim, const size_t *shape, const ptrdiff_t *strides, size_t linear)
{
    ptrdiff_t off = 0;
    for (size_t k = ndim; k-- > 0;) {
        off += (ptrdiff_t)(linear % shape[k]) * strides[k];
        linear /= shape[k];
    }
    return off;
}

static int parse_shape(const char *s, size_t *shape, size_t *ndim)
{
    *ndim = 0;
    if (*s == '\0')
        return 0; /* 0-d */
    while (*s) {
        char *end;
        if (*ndim == TEEU_NDARRAY_MAX_DIMS)
            return -1;
        shape[(*ndim)++] = strtoull(s, &end, 10);
        if (end == s || (*end != ',' && *end != '\0'))
            return -1;
        s = *end ? end + 1 : end;
    }
    return 0;
}

static int cmd_encode(int argc, char **argv)
{
    const char *dtype_s = NULL, *order_s = "C", *bo_s = "little", *shape_s = NULL, *view_s = "contiguous";
    const char *files[2];
    int nfiles = 0;
    teeu_npy_encode_options eo;
    teeu_npy_encode_options_init(&eo);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strncmp(a, "--", 2) == 0 && v == NULL)
            return usage();
        if (strcmp(a, "--dtype") == 0)
            dtype_s = argv[++i];
        else if (strcmp(a, "--byte-order") == 0)
            bo_s = argv[++i];
        else if (strcmp(a, "--order") == 0)
            order_s = argv[++i];
        else if (strcmp(a, "--shape") == 0)
            shape_s = argv[++i];
        else if (strcmp(a, "--view") == 0)
            view_s = argv[++i];
        else if (strcmp(a, "--zstd") == 0) {
            eo.flags |= TEEU_NPY_ZSTD;
            eo.zstd_level = atoi(argv[++i]);
        } else if (strcmp(a, "--format") == 0)
            eo.format_major = (unsigned)atoi(argv[++i]);
        else if (nfiles < 2)
            files[nfiles++] = a;
        else
            return usage();
    }
    teeu_dtype dtype = dtype_s ? dtype_by_name(dtype_s) : (teeu_dtype)0;
    size_t shape[TEEU_NDARRAY_MAX_DIMS], ndim;
    if (dtype == 0 || shape_s == NULL || nfiles != 2 || parse_shape(shape_s, shape, &ndim) != 0)
        return usage();
    teeu_byte_order bo = strcmp(bo_s, "big") == 0 ? TEEU_BYTE_ORDER_BIG : TEEU_BYTE_ORDER_LITTLE;
    bool fortran = strcmp(order_s, "F") == 0;

    uint8_t *raw = NULL;
    size_t raw_len = 0;
    teeu_status st = tu_read_file(files[0], (size_t)1 << 34, &raw, &raw_len);
    if (st != TEEU_OK)
        return die(files[0], st);

    /* A contiguous array of the right layout gives the strides to start from. */
    teeu_ndarray_desc d;
    teeu_ndarray_desc_init(&d, dtype);
    d.byte_order = bo;
    d.ndim = ndim;
    d.shape = shape;
    d.layout = fortran ? TEEU_LAYOUT_FORTRAN : TEEU_LAYOUT_C;
    teeu_ndarray *base = NULL;
    if ((st = teeu_ndarray_new(&d, &base)) != TEEU_OK)
        return die("allocating", st);
    size_t isz = teeu_dtype_size(dtype), count = teeu_ndarray_size(base), nbytes = teeu_ndarray_nbytes(base);
    if (raw_len != nbytes) {
        fprintf(stderr, "npy_helper: %s has %zu bytes, the shape needs %zu\n", files[0], raw_len, nbytes);
        return 1;
    }
    ptrdiff_t strides[TEEU_NDARRAY_MAX_DIMS];
    for (size_t k = 0; k < ndim; k++)
        strides[k] = teeu_ndarray_strides(base)[k];
    size_t buf_len = nbytes, offset = 0;
    if (strcmp(view_s, "strided") == 0) {
        for (size_t k = 0; k < ndim; k++)
            strides[k] *= 2;
        buf_len = 2 * nbytes;
    } else if (strcmp(view_s, "reversed") == 0 && ndim > 0 && shape[0] > 0) {
        offset = (size_t)strides[0] * (shape[0] - 1);
        strides[0] = -strides[0];
    } else if (strcmp(view_s, "contiguous") != 0 && strcmp(view_s, "reversed") != 0) {
        return usage();
    }
    teeu_ndarray_free(base);
    uint8_t *buf = calloc(1, buf_len ? buf_len : 1);
    if (buf == NULL)
        return die("allocating", TEEU_ERR_NOMEM);
    size_t unit = tu_dtype_swap_unit(dtype);
    bool swap = isz > 1 && bo != tu_native_byte_order();
    for (size_t e = 0; e < count; e++)
        put_element(buf + offset + offset_of(ndim, shape, strides, e), raw + e * isz, isz, unit, swap);
    d.strides = strides;
    d.offset = offset;
    teeu_ndarray *arr = NULL;
    if ((st = teeu_ndarray_view_desc(&d, buf, buf_len, &arr)) != TEEU_OK)
        return die("making the view", st);
    uint8_t *out = NULL;
    size_t out_len = 0;
    if ((st = teeu_ndarray_encode_alloc(arr, &eo, &out, &out_len)) != TEEU_OK)
        return die("encoding", st);
    if ((st = tu_write_file_atomic(files[1], out, out_len, 0644)) != TEEU_OK)
        return die(files[1], st);
    teeu_free(out);
    teeu_ndarray_free(arr);
    free(buf);
    free(raw);
    return 0;
}

static int cmd_decode(int argc, char **argv)
{
    if (argc != 4)
        return usage();
    uint8_t *bytes = NULL;
    size_t len = 0;
    teeu_status st = tu_read_file(argv[2], (size_t)1 << 34, &bytes, &len);
    if (st != TEEU_OK)
        return die(argv[2], st);
    teeu_ndarray *arr = NULL;
    if ((st = teeu_ndarray_decode(bytes, len, NULL, &arr)) != TEEU_OK)
        return die(argv[2], st);
    teeu_dtype dtype = teeu_ndarray_dtype(arr);
    size_t ndim = teeu_ndarray_ndim(arr), isz = teeu_dtype_size(dtype), count = teeu_ndarray_size(arr);
    printf("{\"dtype\": \"%s\", \"byte_order\": \"%s\", \"shape\": [", teeu_dtype_name(dtype),
           teeu_ndarray_byte_order(arr) == TEEU_BYTE_ORDER_BIG ? "big" : "little");
    for (size_t k = 0; k < ndim; k++)
        printf(k ? ", %zu" : "%zu", teeu_ndarray_shape(arr)[k]);
    printf("], \"fortran\": %s, \"owns_data\": %s}\n",
           teeu_ndarray_is_f_contiguous(arr) && !teeu_ndarray_is_c_contiguous(arr) ? "true" : "false",
           teeu_ndarray_owns_data(arr) ? "true" : "false");
    uint8_t *raw = malloc(count > 0 ? count * isz : 1);
    if (raw == NULL)
        return die("allocating", TEEU_ERR_NOMEM);
    const uint8_t *data = teeu_ndarray_data(arr);
    size_t unit = tu_dtype_swap_unit(dtype);
    bool swap = isz > 1 && teeu_ndarray_byte_order(arr) != tu_native_byte_order();
    for (size_t e = 0; e < count; e++)
        put_element(raw + e * isz, data + offset_of(ndim, teeu_ndarray_shape(arr), teeu_ndarray_strides(arr), e), isz,
                    unit, swap);
    if ((st = tu_write_file_atomic(argv[3], raw, count * isz, 0644)) != TEEU_OK)
        return die(argv[3], st);
    free(raw);
    teeu_ndarray_free(arr);
    free(bytes);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "encode") == 0)
        return cmd_encode(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "decode") == 0)
        return cmd_decode(argc, argv);
    return usage();
}
