/*
 * Shared compute machinery: numpy's dtype promotion, float16, line-wise
 * loading of strided/byte-swapped data into native compute buffers and
 * storing back, views over one array or a stacked list, and axis checks.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define TK_NATIVE_ORDER TEEU_BYTE_ORDER_BIG
#else
#define TK_NATIVE_ORDER TEEU_BYTE_ORDER_LITTLE
#endif

/* ---- dtypes ---------------------------------------------------------------- */

bool tk_dtype_valid(teeu_dtype dt)
{
    return dt >= TEEU_DTYPE_BOOL && dt <= TEEU_DTYPE_COMPLEX128;
}

tk_kind tk_dtype_kind(teeu_dtype dt)
{
    switch (dt) {
    case TEEU_DTYPE_BOOL: return TK_BOOL;
    case TEEU_DTYPE_INT8: case TEEU_DTYPE_INT16: case TEEU_DTYPE_INT32: case TEEU_DTYPE_INT64: return TK_INT;
    case TEEU_DTYPE_UINT8: case TEEU_DTYPE_UINT16: case TEEU_DTYPE_UINT32: case TEEU_DTYPE_UINT64: return TK_UINT;
    case TEEU_DTYPE_FLOAT16: case TEEU_DTYPE_FLOAT32: case TEEU_DTYPE_FLOAT64: return TK_FLOAT;
    default: return TK_COMPLEX;
    }
}

static teeu_dtype int_of_size(size_t size, bool is_signed)
{
    switch (size) {
    case 1: return is_signed ? TEEU_DTYPE_INT8 : TEEU_DTYPE_UINT8;
    case 2: return is_signed ? TEEU_DTYPE_INT16 : TEEU_DTYPE_UINT16;
    case 4: return is_signed ? TEEU_DTYPE_INT32 : TEEU_DTYPE_UINT32;
    default: return is_signed ? TEEU_DTYPE_INT64 : TEEU_DTYPE_UINT64;
    }
}

static teeu_dtype float_of_size(size_t size)
{
    return size <= 2 ? TEEU_DTYPE_FLOAT16 : size == 4 ? TEEU_DTYPE_FLOAT32 : TEEU_DTYPE_FLOAT64;
}

/* Size of the smallest float that holds every value of an integer dtype. */
static size_t float_size_for_int(teeu_dtype dt)
{
    size_t s = teeu_dtype_size(dt);
    return s == 1 ? 2 : s == 2 ? 4 : 8;
}

teeu_dtype tk_real_of(teeu_dtype dt)
{
    if (dt == TEEU_DTYPE_COMPLEX64) return TEEU_DTYPE_FLOAT32;
    if (dt == TEEU_DTYPE_COMPLEX128) return TEEU_DTYPE_FLOAT64;
    return dt;
}

teeu_dtype tk_promote(teeu_dtype a, teeu_dtype b)
{
    tk_kind ka = tk_dtype_kind(a), kb = tk_dtype_kind(b);
    size_t sa = teeu_dtype_size(a), sb = teeu_dtype_size(b);
    if (ka == kb)
        return sa >= sb ? a : b;
    if (ka > kb) {
        /* Order the pair so that kind(a) < kind(b). */
        teeu_dtype t = a; a = b; b = t;
        tk_kind tk = ka; ka = kb; kb = tk;
        size_t ts = sa; sa = sb; sb = ts;
    }
    if (ka == TK_BOOL)
        return b;
    if (ka == TK_INT && kb == TK_UINT) {
        if (sa > sb)
            return a;
        return sb < 8 ? int_of_size(sb * 2, true) : TEEU_DTYPE_FLOAT64;
    }
    if (kb == TK_FLOAT) {
        size_t need = ka == TK_FLOAT ? sa : float_size_for_int(a);
        return float_of_size(need > sb ? need : sb);
    }
    /* b is complex: its float parts must hold a's values. */
    size_t need = ka == TK_FLOAT ? sa : float_size_for_int(a);
    size_t part = sb / 2;
    return (need > part ? need : part) <= 4 ? TEEU_DTYPE_COMPLEX64 : TEEU_DTYPE_COMPLEX128;
}

