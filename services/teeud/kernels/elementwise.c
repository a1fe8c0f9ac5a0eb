/*
 * Element-wise binary ufuncs with broadcasting: add, subtract, multiply,
 * divide (true division). The result dtype follows numpy 1.24's type
 * resolution, including its value-based casting of 0-d operands mixed
 * with n-d ones (np.ones(2, np.int8) + np.array(5) stays int8).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_internal.h"

typedef enum tk_binop { TK_ADD, TK_SUB, TK_MUL, TK_DIV } tk_binop;

static const char *const tk_binop_name[] = {"add", "subtract", "multiply", "divide"};

/* ---- numpy 1.24 value-based casting of 0-d operands ----------------------------- */

static int kind_category(teeu_dtype dt)
{
    switch (tk_dtype_kind(dt)) {
    case TK_BOOL: return 0;
    case TK_INT: case TK_UINT: return 1;
    default: return 2; /* numpy ranks float and complex alike here */
    }
}

/* Smallest unsigned dtype holding v; *small if v also fits the same-size signed type. */
static teeu_dtype min_uint_type(uint64_t v, bool *small)
{
    if (v <= UINT8_MAX) { *small = v <= INT8_MAX; return TEEU_DTYPE_UINT8; }
    if (v <= UINT16_MAX) { *small = v <= INT16_MAX; return TEEU_DTYPE_UINT16; }
    if (v <= UINT32_MAX) { *small = v <= INT32_MAX; return TEEU_DTYPE_UINT32; }
    *small = v <= INT64_MAX;
    return TEEU_DTYPE_UINT64;
}

static teeu_dtype min_int_type(int64_t v, bool *small)
{
    if (v >= 0)
        return min_uint_type((uint64_t)v, small);
    *small = false;
    if (v >= INT8_MIN) return TEEU_DTYPE_INT8;
    if (v >= INT16_MIN) return TEEU_DTYPE_INT16;
    if (v >= INT32_MIN) return TEEU_DTYPE_INT32;
    return TEEU_DTYPE_INT64;
}

static teeu_dtype min_float_type(double v, teeu_dtype dt)
{
    if (dt == TEEU_DTYPE_FLOAT16 || (v > -65000.0 && v < 65000.0) || !isfinite(v))
        return TEEU_DTYPE_FLOAT16;
    if (dt == TEEU_DTYPE_FLOAT32 || (v > -3.4e38 && v < 3.4e38))
        return TEEU_DTYPE_FLOAT32;
    return TEEU_DTYPE_FLOAT64;
}

/* numpy's np.min_scalar_type for the single element of a 0-d view. */
static teeu_dtype min_scalar_type(const tk_view *v, bool *small)
{
    const tk_part *p = &v->parts[0];
    *small = false;
    switch (tk_dtype_kind(v->dtype)) {
    case TK_BOOL:
        return TEEU_DTYPE_BOOL;
    case TK_INT: {
        int64_t x;
        tk_load_i64(&x, p->data, 0, 1, p->dtype, p->swap);
        return min_int_type(x, small);
    }
    case TK_UINT: {
        uint64_t x;
        tk_load_u64(&x, p->data, 0, 1, p->dtype, p->swap);
        return min_uint_type(x, small);
    }
    case TK_FLOAT: {
        double x;
        tk_load_f64(&x, p->data, 0, 1, p->dtype, p->swap);
        return min_float_type(x, v->dtype);
    }
    default: {
        tk_c128 x;
        tk_load_c128(&x, p->data, 0, 1, p->dtype, p->swap);
        if (v->dtype == TEEU_DTYPE_COMPLEX64 ||
            (x.re > -3.4e38 && x.re < 3.4e38 && x.im > -3.4e38 && x.im < 3.4e38))
            return TEEU_DTYPE_COMPLEX64;
        return TEEU_DTYPE_COMPLEX128;
    }
    }
}

static teeu_dtype to_signed(teeu_dtype u)
{
    switch (u) {
    case TEEU_DTYPE_UINT8: return TEEU_DTYPE_INT8;
    case TEEU_DTYPE_UINT16: return TEEU_DTYPE_INT16;
    case TEEU_DTYPE_UINT32: return TEEU_DTYPE_INT32;
    case TEEU_DTYPE_UINT64: return TEEU_DTYPE_INT64;
    default: return u;
    }
}

