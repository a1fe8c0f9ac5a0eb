/* The array object: dtypes, views over caller memory, owned arrays, layout queries, data gathering. */
#include <stdlib.h>
#include <string.h>

#include "core/core_internal.h"
#include "ndarray_internal.h"

/* Per-dtype facts, indexed by teeu_dtype. */
typedef struct dtype_info {
    const char *name; /* numpy's name */
    const char *code; /* descr without the byte-order character */
    size_t size;
    size_t swap_unit;
} dtype_info;

static const dtype_info dtype_table[] = {
    [TEEU_DTYPE_BOOL] = {"bool", "b1", 1, 1},
    [TEEU_DTYPE_INT8] = {"int8", "i1", 1, 1},
    [TEEU_DTYPE_INT16] = {"int16", "i2", 2, 2},
    [TEEU_DTYPE_INT32] = {"int32", "i4", 4, 4},
    [TEEU_DTYPE_INT64] = {"int64", "i8", 8, 8},
    [TEEU_DTYPE_UINT8] = {"uint8", "u1", 1, 1},
    [TEEU_DTYPE_UINT16] = {"uint16", "u2", 2, 2},
    [TEEU_DTYPE_UINT32] = {"uint32", "u4", 4, 4},
    [TEEU_DTYPE_UINT64] = {"uint64", "u8", 8, 8},
    [TEEU_DTYPE_FLOAT16] = {"float16", "f2", 2, 2},
    [TEEU_DTYPE_FLOAT32] = {"float32", "f4", 4, 4},
    [TEEU_DTYPE_FLOAT64] = {"float64", "f8", 8, 8},
    [TEEU_DTYPE_COMPLEX64] = {"complex64", "c8", 8, 4},
    [TEEU_DTYPE_COMPLEX128] = {"complex128", "c16", 16, 8},
};

static const dtype_info *dtype_lookup(teeu_dtype dtype)
{
    if ((int)dtype < TEEU_DTYPE_BOOL || (int)dtype > TEEU_DTYPE_COMPLEX128)
        return NULL;
    return &dtype_table[dtype];
}

size_t teeu_dtype_size(teeu_dtype dtype)
{
    const dtype_info *d = dtype_lookup(dtype);
    return d ? d->size : 0;
}

const char *teeu_dtype_name(teeu_dtype dtype)
{
    const dtype_info *d = dtype_lookup(dtype);
    return d ? d->name : "unknown";
}

const char *tu_dtype_code(teeu_dtype dtype)
{
    const dtype_info *d = dtype_lookup(dtype);
    return d ? d->code : NULL;
}

size_t tu_dtype_swap_unit(teeu_dtype dtype)
{
    const dtype_info *d = dtype_lookup(dtype);
    return d ? d->swap_unit : 0;
}

teeu_byte_order tu_native_byte_order(void)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return TEEU_BYTE_ORDER_BIG;
#else
    return TEEU_BYTE_ORDER_LITTLE;
#endif
}

void teeu_ndarray_desc_init(teeu_ndarray_desc *desc, teeu_dtype dtype)
{
    if (desc == NULL)
        return;
    memset(desc, 0, sizeof *desc);
    desc->dtype = dtype;
    desc->byte_order = TEEU_BYTE_ORDER_NATIVE;
    desc->layout = TEEU_LAYOUT_C;
}

/* ---- construction ------------------------------------------------------- */

/* Checks the parts of a description shared by views and owned arrays. */
static teeu_status check_desc(const teeu_ndarray_desc *desc)
{
    if (dtype_lookup(desc->dtype) == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "ndarray: unknown dtype %d", (int)desc->dtype);
    if ((int)desc->byte_order < TEEU_BYTE_ORDER_NATIVE || (int)desc->byte_order > TEEU_BYTE_ORDER_BIG)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "ndarray: unknown byte order %d",
                        (int)desc->byte_order);
    if (desc->layout != TEEU_LAYOUT_C && desc->layout != TEEU_LAYOUT_FORTRAN)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "ndarray: unknown layout %d", (int)desc->layout);
    if (desc->ndim > TEEU_NDARRAY_MAX_DIMS)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "ndarray: %zu dimensions, at most %d are supported",
                        desc->ndim, TEEU_NDARRAY_MAX_DIMS);
    if (desc->ndim > 0 && desc->shape == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "ndarray: shape is NULL but ndim is %zu", desc->ndim);
    return TEEU_OK;
}

/*
 * Fills shape, size and contiguous strides. A zero-length axis counts as 1
 * for strides, so every stride (and the byte size) fits in ptrdiff_t even
 * for empty arrays; larger shapes are refused.
 */