/* ---- float16 ----------------------------------------------------------------- */

double tk_f16_to_f64(uint16_t h)
{
    int sign = h >> 15;
    int exp = h >> 10 & 0x1F;
    int mant = h & 0x3FF;
    double v;
    if (exp == 0)
        v = ldexp((double)mant, -24);
    else if (exp == 31)
        v = mant ? NAN : INFINITY;
    else
        v = ldexp((double)(mant | 0x400), exp - 25);
    return sign ? -v : v;
}

uint16_t tk_f64_to_f16(double d)
{
    uint16_t sign = signbit(d) ? 0x8000 : 0;
    double a = fabs(d);
    if (isnan(d))
        return (uint16_t)(sign | 0x7E00);
    if (a >= 65520.0) /* at or past the halfway point above 65504: infinity */
        return (uint16_t)(sign | 0x7C00);
    if (a < ldexp(1.0, -14)) {
        /* Subnormal (or rounds up to the smallest normal, whose bits follow on). */
        double m = nearbyint(ldexp(a, 24));
        return (uint16_t)(sign | (uint16_t)m);
    }
    int e2;
    (void)frexp(a, &e2);
    int e = e2 - 1; /* a = 1.f * 2^e, -14 <= e <= 15 */
    double m = nearbyint(ldexp(a, 10 - e)); /* 1024..2048 */
    /* The mantissa carry (m == 2048) moves into the exponent field by itself. */
    return (uint16_t)(sign | (((unsigned)(e + 14) << 10) + (unsigned)m));
}

double tk_round_to(double d, teeu_dtype dt)
{
    if (dt == TEEU_DTYPE_FLOAT16)
        return tk_f16_to_f64(tk_f64_to_f16(d));
    if (dt == TEEU_DTYPE_FLOAT32 || dt == TEEU_DTYPE_COMPLEX64)
        return (double)(float)d;
    return d;
}

/* ---- loading ------------------------------------------------------------------ */

static inline uint16_t bs16(uint16_t v) { return __builtin_bswap16(v); }
static inline uint32_t bs32(uint32_t v) { return __builtin_bswap32(v); }
static inline uint64_t bs64(uint64_t v) { return __builtin_bswap64(v); }
static inline uint8_t bs8(uint8_t v) { return v; }

/* Raw element readers: the value at p as its C type, byte-swapped if asked. */
#define TK_READER(name, T, UT, BS)                                   \
    static inline T name(const uint8_t *p, bool swap)                \
    {                                                                \
        UT u;                                                        \
        memcpy(&u, p, sizeof(u));                                    \
        if (swap)                                                    \
            u = BS(u);                                               \
        T x;                                                         \
        memcpy(&x, &u, sizeof(x));                                   \
        return x;                                                    \
    }
TK_READER(rd_i8, int8_t, uint8_t, bs8)
TK_READER(rd_i16, int16_t, uint16_t, bs16)
TK_READER(rd_i32, int32_t, uint32_t, bs32)
TK_READER(rd_i64, int64_t, uint64_t, bs64)
TK_READER(rd_u8, uint8_t, uint8_t, bs8)
TK_READER(rd_u16, uint16_t, uint16_t, bs16)
TK_READER(rd_u32, uint32_t, uint32_t, bs32)
TK_READER(rd_u64, uint64_t, uint64_t, bs64)
TK_READER(rd_f32, float, uint32_t, bs32)
TK_READER(rd_f64, double, uint64_t, bs64)

static inline double rd_f16(const uint8_t *p, bool swap)
{
    return tk_f16_to_f64(rd_u16(p, swap));
}

#define TK_LOOP(EXPR)                                   \
    do {                                                \
        for (size_t i = 0; i < n; i++, src += stride)   \
            dst[i] = EXPR;                              \
    } while (0)