/* np.result_type(a, b) for one 0-d operand s and one n-d operand arr. */
static teeu_dtype result_type_scalar(const tk_view *s, teeu_dtype arr)
{
    if (kind_category(s->dtype) > kind_category(arr))
        return tk_promote(s->dtype, arr);
    bool small;
    teeu_dtype st = min_scalar_type(s, &small);
    tk_kind ak = tk_dtype_kind(arr);
    if (small && ak != TK_BOOL && ak != TK_UINT)
        st = to_signed(st);
    return tk_promote(st, arr);
}

static teeu_dtype binop_result_type(const tk_view *a, const tk_view *b)
{
    if ((a->ndim == 0) == (b->ndim == 0))
        return tk_promote(a->dtype, b->dtype);
    return a->ndim == 0 ? result_type_scalar(a, b->dtype) : result_type_scalar(b, a->dtype);
}

/* ---- broadcasting ---------------------------------------------------------------- */

static teeu_status broadcast_shape(const tk_view *a, const tk_view *b, size_t *nd, size_t *shape)
{
    *nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (size_t i = 0; i < *nd; i++) {
        size_t da = i < *nd - a->ndim ? 1 : a->shape[i - (*nd - a->ndim)];
        size_t db = i < *nd - b->ndim ? 1 : b->shape[i - (*nd - b->ndim)];
        if (da != db && da != 1 && db != 1) {
            char sa[256], sb[256];
            tk_shape_str(a->shape, a->ndim, sa, sizeof(sa));
            tk_shape_str(b->shape, b->ndim, sb, sizeof(sb));
            return tu_error(TEEU_ERR_INVALID_ARGUMENT,
                            "operands could not be broadcast together with shapes %s %s", sa, sb);
        }
        shape[i] = da == 1 ? db : da;
    }
    return TEEU_OK;
}

/* Reshapes a single-part view to (nd, shape) with zero strides on broadcast axes. */
void tk_view_broadcast(tk_view *v, size_t nd, const size_t *shape)
{
    tk_part *p = &v->one_part;
    ptrdiff_t strides[TK_MAX_DIMS];
    size_t lead = nd - v->ndim;
    size_t size = 1;
    for (size_t i = 0; i < nd; i++) {
        if (i < lead || v->shape[i - lead] != shape[i])
            strides[i] = 0;
        else
            strides[i] = p->strides[i - lead];
        size *= shape[i];
    }
    memcpy(p->strides, strides, nd * sizeof(ptrdiff_t));
    memcpy(v->shape, shape, nd * sizeof(size_t));
    v->ndim = nd;
    v->size = size;
    v->parts = p;
}

/* ---- arithmetic ----------------------------------------------------------------------- */

static void op_u64(tk_binop op, bool is_bool, uint64_t *x, const uint64_t *y, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (op) {
        case TK_ADD: x[i] = is_bool ? (x[i] | y[i]) : x[i] + y[i]; break;
        case TK_SUB: x[i] = x[i] - y[i]; break;
        default: x[i] = is_bool ? (x[i] & y[i]) : x[i] * y[i]; break;
        }
    }
}

static void op_f64(tk_binop op, double *x, const double *y, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (op) {
        case TK_ADD: x[i] += y[i]; break;
        case TK_SUB: x[i] -= y[i]; break;
        case TK_MUL: x[i] *= y[i]; break;
        case TK_DIV: x[i] /= y[i]; break;
        }
    }
}

