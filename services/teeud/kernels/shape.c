/*
 * Joining arrays: np.concatenate (axis int or None) and np.stack. The
 * result dtype is the promotion of all inputs, as numpy's result_type.
 */
#include <stdlib.h>
#include <string.h>

#include "kernels_internal.h"

void tk_copy_into(uint8_t *out_data, teeu_dtype out_dt, const size_t *estride, size_t base, const tk_view *v)
{
    tk_kind k = tk_dtype_kind(out_dt);
    size_t es = teeu_dtype_size(out_dt);
    union {
        double f[TK_CHUNK];
        uint64_t u[TK_CHUNK];
        tk_c128 c[TK_CHUNK];
    } buf;
    tk_chunks c;
    tk_chunks_init(&c, v);
    while (tk_chunks_next(&c)) {
        size_t pos = base, step = 0;
        if (v->ndim > 0) {
            for (size_t i = 0; i + 1 < v->ndim; i++)
                pos += c.idx[i] * estride[i];
            step = estride[v->ndim - 1];
            pos += c.off * step;
        }
        uint8_t *dst = out_data + pos * es;
        ptrdiff_t ds = (ptrdiff_t)(step * es);
        if (k == TK_COMPLEX) {
            tk_load_c128(buf.c, c.ptr, c.stride, c.count, c.dtype, c.swap);
            tk_store_c128(dst, ds, buf.c, c.count, out_dt);
        } else if (k == TK_FLOAT) {
            tk_load_f64(buf.f, c.ptr, c.stride, c.count, c.dtype, c.swap);
            tk_store_f64(dst, ds, buf.f, c.count, out_dt);
        } else {
            tk_load_u64(buf.u, c.ptr, c.stride, c.count, c.dtype, c.swap);
            tk_store_u64(dst, ds, buf.u, c.count, out_dt);
        }
    }
}

/* C-order element strides of shape. */
static void c_strides(const size_t *shape, size_t nd, size_t *es)
{
    size_t s = 1;
    for (size_t i = nd; i-- > 0;) {
        es[i] = s;
        s *= shape[i];
    }
}

static teeu_dtype promote_all(const teeu_ndarray *const *in, size_t n)
{
    teeu_dtype dt = teeu_ndarray_dtype(in[0]);
    for (size_t i = 1; i < n; i++)
        dt = tk_promote(dt, teeu_ndarray_dtype(in[i]));
    return dt;
}

static teeu_status check_dtypes(const teeu_ndarray *const *in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!tk_dtype_valid(teeu_ndarray_dtype(in[i])))
            return tu_error(TEEU_ERR_UNSUPPORTED, "input %zu has an unknown dtype", i);
    return TEEU_OK;
}

static teeu_status concat_flat(const teeu_ndarray *const *in, size_t n, teeu_dtype dt, teeu_ndarray **out)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (tu_add_overflows(total, teeu_ndarray_size(in[i]), &total))
            return tu_error(TEEU_ERR_OVERFLOW, "concatenated size overflows");
    teeu_status st = tk_new_array(dt, 1, &total, out);
    if (st != TEEU_OK)
        return st;
    size_t base = 0;
    for (size_t i = 0; i < n; i++) {
        tk_view v;
        st = tk_view_of(in[i], &v);
        if (st != TEEU_OK)
            break;
        size_t es[TK_MAX_DIMS];
        c_strides(v.shape, v.ndim, es);
        tk_copy_into(teeu_ndarray_data(*out), dt, es, base, &v);
        base += v.size;
        tk_view_clear(&v);
    }
    if (st != TEEU_OK) {
        teeu_ndarray_free(*out);
        *out = NULL;
    }
    return st;
}