void tk_load_f64(double *dst, const uint8_t *src, ptrdiff_t stride, size_t n, teeu_dtype dt, bool swap)
{
    switch (dt) {
    case TEEU_DTYPE_BOOL: TK_LOOP(src[0] != 0 ? 1.0 : 0.0); break;
    case TEEU_DTYPE_INT8: TK_LOOP((double)rd_i8(src, swap)); break;
    case TEEU_DTYPE_INT16: TK_LOOP((double)rd_i16(src, swap)); break;
    case TEEU_DTYPE_INT32: TK_LOOP((double)rd_i32(src, swap)); break;
    case TEEU_DTYPE_INT64: TK_LOOP((double)rd_i64(src, swap)); break;
    case TEEU_DTYPE_UINT8: TK_LOOP((double)rd_u8(src, swap)); break;
    case TEEU_DTYPE_UINT16: TK_LOOP((double)rd_u16(src, swap)); break;
    case TEEU_DTYPE_UINT32: TK_LOOP((double)rd_u32(src, swap)); break;
    case TEEU_DTYPE_UINT64: TK_LOOP((double)rd_u64(src, swap)); break;
    case TEEU_DTYPE_FLOAT16: TK_LOOP(rd_f16(src, swap)); break;
    case TEEU_DTYPE_FLOAT32: TK_LOOP((double)rd_f32(src, swap)); break;
    case TEEU_DTYPE_FLOAT64: TK_LOOP(rd_f64(src, swap)); break;
    case TEEU_DTYPE_COMPLEX64: TK_LOOP((double)rd_f32(src, swap)); break;  /* real part */
    case TEEU_DTYPE_COMPLEX128: TK_LOOP(rd_f64(src, swap)); break;
    }
}

void tk_load_i64(int64_t *dst, const uint8_t *src, ptrdiff_t stride, size_t n, teeu_dtype dt, bool swap)
{
    switch (dt) {
    case TEEU_DTYPE_BOOL: TK_LOOP(src[0] != 0); break;
    case TEEU_DTYPE_INT8: TK_LOOP(rd_i8(src, swap)); break;
    case TEEU_DTYPE_INT16: TK_LOOP(rd_i16(src, swap)); break;
    case TEEU_DTYPE_INT32: TK_LOOP(rd_i32(src, swap)); break;
    case TEEU_DTYPE_INT64: TK_LOOP(rd_i64(src, swap)); break;
    case TEEU_DTYPE_UINT8: TK_LOOP(rd_u8(src, swap)); break;
    case TEEU_DTYPE_UINT16: TK_LOOP(rd_u16(src, swap)); break;
    case TEEU_DTYPE_UINT32: TK_LOOP(rd_u32(src, swap)); break;
    case TEEU_DTYPE_UINT64: TK_LOOP((int64_t)rd_u64(src, swap)); break;
    default: /* promotion never asks for a float as an integer */
        TK_LOOP(0);
    }
}

void tk_load_u64(uint64_t *dst, const uint8_t *src, ptrdiff_t stride, size_t n, teeu_dtype dt, bool swap)
{
    switch (dt) {
    case TEEU_DTYPE_BOOL: TK_LOOP(src[0] != 0); break;
    case TEEU_DTYPE_INT8: TK_LOOP((uint64_t)(int64_t)rd_i8(src, swap)); break;
    case TEEU_DTYPE_INT16: TK_LOOP((uint64_t)(int64_t)rd_i16(src, swap)); break;
    case TEEU_DTYPE_INT32: TK_LOOP((uint64_t)(int64_t)rd_i32(src, swap)); break;
    case TEEU_DTYPE_INT64: TK_LOOP((uint64_t)rd_i64(src, swap)); break;
    case TEEU_DTYPE_UINT8: TK_LOOP(rd_u8(src, swap)); break;
    case TEEU_DTYPE_UINT16: TK_LOOP(rd_u16(src, swap)); break;
    case TEEU_DTYPE_UINT32: TK_LOOP(rd_u32(src, swap)); break;
    case TEEU_DTYPE_UINT64: TK_LOOP(rd_u64(src, swap)); break;
    default:
        TK_LOOP(0);
    }
}