static teeu_status set_contiguous(teeu_ndarray *arr, const size_t *shape, teeu_layout layout)
{
    size_t size = 1, span = arr->itemsize;
    for (size_t k = 0; k < arr->ndim; k++) {
        size_t i = layout == TEEU_LAYOUT_C ? arr->ndim - 1 - k : k;
        arr->shape[i] = shape[i];
        arr->strides[i] = (ptrdiff_t)span;
        size_t dim = shape[i] ? shape[i] : 1;
        if (tu_mul_overflows(span, dim, &span) || span > (size_t)PTRDIFF_MAX)
            return tu_error(TEEU_ERR_NPY_SIZE_OVERFLOW,
                            "ndarray: shape too large: its byte size overflows (axis %zu has %zu elements)",
                            i, shape[i]);
        size *= shape[i]; /* cannot overflow: bounded by span */
    }
    arr->size = size;
    return TEEU_OK;
}

static teeu_ndarray *array_alloc(const teeu_ndarray_desc *desc)
{
    teeu_ndarray *arr = calloc(1, sizeof *arr);
    if (arr == NULL)
        return NULL;
    arr->dtype = desc->dtype;
    arr->byte_order = desc->byte_order == TEEU_BYTE_ORDER_NATIVE ? tu_native_byte_order() : desc->byte_order;
    arr->itemsize = teeu_dtype_size(desc->dtype);
    arr->ndim = desc->ndim;
    return arr;
}

/*
 * Checks that every byte of every element lies in [0, data_len) relative
 * to the data pointer, element 0 being at offset. Works in int64 with
 * overflow checks, since strides and shapes are caller-controlled.
 */
static teeu_status check_extent(const teeu_ndarray *arr, size_t offset, size_t data_len)
{
    if (arr->size == 0)
        return TEEU_OK;
    if (offset > (size_t)INT64_MAX)
        return tu_error(TEEU_ERR_NPY_LAYOUT, "ndarray view: offset %zu is too large", offset);
    int64_t lo = (int64_t)offset, hi = (int64_t)offset;
    for (size_t i = 0; i < arr->ndim; i++) {
        int64_t reach;
        if (__builtin_mul_overflow((int64_t)arr->strides[i], (int64_t)(arr->shape[i] - 1), &reach))
            return tu_error(TEEU_ERR_NPY_LAYOUT, "ndarray view: stride %td times axis %zu length overflows",
                            arr->strides[i], i);
        int64_t *end = reach < 0 ? &lo : &hi;
        if (__builtin_add_overflow(*end, reach, end))
            return tu_error(TEEU_ERR_NPY_LAYOUT, "ndarray view: strides reach beyond the address space");
    }
    if (lo < 0)
        return tu_error(TEEU_ERR_NPY_LAYOUT,
                        "ndarray view: negative strides reach %lld bytes before the data pointer; "
                        "set desc.offset to element 0's position",
                        (long long)-lo);
    if ((uint64_t)hi > (uint64_t)data_len || data_len - (size_t)hi < arr->itemsize)
        return tu_error(TEEU_ERR_NPY_LAYOUT,
                        "ndarray view: elements reach byte %lld but only %zu bytes of data were given",
                        (long long)hi + (long long)arr->itemsize, data_len);
    return TEEU_OK;
}

/* Builds a view; exact_len also requires data_len to be the contiguous byte size (teeu_ndarray_view). */
static teeu_status make_view(const teeu_ndarray_desc *desc, const void *data, size_t data_len, bool exact_len,
                             teeu_ndarray **out)
{
    teeu_status st = check_desc(desc);
    if (st != TEEU_OK)
        return st;
    teeu_ndarray *arr = array_alloc(desc);
    if (arr == NULL)
        return tu_error(TEEU_ERR_NOMEM, "ndarray view: out of memory");
    /* Contiguous strides also validate the shape's size. */
    st = set_contiguous(arr, desc->shape, desc->layout);
    if (st == TEEU_OK && desc->strides != NULL)
        memcpy(arr->strides, desc->strides, desc->ndim * sizeof *arr->strides);
    if (st == TEEU_OK && exact_len && arr->size * arr->itemsize != data_len)
        st = tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_ndarray_view: data_len is %zu bytes but shape x %s needs %zu",
                      data_len, teeu_dtype_name(desc->dtype), arr->size * arr->itemsize);
    if (st == TEEU_OK && data == NULL && arr->size > 0)
        st = tu_error(TEEU_ERR_INVALID_ARGUMENT, "ndarray view: data is NULL but the array has %zu elements",
                      arr->size);
    if (st == TEEU_OK)
        st = check_extent(arr, desc->offset, data_len);
    if (st != TEEU_OK) {
        free(arr);
        return st;
    }
    arr->data = data != NULL ? (uint8_t *)data + (arr->size > 0 ? desc->offset : 0) : NULL;
    *out = arr;
    return TEEU_OK;
}

