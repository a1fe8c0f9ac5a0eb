/*
 * Reductions with numpy's semantics: sum, mean, average, min, max, var,
 * std, count_nonzero. The input is walked once in memory order (C order
 * of its logical shape), chunk by chunk, accumulating into one native
 * accumulator per output element; a chunk along a reduced last axis is
 * summed pairwise first, as numpy does along contiguous axes.
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_internal.h"

typedef struct tk_red {
    tk_view v;
    teeu_ndarray *scratch;       /* owns stacked 0-d inputs, if any */
    bool mask[TK_MAX_DIMS];      /* reduced axes */
    size_t out_ndim;
    size_t out_shape[TK_MAX_DIMS];
    size_t out_size;
    size_t ostride[TK_MAX_DIMS]; /* output element stride per input axis, 0 if reduced */
    size_t count;                /* elements reduced into each output element */
} tk_red;

static void red_clear(tk_red *r)
{
    tk_view_clear(&r->v);
    teeu_ndarray_free(r->scratch);
    r->scratch = NULL;
}

/* Output shape and strides for reducing view r->v over axis. */
static teeu_status red_shape(tk_red *r, const tk_axis *axis)
{
    teeu_status st = tk_axis_mask(axis, r->v.ndim, r->mask);
    if (st != TEEU_OK)
        return st;
    r->out_ndim = 0;
    r->count = 1;
    for (size_t i = 0; i < r->v.ndim; i++) {
        if (r->mask[i])
            r->count *= r->v.shape[i];
        else
            r->out_shape[r->out_ndim++] = r->v.shape[i];
    }
    r->out_size = 1;
    for (size_t i = r->v.ndim, o = r->out_ndim; i-- > 0;) {
        if (r->mask[i]) {
            r->ostride[i] = 0;
        } else {
            r->ostride[i] = r->out_size;
            r->out_size *= r->out_shape[--o];
        }
    }
    return TEEU_OK;
}

static teeu_status red_init(tk_red *r, const tk_params *p, const teeu_ndarray *const *in, size_t n)
{
    memset(r, 0, sizeof(*r));
    teeu_status st = tk_view_of_list(in, n, &r->v, &r->scratch);
    if (st == TEEU_OK)
        st = red_shape(r, &p->axis);
    if (st != TEEU_OK)
        red_clear(r);
    return st;
}

/* Output index of the first element of the current chunk, and the step per element. */
static size_t chunk_base(const tk_red *r, const tk_chunks *c, size_t *step)
{
    size_t nd = r->v.ndim;
    if (nd == 0) {
        *step = 0;
        return 0;
    }
    size_t base = 0;
    for (size_t k = 0; k + 1 < nd; k++)
        base += c->idx[k] * r->ostride[k];
    *step = r->ostride[nd - 1];
    return base + c->off * *step;
}

/* ---- summation ------------------------------------------------------------ */

static double pairwise_sum(const double *x, size_t n)
{
    if (n < 8) {
        double s = 0.0;
        for (size_t i = 0; i < n; i++)
            s += x[i];
        return s;
    }
    if (n <= 128) {
        double acc[8];
        for (size_t k = 0; k < 8; k++)
            acc[k] = x[k];
        size_t i = 8;
        for (; i + 8 <= n; i += 8)
            for (size_t k = 0; k < 8; k++)
                acc[k] += x[i + k];
        double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        for (; i < n; i++)
            s += x[i];
        return s;
    }
    size_t half = n / 2;
    half -= half % 8;
    return pairwise_sum(x, half) + pairwise_sum(x + half, n - half);
}

static tk_c128 pairwise_csum(const tk_c128 *x, size_t n)
{
    if (n <= 16) {
        tk_c128 s = {0.0, 0.0};
        for (size_t i = 0; i < n; i++) {
            s.re += x[i].re;
            s.im += x[i].im;
        }
        return s;
    }
    size_t half = n / 2;
    tk_c128 a = pairwise_csum(x, half), b = pairwise_csum(x + half, n - half);
    return (tk_c128){a.re + b.re, a.im + b.im};
}