void tk_load_c128(tk_c128 *dst, const uint8_t *src, ptrdiff_t stride, size_t n, teeu_dtype dt, bool swap)
{
    if (dt == TEEU_DTYPE_COMPLEX64) {
        TK_LOOP(((tk_c128){rd_f32(src, swap), rd_f32(src + 4, swap)}));
        return;
    }
    if (dt == TEEU_DTYPE_COMPLEX128) {
        TK_LOOP(((tk_c128){rd_f64(src, swap), rd_f64(src + 8, swap)}));
        return;
    }
    /*
     * Real input: load the n real parts into the upper half of dst (as
     * doubles), then spread them forward; element i's write never reaches
     * a real part not yet read.
     */
    double *raw = (double *)(void *)dst;
    double *tmp = raw + n;
    tk_load_f64(tmp, src, stride, n, dt, swap);
    for (size_t i = 0; i < n; i++) {
        double re = tmp[i];
        dst[i].re = re;
        dst[i].im = 0.0;
    }
}

/* ---- complex division ------------------------------------------------------ */

tk_c128 tk_c_div(tk_c128 a, tk_c128 b)
{
    /* Smith's algorithm, as numpy's complex division. */
    if (fabs(b.re) >= fabs(b.im)) {
        if (b.re == 0.0 && b.im == 0.0)
            return (tk_c128){a.re / fabs(b.re), a.im / fabs(b.im)};
        double rat = b.im / b.re, scl = 1.0 / (b.re + b.im * rat);
        return (tk_c128){(a.re + a.im * rat) * scl, (a.im - a.re * rat) * scl};
    }
    double rat = b.re / b.im, scl = 1.0 / (b.im + b.re * rat);
    return (tk_c128){(a.re * rat + a.im) * scl, (a.im * rat - a.re) * scl};
}

/* The same in float arithmetic, as numpy divides complex64 values. */
static tk_c128 c_div_f32(tk_c128 a64, tk_c128 b64)
{
    float ar = (float)a64.re, ai = (float)a64.im, br = (float)b64.re, bi = (float)b64.im;
    float qr, qi;
    if (fabsf(br) >= fabsf(bi)) {
        if (br == 0.0f && bi == 0.0f) {
            qr = ar / fabsf(br);
            qi = ai / fabsf(bi);
        } else {
            float rat = bi / br, scl = 1.0f / (br + bi * rat);
            qr = (ar + ai * rat) * scl;
            qi = (ai - ar * rat) * scl;
        }
    } else {
        float rat = br / bi, scl = 1.0f / (bi + br * rat);
        qr = (ar * rat + ai) * scl;
        qi = (ai * rat - ar) * scl;
    }
    return (tk_c128){qr, qi};
}

tk_c128 tk_c_div_dt(tk_c128 a, tk_c128 b, teeu_dtype dt)
{
    return dt == TEEU_DTYPE_COMPLEX64 ? c_div_f32(a, b) : tk_c_div(a, b);
}

/* ---- storing ------------------------------------------------------------------ */

#define TK_STORE(T, EXPR)                                         \
    do {                                                          \
        for (size_t i = 0; i < n; i++, dst += stride) {           \
            T x_ = EXPR;                                          \
            memcpy(dst, &x_, sizeof(x_));                         \
        }                                                         \
    } while (0)

void tk_store_f64(uint8_t *dst, ptrdiff_t stride, const double *src, size_t n, teeu_dtype dt)
{
    switch (dt) {
    case TEEU_DTYPE_FLOAT16: TK_STORE(uint16_t, tk_f64_to_f16(src[i])); break;
    case TEEU_DTYPE_FLOAT32: TK_STORE(float, (float)src[i]); break;
    case TEEU_DTYPE_FLOAT64: TK_STORE(double, src[i]); break;
    case TEEU_DTYPE_INT64: TK_STORE(int64_t, (int64_t)src[i]); break; /* only for small exact counts */
    default: break;
    }
}