teeu_status teeu_ndarray_view_desc(const teeu_ndarray_desc *desc, const void *data, size_t data_len,
                                   teeu_ndarray **out)
{
    if (out == NULL || desc == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_ndarray_view_desc: desc and out must not be NULL");
    *out = NULL;
    return make_view(desc, data, data_len, false, out);
}

teeu_status teeu_ndarray_view(teeu_dtype dtype, size_t ndim, const size_t *shape, const void *data,
                              size_t data_len, teeu_ndarray **out)
{
    if (out == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_ndarray_view: out must not be NULL");
    *out = NULL;
    teeu_ndarray_desc desc;
    teeu_ndarray_desc_init(&desc, dtype);
    desc.ndim = ndim;
    desc.shape = shape;
    return make_view(&desc, data, data_len, true, out);
}

teeu_status teeu_ndarray_new(const teeu_ndarray_desc *desc, teeu_ndarray **out)
{
    if (out == NULL || desc == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_ndarray_new: desc and out must not be NULL");
    *out = NULL;
    teeu_status st = check_desc(desc);
    if (st != TEEU_OK)
        return st;
    if (desc->strides != NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT,
                        "teeu_ndarray_new: strides must be NULL (new arrays are contiguous; use layout)");
    teeu_ndarray *arr = array_alloc(desc);
    if (arr == NULL)
        return tu_error(TEEU_ERR_NOMEM, "ndarray: out of memory");
    st = set_contiguous(arr, desc->shape, desc->layout);
    if (st != TEEU_OK) {
        free(arr);
        return st;
    }
    size_t nbytes = arr->size * arr->itemsize;
    /* calloc: zero-filled as documented, and lazily mapped for big arrays. */
    arr->owned = calloc(1, nbytes ? nbytes : 1);
    if (arr->owned == NULL) {
        free(arr);
        return tu_error(TEEU_ERR_NOMEM, "ndarray: cannot allocate %zu bytes of array data", nbytes);
    }
    arr->data = arr->owned;
    *out = arr;
    return TEEU_OK;
}

void teeu_ndarray_free(teeu_ndarray *arr)
{
    if (arr == NULL)
        return;
    free(arr->owned);
    free(arr);
}

/* ---- accessors ------------------------------------------------------------ */

teeu_dtype teeu_ndarray_dtype(const teeu_ndarray *arr)
{
    return arr ? arr->dtype : (teeu_dtype)0;
}

teeu_byte_order teeu_ndarray_byte_order(const teeu_ndarray *arr)
{
    return arr ? arr->byte_order : tu_native_byte_order();
}

size_t teeu_ndarray_ndim(const teeu_ndarray *arr)
{
    return arr ? arr->ndim : 0;
}

const size_t *teeu_ndarray_shape(const teeu_ndarray *arr)
{
    return arr && arr->ndim > 0 ? arr->shape : NULL;
}

const ptrdiff_t *teeu_ndarray_strides(const teeu_ndarray *arr)
{
    return arr && arr->ndim > 0 ? arr->strides : NULL;
}

size_t teeu_ndarray_size(const teeu_ndarray *arr)
{
    return arr ? arr->size : 0;
}

size_t teeu_ndarray_nbytes(const teeu_ndarray *arr)
{
    /* Cannot overflow: construction bounded size * itemsize. */
    return arr ? arr->size * arr->itemsize : 0;
}

/* numpy's rule: axes of length 1 may have any stride; empty arrays are contiguous. */
static int is_contiguous(const teeu_ndarray *arr, teeu_layout layout)
{
    if (arr == NULL)
        return 0;
    if (arr->size == 0)
        return 1;
    size_t expect = arr->itemsize;
    for (size_t k = 0; k < arr->ndim; k++) {
        size_t i = layout == TEEU_LAYOUT_C ? arr->ndim - 1 - k : k;
        if (arr->shape[i] == 1)
            continue;
        if (arr->strides[i] != (ptrdiff_t)expect)
            return 0;
        expect *= arr->shape[i];
    }
    return 1;
}

int teeu_ndarray_is_c_contiguous(const teeu_ndarray *arr)
{
    return is_contiguous(arr, TEEU_LAYOUT_C);
}

int teeu_ndarray_is_f_contiguous(const teeu_ndarray *arr)
{
    return is_contiguous(arr, TEEU_LAYOUT_FORTRAN);
}

void *teeu_ndarray_data(const teeu_ndarray *arr)
{
    return arr ? arr->data : NULL;
}

int teeu_ndarray_owns_data(const teeu_ndarray *arr)
{
    return arr && arr->owned != NULL;
}

teeu_status tu_ndarray_new_from_info(const teeu_npy_info *info, teeu_ndarray **out)
{
    if (info == NULL || out == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "tu_ndarray_new_from_info: NULL argument");
    teeu_ndarray_desc desc;
    teeu_ndarray_desc_init(&desc, info->dtype);
    desc.byte_order = info->byte_order;
    desc.ndim = info->ndim;
    desc.shape = info->shape;
    desc.layout = info->fortran_order ? TEEU_LAYOUT_FORTRAN : TEEU_LAYOUT_C;
    return teeu_ndarray_new(&desc, out);
}

/* ---- copying the data section ----------------------------------------------- */

/* Copies count units of unit bytes, reversing the bytes of each. */
static void swap_units(uint8_t *dst, const uint8_t *src, size_t count, size_t unit)
{
    switch (unit) {
    case 2:
        for (size_t i = 0; i < count; i++) {
            uint16_t v;
            memcpy(&v, src + 2 * i, 2);
            v = __builtin_bswap16(v);
            memcpy(dst + 2 * i, &v, 2);
        }
        break;
    case 4:
        for (size_t i = 0; i < count; i++) {
            uint32_t v;
            memcpy(&v, src + 4 * i, 4);
            v = __builtin_bswap32(v);
            memcpy(dst + 4 * i, &v, 4);
        }
        break;
    case 8:
        for (size_t i = 0; i < count; i++) {
            uint64_t v;
            memcpy(&v, src + 8 * i, 8);
            v = __builtin_bswap64(v);
            memcpy(dst + 8 * i, &v, 8);
        }
        break;
    default:
        memcpy(dst, src, count * unit);
        break;
    }
}

/* One pass over a contiguous range, swapping units; handles a range starting or ending inside a unit. */
static void copy_contiguous_swapped(const uint8_t *base, size_t offset, uint8_t *dst, size_t n, size_t unit)
{
    uint8_t tmp[8];
    size_t head = offset % unit;
    if (head != 0 && n > 0) {
        swap_units(tmp, base + offset - head, 1, unit);
        size_t take = unit - head < n ? unit - head : n;
        memcpy(dst, tmp + head, take);
        dst += take;
        offset += take;
        n -= take;
    }
    size_t full = n / unit;
    swap_units(dst, base + offset, full, unit);
    dst += full * unit;
    offset += full * unit;
    n -= full * unit;
    if (n > 0) {
        swap_units(tmp, base + offset, 1, unit);
        memcpy(dst, tmp, n);
    }
}

/* Gathers a strided view in C order, element by element. */
static void copy_strided(const tu_npy_plan *plan, size_t offset, uint8_t *dst, size_t n)
{
    const teeu_ndarray *arr = plan->arr;
    const size_t isz = arr->itemsize, unit = tu_dtype_swap_unit(arr->dtype);
    size_t elem = offset / isz, skip = offset % isz;
    size_t idx[TEEU_NDARRAY_MAX_DIMS];
    ptrdiff_t pos = 0; /* byte offset of the current element from element 0 */
    for (size_t k = arr->ndim; k-- > 0;) {
        idx[k] = elem % arr->shape[k];
        elem /= arr->shape[k];
        pos += (ptrdiff_t)idx[k] * arr->strides[k];
    }
    uint8_t tmp[16];
    while (n > 0) {
        const uint8_t *src = arr->data + pos;
        uint8_t *to = (skip == 0 && n >= isz) ? dst : tmp;
        if (plan->swap)
            swap_units(to, src, isz / unit, unit);
        else
            memcpy(to, src, isz);
        size_t take = isz - skip < n ? isz - skip : n;
        if (to == tmp)
            memcpy(dst, tmp + skip, take);
        dst += take;
        n -= take;
        skip = 0;
        /* Next index in C order (odometer); offsets only, never out-of-range pointers. */
        for (size_t k = arr->ndim; k-- > 0;) {
            pos += arr->strides[k];
            if (++idx[k] < arr->shape[k])
                break;
            pos -= (ptrdiff_t)arr->shape[k] * arr->strides[k];
            idx[k] = 0;
        }
    }
}

const uint8_t *tu_npy_data_span(const tu_npy_plan *plan, size_t offset)
{
    return plan->zero_copy && offset <= plan->data_len ? plan->arr->data + offset : NULL;
}

void tu_npy_data_copy(const tu_npy_plan *plan, size_t offset, void *dst, size_t n)
{
    if (n == 0)
        return;
    const teeu_ndarray *arr = plan->arr;
    if (!plan->contiguous)
        copy_strided(plan, offset, dst, n);
    else if (plan->swap)
        copy_contiguous_swapped(arr->data, offset, dst, n, tu_dtype_swap_unit(arr->dtype));
    else
        memcpy(dst, arr->data + offset, n);
}