teeu_status tk_concatenate(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out)
{
    if (n == 0)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "need at least one array to concatenate");
    teeu_status st = check_dtypes(in, n);
    if (st != TEEU_OK)
        return st;
    teeu_dtype dt = promote_all(in, n);
    if (p->axis.all)
        return concat_flat(in, n, dt, out);
    size_t nd = teeu_ndarray_ndim(in[0]);
    for (size_t i = 0; i < n; i++) {
        if (teeu_ndarray_ndim(in[i]) == 0)
            return tu_error(TEEU_ERR_INVALID_ARGUMENT, "zero-dimensional arrays cannot be concatenated");
        if (teeu_ndarray_ndim(in[i]) != nd)
            return tu_error(TEEU_ERR_INVALID_ARGUMENT,
                            "all the input arrays must have same number of dimensions, but the array at "
                            "index 0 has %zu dimension(s) and the array at index %zu has %zu dimension(s)",
                            nd, i, teeu_ndarray_ndim(in[i]));
    }
    size_t axis;
    st = tk_norm_axis(p->axis.v[0], nd, &axis);
    if (st != TEEU_OK)
        return st;
    size_t shape[TK_MAX_DIMS];
    memcpy(shape, teeu_ndarray_shape(in[0]), nd * sizeof(size_t));
    shape[axis] = 0;
    for (size_t i = 0; i < n; i++) {
        const size_t *si = teeu_ndarray_shape(in[i]);
        for (size_t d = 0; d < nd; d++)
            if (d != axis && si[d] != shape[d])
                return tu_error(TEEU_ERR_INVALID_ARGUMENT,
                                "all the input array dimensions except for the concatenation axis must "
                                "match exactly, but along dimension %zu, the array at index 0 has size %zu "
                                "and the array at index %zu has size %zu", d, shape[d], i, si[d]);
        if (tu_add_overflows(shape[axis], si[axis], &shape[axis]))
            return tu_error(TEEU_ERR_OVERFLOW, "concatenated size overflows");
    }
    st = tk_new_array(dt, nd, shape, out);
    if (st != TEEU_OK)
        return st;
    size_t es[TK_MAX_DIMS];
    c_strides(shape, nd, es);
    size_t base = 0;
    for (size_t i = 0; i < n; i++) {
        tk_view v;
        st = tk_view_of(in[i], &v);
        if (st != TEEU_OK)
            break;
        tk_copy_into(teeu_ndarray_data(*out), dt, es, base * es[axis], &v);
        base += v.shape[axis];
        tk_view_clear(&v);
    }
    if (st != TEEU_OK) {
        teeu_ndarray_free(*out);
        *out = NULL;
    }
    return st;
}

teeu_status tk_stack(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out)
{
    if (n == 0)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "need at least one array to stack");
    teeu_status st = check_dtypes(in, n);
    if (st != TEEU_OK)
        return st;
    size_t nd = teeu_ndarray_ndim(in[0]);
    const size_t *s0 = teeu_ndarray_shape(in[0]);
    for (size_t i = 1; i < n; i++)
        if (teeu_ndarray_ndim(in[i]) != nd ||
            (nd > 0 && memcmp(teeu_ndarray_shape(in[i]), s0, nd * sizeof(size_t)) != 0))
            return tu_error(TEEU_ERR_INVALID_ARGUMENT, "all input arrays must have the same shape");
    if (nd + 1 > TK_MAX_DIMS)
        return tu_error(TEEU_ERR_UNSUPPORTED, "stacking %zu-d arrays exceeds %d dimensions", nd, TK_MAX_DIMS);
    size_t axis;
    st = tk_norm_axis(p->axis.v[0], nd + 1, &axis);
    if (st != TEEU_OK)
        return st;
    size_t shape[TK_MAX_DIMS];
    for (size_t d = 0, j = 0; d < nd + 1; d++)
        shape[d] = d == axis ? n : s0[j++];
    teeu_dtype dt = promote_all(in, n);
    st = tk_new_array(dt, nd + 1, shape, out);
    if (st != TEEU_OK)
        return st;
    size_t os[TK_MAX_DIMS], es[TK_MAX_DIMS];
    c_strides(shape, nd + 1, os);
    for (size_t d = 0, j = 0; d < nd + 1; d++)
        if (d != axis)
            es[j++] = os[d];
    for (size_t i = 0; i < n; i++) {
        tk_view v;
        st = tk_view_of(in[i], &v);
        if (st != TEEU_OK)
            break;
        tk_copy_into(teeu_ndarray_data(*out), dt, es, i * os[axis], &v);
        tk_view_clear(&v);
    }
    if (st != TEEU_OK) {
        teeu_ndarray_free(*out);
        *out = NULL;
    }
    return st;
}