void tk_store_u64(uint8_t *dst, ptrdiff_t stride, const uint64_t *src, size_t n, teeu_dtype dt)
{
    switch (dt) {
    case TEEU_DTYPE_BOOL: TK_STORE(uint8_t, (uint8_t)(src[i] != 0)); break;
    case TEEU_DTYPE_INT8: case TEEU_DTYPE_UINT8: TK_STORE(uint8_t, (uint8_t)src[i]); break;
    case TEEU_DTYPE_INT16: case TEEU_DTYPE_UINT16: TK_STORE(uint16_t, (uint16_t)src[i]); break;
    case TEEU_DTYPE_INT32: case TEEU_DTYPE_UINT32: TK_STORE(uint32_t, (uint32_t)src[i]); break;
    case TEEU_DTYPE_INT64: case TEEU_DTYPE_UINT64: TK_STORE(uint64_t, src[i]); break;
    default: break;
    }
}

void tk_store_c128(uint8_t *dst, ptrdiff_t stride, const tk_c128 *src, size_t n, teeu_dtype dt)
{
    if (dt == TEEU_DTYPE_COMPLEX64) {
        for (size_t i = 0; i < n; i++, dst += stride) {
            float parts[2] = {(float)src[i].re, (float)src[i].im};
            memcpy(dst, parts, sizeof(parts));
        }
    } else if (dt == TEEU_DTYPE_COMPLEX128) {
        for (size_t i = 0; i < n; i++, dst += stride) {
            double parts[2] = {src[i].re, src[i].im};
            memcpy(dst, parts, sizeof(parts));
        }
    }
}

/* ---- views --------------------------------------------------------------------- */

static teeu_status part_of(const teeu_ndarray *arr, tk_part *p)
{
    p->dtype = teeu_ndarray_dtype(arr);
    if (!tk_dtype_valid(p->dtype))
        return tu_error(TEEU_ERR_UNSUPPORTED, "input has an unknown dtype %d", (int)p->dtype);
    p->data = teeu_ndarray_data(arr);
    p->swap = teeu_dtype_size(p->dtype) > 1 && teeu_ndarray_byte_order(arr) != TK_NATIVE_ORDER;
    size_t nd = teeu_ndarray_ndim(arr);
    const ptrdiff_t *st = teeu_ndarray_strides(arr);
    for (size_t i = 0; i < nd; i++)
        p->strides[i] = st[i];
    return TEEU_OK;
}

teeu_status tk_view_of(const teeu_ndarray *arr, tk_view *v)
{
    memset(v, 0, sizeof(*v));
    size_t nd = teeu_ndarray_ndim(arr);
    if (nd > TK_MAX_DIMS)
        return tu_error(TEEU_ERR_UNSUPPORTED, "input has %zu dimensions, more than %d", nd, TK_MAX_DIMS);
    teeu_status st = part_of(arr, &v->one_part);
    if (st != TEEU_OK)
        return st;
    v->dtype = v->one_part.dtype;
    v->ndim = nd;
    const size_t *shape = teeu_ndarray_shape(arr);
    v->size = 1;
    for (size_t i = 0; i < nd; i++) {
        v->shape[i] = shape[i];
        v->size *= shape[i]; /* the ndarray layer guarantees the product fits */
    }
    v->nparts = 1;
    v->parts = &v->one_part;
    return TEEU_OK;
}

void tk_view_clear(tk_view *v)
{
    if (v->parts != NULL && v->parts != &v->one_part)
        free(v->parts);
    memset(v, 0, sizeof(*v));
}

void tk_shape_str(const size_t *shape, size_t ndim, char *buf, size_t cap)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "(");
    for (size_t i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, i == 0 ? "%zu" : ", %zu", shape[i]);
    if (o < cap)
        snprintf(buf + o, cap - o, ndim == 1 ? ",)" : ")");
}

static bool same_shape(const teeu_ndarray *a, const teeu_ndarray *b)
{
    size_t nd = teeu_ndarray_ndim(a);
    if (nd != teeu_ndarray_ndim(b))
        return false;
    return nd == 0 || memcmp(teeu_ndarray_shape(a), teeu_ndarray_shape(b), nd * sizeof(size_t)) == 0;
}