/*
 * Sums r's input into acc (out_size doubles, zeroed by the caller). Along
 * a reduced last axis numpy sums a whole contiguous line pairwise (in at
 * least float32) before rounding: done here in double, unrounded. Along
 * strided axes numpy adds element by element in acc_dt, rounding each
 * partial sum: done here the same way, so those sums match numpy's bits.
 */
static void sum_f64(const tk_red *r, double *acc, teeu_dtype acc_dt)
{
    double buf[TK_CHUNK];
    bool rnd = acc_dt != TEEU_DTYPE_FLOAT64 && acc_dt != TEEU_DTYPE_COMPLEX128;
    tk_chunks c;
    tk_chunks_init(&c, &r->v);
    while (tk_chunks_next(&c)) {
        tk_load_f64(buf, c.ptr, c.stride, c.count, c.dtype, c.swap);
        size_t step, o = chunk_base(r, &c, &step);
        if (step == 0) {
            acc[o] += pairwise_sum(buf, c.count);
        } else if (rnd) {
            for (size_t j = 0; j < c.count; j++)
                acc[o + j * step] = tk_round_to(acc[o + j * step] + buf[j], acc_dt);
        } else {
            for (size_t j = 0; j < c.count; j++)
                acc[o + j * step] += buf[j];
        }
    }
}

static void sum_c128(const tk_red *r, tk_c128 *acc, teeu_dtype acc_dt)
{
    tk_c128 buf[TK_CHUNK];
    bool rnd = acc_dt == TEEU_DTYPE_COMPLEX64;
    tk_chunks c;
    tk_chunks_init(&c, &r->v);
    while (tk_chunks_next(&c)) {
        tk_load_c128(buf, c.ptr, c.stride, c.count, c.dtype, c.swap);
        size_t step, o = chunk_base(r, &c, &step);
        if (step == 0) {
            tk_c128 s = pairwise_csum(buf, c.count);
            acc[o].re += s.re;
            acc[o].im += s.im;
        } else {
            for (size_t j = 0; j < c.count; j++) {
                tk_c128 *t = &acc[o + j * step];
                t->re += buf[j].re;
                t->im += buf[j].im;
                if (rnd)
                    *t = (tk_c128){tk_round_to(t->re, acc_dt), tk_round_to(t->im, acc_dt)};
            }
        }
    }
}

/* Integer sums wrap around in 64 bits, as numpy's int64/uint64 adds do. */
static void sum_u64(const tk_red *r, uint64_t *acc)
{
    uint64_t buf[TK_CHUNK];
    tk_chunks c;
    tk_chunks_init(&c, &r->v);
    while (tk_chunks_next(&c)) {
        tk_load_u64(buf, c.ptr, c.stride, c.count, c.dtype, c.swap);
        size_t step, o = chunk_base(r, &c, &step);
        for (size_t j = 0; j < c.count; j++)
            acc[o + j * step] += buf[j];
    }
}