static void op_c128(tk_binop op, tk_c128 *x, const tk_c128 *y, size_t n, teeu_dtype rt)
{
    for (size_t i = 0; i < n; i++) {
        tk_c128 a = x[i], b = y[i];
        switch (op) {
        case TK_ADD: x[i] = (tk_c128){a.re + b.re, a.im + b.im}; break;
        case TK_SUB: x[i] = (tk_c128){a.re - b.re, a.im - b.im}; break;
        case TK_MUL:
            if (rt == TEEU_DTYPE_COMPLEX64) { /* float arithmetic, rounded per step as numpy's */
                float ar = (float)a.re, ai = (float)a.im, br = (float)b.re, bi = (float)b.im;
                float pr1 = ar * br, pr2 = ai * bi, pi1 = ar * bi, pi2 = ai * br;
                x[i] = (tk_c128){pr1 - pr2, pi1 + pi2};
            } else {
                x[i] = (tk_c128){a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re};
            }
            break;
        case TK_DIV: x[i] = tk_c_div_dt(a, b, rt); break;
        }
    }
}

static teeu_status binop(tk_binop op, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out)
{
    if (n != 2)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "%s takes 2 inputs, got %zu", tk_binop_name[op], n);
    tk_view a, b;
    teeu_status st = tk_view_of(in[0], &a);
    if (st == TEEU_OK)
        st = tk_view_of(in[1], &b);
    if (st != TEEU_OK)
        return st;
    teeu_dtype rt = binop_result_type(&a, &b);
    tk_kind k = tk_dtype_kind(rt);
    if (op == TK_SUB && k == TK_BOOL)
        return tu_error(TEEU_ERR_UNSUPPORTED,
                        "numpy boolean subtract, the `-` operator, is not supported, use the "
                        "bitwise_xor, the `^` operator, or the logical_xor function instead.");
    if (op == TK_DIV && k != TK_FLOAT && k != TK_COMPLEX) {
        rt = TEEU_DTYPE_FLOAT64;
        k = TK_FLOAT;
    }
    size_t nd, shape[TK_MAX_DIMS];
    st = broadcast_shape(&a, &b, &nd, shape);
    if (st != TEEU_OK)
        return st;
    tk_view_broadcast(&a, nd, shape);
    tk_view_broadcast(&b, nd, shape);
    st = tk_new_array(rt, nd, shape, out);
    if (st != TEEU_OK)
        return st;
    uint8_t *dst = teeu_ndarray_data(*out);
    size_t es = teeu_dtype_size(rt);
    union {
        double f[TK_CHUNK];
        uint64_t u[TK_CHUNK];
        tk_c128 c[TK_CHUNK];
    } x, y;
    tk_chunks ca, cb;
    tk_chunks_init(&ca, &a);
    tk_chunks_init(&cb, &b);
    while (tk_chunks_next(&ca) && tk_chunks_next(&cb)) {
        size_t cnt = ca.count;
        if (k == TK_COMPLEX) {
            tk_load_c128(x.c, ca.ptr, ca.stride, cnt, ca.dtype, ca.swap);
            tk_load_c128(y.c, cb.ptr, cb.stride, cnt, cb.dtype, cb.swap);
            op_c128(op, x.c, y.c, cnt, rt);
            tk_store_c128(dst, (ptrdiff_t)es, x.c, cnt, rt);
        } else if (k == TK_FLOAT) {
            tk_load_f64(x.f, ca.ptr, ca.stride, cnt, ca.dtype, ca.swap);
            tk_load_f64(y.f, cb.ptr, cb.stride, cnt, cb.dtype, cb.swap);
            op_f64(op, x.f, y.f, cnt);
            tk_store_f64(dst, (ptrdiff_t)es, x.f, cnt, rt);
        } else {
            tk_load_u64(x.u, ca.ptr, ca.stride, cnt, ca.dtype, ca.swap);
            tk_load_u64(y.u, cb.ptr, cb.stride, cnt, cb.dtype, cb.swap);
            op_u64(op, k == TK_BOOL, x.u, y.u, cnt);
            tk_store_u64(dst, (ptrdiff_t)es, x.u, cnt, rt);
        }
        dst += cnt * es;
    }
    return TEEU_OK;
}

teeu_status tk_add(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out)
{
    (void)p;
    return binop(TK_ADD, in, n, out);
}

teeu_status tk_subtract(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out)
{
    (void)p;
    return binop(TK_SUB, in, n, out);
}

teeu_status tk_multiply(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out)
{
    (void)p;
    return binop(TK_MUL, in, n, out);
}

teeu_status tk_divide(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out)
{
    (void)p;
    return binop(TK_DIV, in, n, out);
}