teeu_status tk_new_array(teeu_dtype dt, size_t ndim, const size_t *shape, teeu_ndarray **out)
{
    teeu_ndarray_desc desc;
    teeu_ndarray_desc_init(&desc, dt);
    desc.ndim = ndim;
    desc.shape = shape;
    return teeu_ndarray_new(&desc, out);
}

/* Copies n 0-d inputs into a new 1-D array of dtype dt. */
static teeu_status stack_scalars(const teeu_ndarray *const *in, size_t n, teeu_dtype dt, teeu_ndarray **out)
{
    size_t shape[1] = {n};
    teeu_status st = tk_new_array(dt, 1, shape, out);
    if (st != TEEU_OK)
        return st;
    uint8_t *dst = teeu_ndarray_data(*out);
    size_t es = teeu_dtype_size(dt);
    for (size_t i = 0; i < n; i++) {
        tk_part p;
        st = part_of(in[i], &p);
        if (st != TEEU_OK)
            break;
        tk_kind k = tk_dtype_kind(dt);
        if (k == TK_COMPLEX) {
            tk_c128 c;
            tk_load_c128(&c, p.data, 0, 1, p.dtype, p.swap);
            tk_store_c128(dst + i * es, 0, &c, 1, dt);
        } else if (k == TK_FLOAT) {
            double d;
            tk_load_f64(&d, p.data, 0, 1, p.dtype, p.swap);
            tk_store_f64(dst + i * es, 0, &d, 1, dt);
        } else {
            uint64_t u;
            tk_load_u64(&u, p.data, 0, 1, p.dtype, p.swap);
            tk_store_u64(dst + i * es, 0, &u, 1, dt);
        }
    }
    if (st != TEEU_OK) {
        teeu_ndarray_free(*out);
        *out = NULL;
    }
    return st;
}

teeu_status tk_view_of_list(const teeu_ndarray *const *in, size_t n, tk_view *v, teeu_ndarray **scratch)
{
    *scratch = NULL;
    memset(v, 0, sizeof(*v));
    if (n == 0)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "no input array");
    if (n == 1)
        return tk_view_of(in[0], v);
    teeu_dtype dt = teeu_ndarray_dtype(in[0]);
    for (size_t i = 0; i < n; i++) {
        if (!tk_dtype_valid(teeu_ndarray_dtype(in[i])))
            return tu_error(TEEU_ERR_UNSUPPORTED, "input %zu has an unknown dtype", i);
        dt = tk_promote(dt, teeu_ndarray_dtype(in[i]));
        if (!same_shape(in[0], in[i])) {
            char s0[256], si[256];
            tk_shape_str(teeu_ndarray_shape(in[0]), teeu_ndarray_ndim(in[0]), s0, sizeof(s0));
            tk_shape_str(teeu_ndarray_shape(in[i]), teeu_ndarray_ndim(in[i]), si, sizeof(si));
            return tu_error(TEEU_ERR_INVALID_ARGUMENT,
                            "setting an array element with a sequence: the list of inputs has an "
                            "inhomogeneous shape (input 0 is %s, input %zu is %s)", s0, i, si);
        }
    }
    size_t nd = teeu_ndarray_ndim(in[0]);
    if (nd == 0) {
        teeu_status st = stack_scalars(in, n, dt, scratch);
        if (st != TEEU_OK)
            return st;
        return tk_view_of(*scratch, v);
    }
    if (nd + 1 > TK_MAX_DIMS)
        return tu_error(TEEU_ERR_UNSUPPORTED, "stacking %zu-d inputs exceeds %d dimensions", nd, TK_MAX_DIMS);
    v->parts = calloc(n, sizeof(*v->parts));
    if (v->parts == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory for %zu inputs", n);
    for (size_t i = 0; i < n; i++) {
        teeu_status st = part_of(in[i], &v->parts[i]);
        if (st != TEEU_OK) {
            tk_view_clear(v);
            return st;
        }
    }
    v->dtype = dt;
    v->stacked = true;
    v->nparts = n;
    v->ndim = nd + 1;
    v->shape[0] = n;
    const size_t *shape = teeu_ndarray_shape(in[0]);
    size_t size = n;
    for (size_t i = 0; i < nd; i++) {
        v->shape[i + 1] = shape[i];
        if (tu_mul_overflows(size, shape[i], &size)) {
            tk_view_clear(v);
            return tu_error(TEEU_ERR_OVERFLOW, "stacked inputs have too many elements");
        }
    }
    v->size = size;
    return TEEU_OK;
}