static teeu_status alloc_acc(size_t count, size_t size, void **out)
{
    *out = calloc(count ? count : 1, size);
    if (*out == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory for %zu accumulators", count);
    return TEEU_OK;
}

static teeu_status new_out(const tk_red *r, teeu_dtype dt, teeu_ndarray **out)
{
    return tk_new_array(dt, r->out_ndim, r->out_shape, out);
}

/* Sum (mean when divide is set) of r's input into a new array of dtype out_dt. */
/*
 * Accumulators for out: the output's own (zero-filled) memory when its dtype
 * has the accumulator's layout (float64, int64, uint64, complex128), which
 * saves a second output-sized buffer; else a new zeroed buffer.
 */
static teeu_status out_acc(const tk_red *r, teeu_ndarray *out, size_t es, void **acc, bool *owned)
{
    teeu_dtype dt = teeu_ndarray_dtype(out);
    if (dt == TEEU_DTYPE_FLOAT64 || dt == TEEU_DTYPE_INT64 || dt == TEEU_DTYPE_UINT64 ||
        dt == TEEU_DTYPE_COMPLEX128) {
        *acc = teeu_ndarray_data(out);
        *owned = false;
        if (*acc != NULL || r->out_size == 0)
            return TEEU_OK;
    }
    *owned = true;
    return alloc_acc(r->out_size, es, acc);
}

/* Sum (mean when divide is set) of r's input into a new array of dtype out_dt. */
static teeu_status reduce_sum(const tk_red *r, teeu_dtype out_dt, bool divide, teeu_ndarray **out)
{
    /* np.mean of float16 accumulates in float32; everything else in its own dtype. */
    teeu_dtype acc_dt = divide && out_dt == TEEU_DTYPE_FLOAT16 ? TEEU_DTYPE_FLOAT32 : out_dt;
    tk_kind k = tk_dtype_kind(out_dt);
    size_t es = k == TK_COMPLEX ? sizeof(tk_c128) : 8;
    teeu_status st = new_out(r, out_dt, out);
    if (st != TEEU_OK)
        return st;
    void *acc;
    bool owned;
    st = out_acc(r, *out, es, &acc, &owned);
    if (st != TEEU_OK) {
        teeu_ndarray_free(*out);
        *out = NULL;
        return st;
    }
    uint8_t *dst = teeu_ndarray_data(*out);
    ptrdiff_t ds = (ptrdiff_t)teeu_dtype_size(out_dt);
    double cnt = (double)r->count;
    if (k == TK_COMPLEX) {
        tk_c128 *a = acc;
        sum_c128(r, a, acc_dt);
        if (divide) /* numpy divides by complex(count): inf parts give NaN as there */
            for (size_t i = 0; i < r->out_size; i++)
                a[i] = tk_c_div_dt(a[i], (tk_c128){cnt, 0.0}, out_dt);
        tk_store_c128(dst, ds, a, r->out_size, out_dt);
    } else if (k == TK_FLOAT) {
        double *a = acc;
        sum_f64(r, a, acc_dt);
        if (divide)
            for (size_t i = 0; i < r->out_size; i++)
                a[i] = acc_dt != out_dt ? tk_round_to(a[i] / cnt, acc_dt) : a[i] / cnt;
        tk_store_f64(dst, ds, a, r->out_size, out_dt);
    } else {
        uint64_t *a = acc;
        sum_u64(r, a);
        tk_store_u64(dst, ds, a, r->out_size, out_dt);
    }
    if (owned)
        free(acc);
    return TEEU_OK;
}

static teeu_dtype sum_dtype(teeu_dtype dt)
{
    switch (tk_dtype_kind(dt)) {
    case TK_BOOL: case TK_INT: return TEEU_DTYPE_INT64;
    case TK_UINT: return TEEU_DTYPE_UINT64;
    default: return dt;
    }
}

static teeu_dtype mean_dtype(teeu_dtype dt)
{
    tk_kind k = tk_dtype_kind(dt);
    return k == TK_FLOAT || k == TK_COMPLEX ? dt : TEEU_DTYPE_FLOAT64;
}

teeu_status tk_sum(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out)
{
    tk_red r;
    teeu_status st = red_init(&r, p, in, n);
    if (st != TEEU_OK)
        return st;
    st = reduce_sum(&r, sum_dtype(r.v.dtype), false, out);
    red_clear(&r);
    return st;
}

teeu_status tk_mean(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out)
{
    tk_red r;
    teeu_status st = red_init(&r, p, in, n);
    if (st != TEEU_OK)
        return st;
    st = reduce_sum(&r, mean_dtype(r.v.dtype), true, out);
    red_clear(&r);
    return st;
}

/* ---- count_nonzero --------------------------------------------------------- */

teeu_status tk_count(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out)
{
    tk_red r;
    teeu_status st = red_init(&r, p, in, n);
    if (st != TEEU_OK)
        return st;
    uint64_t *acc = NULL;
    st = alloc_acc(r.out_size, sizeof(uint64_t), (void **)&acc);
    if (st == TEEU_OK)
        st = new_out(&r, TEEU_DTYPE_INT64, out);
    if (st == TEEU_OK) {
        bool cplx = tk_dtype_kind(r.v.dtype) == TK_COMPLEX;
        static_assert(sizeof(tk_c128) == 2 * sizeof(double), "tk_c128 is two doubles");
        double buf[2 * TK_CHUNK];
        tk_chunks c;
        tk_chunks_init(&c, &r.v);
        while (tk_chunks_next(&c)) {
            size_t step, o = chunk_base(&r, &c, &step);
            if (cplx) {
                tk_c128 *cb = (tk_c128 *)(void *)buf;
                tk_load_c128(cb, c.ptr, c.stride, c.count, c.dtype, c.swap);
                for (size_t j = 0; j < c.count; j++)
                    acc[o + j * step] += cb[j].re != 0.0 || cb[j].im != 0.0;
            } else {
                tk_load_f64(buf, c.ptr, c.stride, c.count, c.dtype, c.swap);
                for (size_t j = 0; j < c.count; j++)
                    acc[o + j * step] += buf[j] != 0.0;
            }
        }
        tk_store_u64(teeu_ndarray_data(*out), 8, acc, r.out_size, TEEU_DTYPE_INT64);
    }
    free(acc);
    red_clear(&r);
    return st;
}

/* ---- min / max ---------------------------------------------------------------- */

static bool c_less(tk_c128 a, tk_c128 b)
{
    return a.re < b.re || (a.re == b.re && a.im < b.im);
}

static bool c_isnan(tk_c128 a)
{
    return isnan(a.re) || isnan(a.im);
}

static teeu_status reduce_minmax(const tk_params *p, const teeu_ndarray *const *in, size_t n, bool is_max,
                                 teeu_ndarray **out)
{
    tk_red r;
    teeu_status st = red_init(&r, p, in, n);
    if (st != TEEU_OK)
        return st;
    if (r.count == 0 && r.out_size > 0) {
        red_clear(&r);
        return tu_error(TEEU_ERR_INVALID_ARGUMENT,
                        "zero-size array to reduction operation %s which has no identity",
                        is_max ? "maximum" : "minimum");
    }
    teeu_dtype dt = r.v.dtype;
    tk_kind k = tk_dtype_kind(dt);
    void *acc = NULL;
    st = alloc_acc(r.out_size, k == TK_COMPLEX ? sizeof(tk_c128) : 8, &acc);
    if (st == TEEU_OK)
        st = new_out(&r, dt, out);
    if (st != TEEU_OK) {
        free(acc);
        red_clear(&r);
        return st;
    }
    uint8_t *dst = teeu_ndarray_data(*out);
    ptrdiff_t ds = (ptrdiff_t)teeu_dtype_size(dt);
    union {
        double f[TK_CHUNK];
        int64_t i[TK_CHUNK];
        uint64_t u[TK_CHUNK];
        tk_c128 c[TK_CHUNK];
    } buf;
    tk_chunks c;
    tk_chunks_init(&c, &r.v);
    if (k == TK_FLOAT) {
        double *a = acc;
        for (size_t i = 0; i < r.out_size; i++)
            a[i] = is_max ? -INFINITY : INFINITY;
        while (tk_chunks_next(&c)) {
            tk_load_f64(buf.f, c.ptr, c.stride, c.count, c.dtype, c.swap);
            size_t step, o = chunk_base(&r, &c, &step);
            for (size_t j = 0; j < c.count; j++) {
                double *t = &a[o + j * step], x = buf.f[j];
                if (!isnan(*t) && (isnan(x) || (is_max ? x > *t : x < *t)))
                    *t = x;
            }
        }
        tk_store_f64(dst, ds, a, r.out_size, dt);
    } else if (k == TK_COMPLEX) {
        tk_c128 *a = acc;
        for (size_t i = 0; i < r.out_size; i++)
            a[i] = is_max ? (tk_c128){-INFINITY, -INFINITY} : (tk_c128){INFINITY, INFINITY};
        while (tk_chunks_next(&c)) {
            tk_load_c128(buf.c, c.ptr, c.stride, c.count, c.dtype, c.swap);
            size_t step, o = chunk_base(&r, &c, &step);
            for (size_t j = 0; j < c.count; j++) {
                tk_c128 *t = &a[o + j * step], x = buf.c[j];
                if (!c_isnan(*t) && (c_isnan(x) || (is_max ? c_less(*t, x) : c_less(x, *t))))
                    *t = x;
            }
        }
        tk_store_c128(dst, ds, a, r.out_size, dt);
    } else if (k == TK_INT) {
        int64_t *a = acc;
        for (size_t i = 0; i < r.out_size; i++)
            a[i] = is_max ? INT64_MIN : INT64_MAX;
        while (tk_chunks_next(&c)) {
            tk_load_i64(buf.i, c.ptr, c.stride, c.count, c.dtype, c.swap);
            size_t step, o = chunk_base(&r, &c, &step);
            for (size_t j = 0; j < c.count; j++) {
                int64_t *t = &a[o + j * step], x = buf.i[j];
                if (is_max ? x > *t : x < *t)
                    *t = x;
            }
        }
        tk_store_u64(dst, ds, (const uint64_t *)acc, r.out_size, dt);
    } else {
        uint64_t *a = acc;
        for (size_t i = 0; i < r.out_size; i++)
            a[i] = is_max ? 0 : UINT64_MAX;
        while (tk_chunks_next(&c)) {
            tk_load_u64(buf.u, c.ptr, c.stride, c.count, c.dtype, c.swap);
            size_t step, o = chunk_base(&r, &c, &step);
            for (size_t j = 0; j < c.count; j++) {
                uint64_t *t = &a[o + j * step], x = buf.u[j];
                if (is_max ? x > *t : x < *t)
                    *t = x;
            }
        }
        tk_store_u64(dst, ds, a, r.out_size, dt);
    }
    free(acc);
    red_clear(&r);
    return TEEU_OK;
}

teeu_status tk_min(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out)
{
    return reduce_minmax(p, in, n, false, out);
}

teeu_status tk_max(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out)
{
    return reduce_minmax(p, in, n, true, out);
}

/* ---- var / std ------------------------------------------------------------------ */

/* Two passes: the mean, then the mean squared distance to it. */
static teeu_status reduce_var(const tk_params *p, const teeu_ndarray *const *in, size_t n, bool take_sqrt,
                              teeu_ndarray **out)
{
    tk_red r;
    teeu_status st = red_init(&r, p, in, n);
    if (st != TEEU_OK)
        return st;
    teeu_dtype dt = r.v.dtype;
    bool cplx = tk_dtype_kind(dt) == TK_COMPLEX;
    teeu_dtype out_dt = cplx ? tk_real_of(dt) : mean_dtype(dt);
    *out = NULL;
    /* The mean: complex for complex input, else real (half the memory). */
    void *mean = NULL;
    double *acc = NULL;
    bool owned = false;
    st = alloc_acc(r.out_size, cplx ? sizeof(tk_c128) : sizeof(double), &mean);
    if (st == TEEU_OK)
        st = new_out(&r, out_dt, out);
    if (st == TEEU_OK)
        st = out_acc(&r, *out, sizeof(double), (void **)&acc, &owned);
    if (st != TEEU_OK)
        goto done;
    /*
     * numpy computes var/std of float16/float32/complex64 in that precision
     * (mean, deviations, squares, sum: each rounded), so a sum of squares
     * past float16's range is inf there; round the same steps to match.
     */
    bool rnd = out_dt != TEEU_DTYPE_FLOAT64;
#define TK_R(x) (rnd ? tk_round_to((x), out_dt) : (x))
    double cnt = (double)r.count;
    if (cplx) {
        tk_c128 *m = mean;
        sum_c128(&r, m, dt);
        for (size_t i = 0; i < r.out_size; i++) {
            m[i] = tk_c_div_dt((tk_c128){TK_R(m[i].re), TK_R(m[i].im)}, (tk_c128){cnt, 0.0}, dt);
            m[i] = (tk_c128){TK_R(m[i].re), TK_R(m[i].im)};
        }
    } else {
        double *m = mean;
        sum_f64(&r, m, out_dt);
        for (size_t i = 0; i < r.out_size; i++)
            m[i] = TK_R(TK_R(m[i]) / cnt);
    }
    static_assert(sizeof(tk_c128) == 2 * sizeof(double), "tk_c128 is two doubles");
    double buf[2 * TK_CHUNK];
    tk_c128 *cbuf = (tk_c128 *)(void *)buf;
    tk_chunks c;
    tk_chunks_init(&c, &r.v);
    while (tk_chunks_next(&c)) {
        size_t step, o = chunk_base(&r, &c, &step);
        if (cplx) {
            tk_load_c128(cbuf, c.ptr, c.stride, c.count, c.dtype, c.swap);
            for (size_t j = 0; j < c.count; j++) {
                const tk_c128 *m = (const tk_c128 *)mean + o + j * step;
                double dr = TK_R(cbuf[j].re - m->re), di = TK_R(cbuf[j].im - m->im);
                acc[o + j * step] += TK_R(TK_R(dr * dr) + TK_R(di * di));
            }
        } else {
            tk_load_f64(buf, c.ptr, c.stride, c.count, c.dtype, c.swap);
            for (size_t j = 0; j < c.count; j++) {
                double d = TK_R(buf[j] - ((const double *)mean)[o + j * step]);
                acc[o + j * step] += TK_R(d * d);
            }
        }
    }
    double div = cnt - (double)p->ddof;
    if (div < 0)
        div = 0;
    for (size_t i = 0; i < r.out_size; i++) {
        acc[i] = TK_R(TK_R(acc[i]) / div);
        if (take_sqrt)
            acc[i] = sqrt(acc[i]);
    }
#undef TK_R
    tk_store_f64(teeu_ndarray_data(*out), (ptrdiff_t)teeu_dtype_size(out_dt), acc, r.out_size, out_dt);
done:
    free(mean);
    if (owned)
        free(acc);
    if (st != TEEU_OK && *out != NULL) {
        teeu_ndarray_free(*out);
        *out = NULL;
    }
    red_clear(&r);
    return st;
}

teeu_status tk_var(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out)
{
    return reduce_var(p, in, n, false, out);
}

teeu_status tk_std(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out)
{
    return reduce_var(p, in, n, true, out);
}

/* ---- average ------------------------------------------------------------------------ */

/* The weights as a view shaped like a: same shape, or 1-D along axis. */
static teeu_status weights_view(const tk_red *r, const tk_params *p, const teeu_ndarray *w, tk_view *wv)
{
    teeu_status st = tk_view_of(w, wv);
    if (st != TEEU_OK)
        return st;
    bool same = wv->ndim == r->v.ndim && memcmp(wv->shape, r->v.shape, wv->ndim * sizeof(size_t)) == 0;
    if (same)
        return TEEU_OK;
    if (p->axis.all)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "Axis must be specified when shapes of a and weights differ.");
    if (wv->ndim != 1)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "1D weights expected when shapes of a and weights differ.");
    if (p->axis.tuple || p->axis.n != 1)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT,
                        "axis must be one integer when shapes of a and weights differ");
    size_t ax;
    st = tk_norm_axis(p->axis.v[0], r->v.ndim, &ax);
    if (st != TEEU_OK)
        return st;
    if (wv->shape[0] != r->v.shape[ax])
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "Length of weights not compatible with specified axis.");
    ptrdiff_t s = wv->one_part.strides[0];
    wv->ndim = r->v.ndim;
    for (size_t i = 0; i < wv->ndim; i++) {
        wv->shape[i] = r->v.shape[i];
        wv->one_part.strides[i] = i == ax ? s : 0;
    }
    wv->size = r->v.size;
    return TEEU_OK;
}

static teeu_status weighted_average(const tk_params *p, const teeu_ndarray *const *in, size_t n,
                                    teeu_ndarray **out)
{
    tk_red r;
    teeu_status st = red_init(&r, p, in, n - 1);
    if (st != TEEU_OK)
        return st;
    tk_view wv;
    memset(&wv, 0, sizeof(wv));
    tk_c128 *num = NULL, *den = NULL;
    st = weights_view(&r, p, in[n - 1], &wv);
    if (st != TEEU_OK)
        goto done;
    teeu_dtype rt = tk_promote(r.v.dtype, wv.dtype);
    tk_kind ak = tk_dtype_kind(r.v.dtype);
    if (ak == TK_BOOL || ak == TK_INT || ak == TK_UINT)
        rt = tk_promote(rt, TEEU_DTYPE_FLOAT64);
    bool cplx = tk_dtype_kind(rt) == TK_COMPLEX;
    st = alloc_acc(r.out_size, sizeof(tk_c128), (void **)&num);
    if (st == TEEU_OK)
        st = alloc_acc(r.out_size, sizeof(tk_c128), (void **)&den);
    if (st != TEEU_OK)
        goto done;
    tk_c128 ab[TK_CHUNK], wb[TK_CHUNK];
    double *af = (double *)(void *)ab, *wf = (double *)(void *)wb;
    tk_chunks ca, cw;
    tk_chunks_init(&ca, &r.v);
    tk_chunks_init(&cw, &wv);
    while (tk_chunks_next(&ca) && tk_chunks_next(&cw)) {
        size_t step, o = chunk_base(&r, &ca, &step);
        if (!cplx) {
            /* Real: np.multiply(a, wgt, dtype=result_dtype) rounds each product to rt. */
            tk_load_f64(af, ca.ptr, ca.stride, ca.count, ca.dtype, ca.swap);
            tk_load_f64(wf, cw.ptr, cw.stride, cw.count, cw.dtype, cw.swap);
            bool round = rt != TEEU_DTYPE_FLOAT64;
            for (size_t j = 0; j < ca.count; j++) {
                double prod = af[j] * wf[j];
                num[o + j * step].re += round ? tk_round_to(prod, rt) : prod;
                den[o + j * step].re += wf[j];
            }
            continue;
        }
        tk_load_c128(ab, ca.ptr, ca.stride, ca.count, ca.dtype, ca.swap);
        tk_load_c128(wb, cw.ptr, cw.stride, cw.count, cw.dtype, cw.swap);
        for (size_t j = 0; j < ca.count; j++) {
            double pr = ab[j].re * wb[j].re - ab[j].im * wb[j].im;
            double pi = ab[j].re * wb[j].im + ab[j].im * wb[j].re;
            tk_c128 *t = &num[o + j * step], *d = &den[o + j * step];
            t->re += tk_round_to(pr, rt);
            t->im += tk_round_to(pi, rt);
            d->re += wb[j].re;
            d->im += wb[j].im;
        }
    }
    for (size_t i = 0; i < r.out_size; i++) {
        if (tk_round_to(den[i].re, rt) == 0.0 && tk_round_to(den[i].im, rt) == 0.0) {
            st = tu_error(TEEU_ERR_INVALID_ARGUMENT, "Weights sum to zero, can't be normalized");
            goto done;
        }
    }
    st = new_out(&r, rt, out);
    if (st != TEEU_OK)
        goto done;
    uint8_t *dst = teeu_ndarray_data(*out);
    ptrdiff_t ds = (ptrdiff_t)teeu_dtype_size(rt);
    for (size_t i = 0; i < r.out_size; i++) {
        tk_c128 q;
        if (cplx) {
            tk_c128 a = {tk_round_to(num[i].re, rt), tk_round_to(num[i].im, rt)};
            tk_c128 b = {tk_round_to(den[i].re, rt), tk_round_to(den[i].im, rt)};
            q = tk_c_div_dt(a, b, rt);
            tk_store_c128(dst + (ptrdiff_t)i * ds, ds, &q, 1, rt);
        } else {
            double v = tk_round_to(num[i].re, rt) / tk_round_to(den[i].re, rt);
            tk_store_f64(dst + (ptrdiff_t)i * ds, ds, &v, 1, rt);
        }
    }
done:
    free(num);
    free(den);
    tk_view_clear(&wv);
    red_clear(&r);
    return st;
}

teeu_status tk_average(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out)
{
    if (p->weights)
        return weighted_average(p, in, n, out);
    /* np.average divides a.size by the result's size to scale the mean. */
    tk_red r;
    teeu_status st = red_init(&r, p, in, n);
    if (st != TEEU_OK)
        return st;
    if (r.out_size == 0)
        st = tu_error(TEEU_ERR_INVALID_ARGUMENT, "division by zero (np.average of an empty result)");
    else
        st = reduce_sum(&r, mean_dtype(r.v.dtype), true, out);
    red_clear(&r);
    return st;
}