/* ---- line iteration --------------------------------------------------------------- */

void tk_chunks_init(tk_chunks *c, const tk_view *v)
{
    memset(c, 0, sizeof(*c));
    c->v = v;
    c->line_len = v->ndim == 0 ? 1 : v->shape[v->ndim - 1];
    c->done = v->size == 0;
    c->first = true;
}

static const uint8_t *line_start(const tk_view *v, const size_t *idx, const tk_part **part, ptrdiff_t *stride)
{
    if (v->ndim == 0) {
        *part = &v->parts[0];
        *stride = 0;
        return v->parts[0].data;
    }
    const tk_part *p;
    const uint8_t *ptr;
    size_t first = 0;
    ptrdiff_t off = 0;
    if (v->stacked) {
        p = &v->parts[idx[0]];
        first = 1;
    } else {
        p = &v->parts[0];
    }
    for (size_t k = first; k + 1 < v->ndim; k++)
        off += (ptrdiff_t)idx[k] * p->strides[k - first];
    ptr = p->data + off;
    *stride = p->strides[v->ndim - 1 - first];
    *part = p;
    return ptr;
}

bool tk_chunks_next(tk_chunks *c)
{
    const tk_view *v = c->v;
    if (c->done)
        return false;
    if (c->first) {
        c->first = false;
        c->off = 0;
    } else {
        c->off += c->count;
        if (c->off >= c->line_len) {
            /* Next line: advance the outer index in C order. */
            c->off = 0;
            size_t k = v->ndim >= 1 ? v->ndim - 1 : 0;
            for (;;) {
                if (k == 0) {
                    c->done = true;
                    return false;
                }
                k--;
                if (++c->idx[k] < v->shape[k])
                    break;
                c->idx[k] = 0;
            }
        }
    }
    const tk_part *p;
    ptrdiff_t stride;
    const uint8_t *start = line_start(v, c->idx, &p, &stride);
    size_t left = c->line_len - c->off;
    c->count = left < TK_CHUNK ? left : TK_CHUNK;
    c->stride = stride;
    c->ptr = start + (ptrdiff_t)c->off * stride;
    c->dtype = p->dtype;
    c->swap = p->swap;
    return true;
}

/* ---- axes ----------------------------------------------------------------------------- */

teeu_status tk_norm_axis(int64_t axis, size_t ndim, size_t *out)
{
    int64_t nd = (int64_t)ndim;
    if (axis < -nd || axis >= nd)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "axis %lld is out of bounds for array of dimension %zu",
                        (long long)axis, ndim);
    *out = (size_t)(axis < 0 ? axis + nd : axis);
    return TEEU_OK;
}

teeu_status tk_axis_mask(const tk_axis *ax, size_t ndim, bool mask[TK_MAX_DIMS])
{
    memset(mask, 0, TK_MAX_DIMS * sizeof(bool));
    if (ax->all) {
        for (size_t i = 0; i < ndim; i++)
            mask[i] = true;
        return TEEU_OK;
    }
    for (size_t i = 0; i < ax->n; i++) {
        size_t a = 0;
        teeu_status st = tk_norm_axis(ax->v[i], ndim, &a);
        if (st != TEEU_OK)
            return st;
        if (mask[a])
            return tu_error(TEEU_ERR_INVALID_ARGUMENT, "duplicate value in 'axis'");
        mask[a] = true;
    }
    return TEEU_OK;
}
