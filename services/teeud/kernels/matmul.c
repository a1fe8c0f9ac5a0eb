/*
 * np.matmul: 2-D products, stacks of matrices with broadcast batch
 * dimensions, and numpy's 1-D rules (a 1-D left operand is a row vector,
 * a 1-D right operand a column vector, and that axis is dropped from the
 * result). Each batch's operands are loaded into native buffers once.
 */
#include <stdlib.h>
#include <string.h>

#include "kernels_internal.h"

#define TK_MATMUL_SIG "(n?,k),(k,m?)->(n?,m?)"

typedef struct tk_mat {
    tk_view v;
    size_t rows, cols;      /* core matrix after the 1-D rule */
    ptrdiff_t rs, cs;       /* byte strides of the core matrix */
    size_t nbatch;          /* leading batch dims */
} tk_mat;

static void mat_core(tk_mat *m, bool left)
{
    const tk_view *v = &m->v;
    const ptrdiff_t *s = v->one_part.strides;
    if (v->ndim == 1) {
        if (left) {
            m->rows = 1; m->cols = v->shape[0]; m->rs = 0; m->cs = s[0];
        } else {
            m->rows = v->shape[0]; m->cols = 1; m->rs = s[0]; m->cs = 0;
        }
        m->nbatch = 0;
        return;
    }
    m->rows = v->shape[v->ndim - 2];
    m->cols = v->shape[v->ndim - 1];
    m->rs = s[v->ndim - 2];
    m->cs = s[v->ndim - 1];
    m->nbatch = v->ndim - 2;
}

/* Loads a rows x cols matrix at base into dst (row-major) in the class of kind k. */
static void load_matrix(void *dst, tk_kind k, const tk_mat *m, const uint8_t *base)
{
    const tk_part *p = &m->v.one_part;
    for (size_t r = 0; r < m->rows; r++) {
        const uint8_t *row = base + (ptrdiff_t)r * m->rs;
        size_t at = r * m->cols;
        if (k == TK_COMPLEX)
            tk_load_c128((tk_c128 *)dst + at, row, m->cs, m->cols, p->dtype, p->swap);
        else if (k == TK_FLOAT)
            tk_load_f64((double *)dst + at, row, m->cs, m->cols, p->dtype, p->swap);
        else
            tk_load_u64((uint64_t *)dst + at, row, m->cs, m->cols, p->dtype, p->swap);
    }
}

static void multiply(tk_kind k, const void *A, const void *B, void *C, size_t n, size_t kk, size_t m)
{
    if (k == TK_COMPLEX) {
        const tk_c128 *a = A, *b = B;
        tk_c128 *c = C;
        memset(c, 0, n * m * sizeof(*c));
        for (size_t i = 0; i < n; i++)
            for (size_t p = 0; p < kk; p++) {
                tk_c128 x = a[i * kk + p];
                for (size_t j = 0; j < m; j++) {
                    tk_c128 y = b[p * m + j];
                    c[i * m + j].re += x.re * y.re - x.im * y.im;
                    c[i * m + j].im += x.re * y.im + x.im * y.re;
                }
            }
    } else if (k == TK_FLOAT) {
        const double *a = A, *b = B;
        double *c = C;
        memset(c, 0, n * m * sizeof(*c));
        for (size_t i = 0; i < n; i++)
            for (size_t p = 0; p < kk; p++) {
                double x = a[i * kk + p];
                for (size_t j = 0; j < m; j++)
                    c[i * m + j] += x * b[p * m + j];
            }
    } else {
        const uint64_t *a = A, *b = B;
        uint64_t *c = C;
        memset(c, 0, n * m * sizeof(*c));
        for (size_t i = 0; i < n; i++)
            for (size_t p = 0; p < kk; p++) {
                uint64_t x = a[i * kk + p];
                for (size_t j = 0; j < m; j++) {
                    if (k == TK_BOOL)
                        c[i * m + j] |= x & b[p * m + j];
                    else
                        c[i * m + j] += x * b[p * m + j];
                }
            }
    }
}

teeu_status tk_matmul(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out)
{
    (void)p;
    if (n != 2)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "matmul takes 2 inputs, got %zu", n);
    tk_mat a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    teeu_status st = tk_view_of(in[0], &a.v);
    if (st == TEEU_OK)
        st = tk_view_of(in[1], &b.v);
    if (st != TEEU_OK)
        return st;
    for (int i = 0; i < 2; i++) {
        const tk_view *v = i == 0 ? &a.v : &b.v;
        if (v->ndim == 0)
            return tu_error(TEEU_ERR_INVALID_ARGUMENT,
                            "matmul: Input operand %d does not have enough dimensions (has 0, gufunc core "
                            "with signature " TK_MATMUL_SIG " requires 1)", i);
    }
    mat_core(&a, true);
    mat_core(&b, false);
    if (a.cols != b.rows)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT,
                        "matmul: Input operand 1 has a mismatch in its core dimension 0, with gufunc "
                        "signature " TK_MATMUL_SIG " (size %zu is different from %zu)", b.rows, a.cols);
    /* Broadcast the batch dimensions. */
    size_t nb = a.nbatch > b.nbatch ? a.nbatch : b.nbatch;
    size_t bshape[TK_MAX_DIMS];
    ptrdiff_t as[TK_MAX_DIMS], bs[TK_MAX_DIMS];
    size_t nbatches = 1;
    for (size_t i = 0; i < nb; i++) {
        size_t ia = i + a.nbatch, ib = i + b.nbatch; /* i counted from the left of nb */
        size_t da = ia >= nb ? a.v.shape[ia - nb] : 1;
        size_t db = ib >= nb ? b.v.shape[ib - nb] : 1;
        if (da != db && da != 1 && db != 1) {
            char sa[256], sb[256];
            tk_shape_str(a.v.shape, a.v.ndim, sa, sizeof(sa));
            tk_shape_str(b.v.shape, b.v.ndim, sb, sizeof(sb));
            return tu_error(TEEU_ERR_INVALID_ARGUMENT,
                            "matmul: operands could not be broadcast together: batch dimensions of %s and %s "
                            "differ", sa, sb);
        }
        bshape[i] = da == 1 ? db : da;
        as[i] = ia >= nb && da == bshape[i] ? a.v.one_part.strides[ia - nb] : 0;
        bs[i] = ib >= nb && db == bshape[i] ? b.v.one_part.strides[ib - nb] : 0;
        if (tu_mul_overflows(nbatches, bshape[i], &nbatches))
            return tu_error(TEEU_ERR_OVERFLOW, "matmul: result too large");
    }
    size_t oshape[TK_MAX_DIMS], ond = nb;
    memcpy(oshape, bshape, nb * sizeof(size_t));
    if (a.v.ndim > 1)
        oshape[ond++] = a.rows;
    if (b.v.ndim > 1)
        oshape[ond++] = b.cols;
    teeu_dtype rt = tk_promote(a.v.dtype, b.v.dtype);
    tk_kind k = tk_dtype_kind(rt);
    size_t el = k == TK_COMPLEX ? sizeof(tk_c128) : 8;
    size_t na, nbm, nc;
    if (tu_mul_overflows(a.rows, a.cols, &na) || tu_mul_overflows(b.rows, b.cols, &nbm) ||
        tu_mul_overflows(a.rows, b.cols, &nc))
        return tu_error(TEEU_ERR_OVERFLOW, "matmul: operands too large");
    st = tk_new_array(rt, ond, oshape, out);
    if (st != TEEU_OK)
        return st;
    void *A = tu_alloc_array(na ? na : 1, el), *B = tu_alloc_array(nbm ? nbm : 1, el);
    void *C = tu_alloc_array(nc ? nc : 1, el);
    if (A == NULL || B == NULL || C == NULL) {
        st = tu_error(TEEU_ERR_NOMEM, "matmul: out of memory for %zu x %zu and %zu x %zu operands", a.rows,
                      a.cols, b.rows, b.cols);
        goto done;
    }
    uint8_t *dst = teeu_ndarray_data(*out);
    size_t es = teeu_dtype_size(rt);
    size_t idx[TK_MAX_DIMS] = {0};
    for (size_t t = 0; t < nbatches && nc > 0; t++) {
        ptrdiff_t ao = 0, bo = 0;
        for (size_t i = 0; i < nb; i++) {
            ao += (ptrdiff_t)idx[i] * as[i];
            bo += (ptrdiff_t)idx[i] * bs[i];
        }
        load_matrix(A, k, &a, a.v.one_part.data + ao);
        load_matrix(B, k, &b, b.v.one_part.data + bo);
        multiply(k, A, B, C, a.rows, a.cols, b.cols);
        if (k == TK_COMPLEX)
            tk_store_c128(dst, (ptrdiff_t)es, C, nc, rt);
        else if (k == TK_FLOAT)
            tk_store_f64(dst, (ptrdiff_t)es, C, nc, rt);
        else
            tk_store_u64(dst, (ptrdiff_t)es, C, nc, rt);
        dst += nc * es;
        for (size_t i = nb; i-- > 0;) {
            if (++idx[i] < bshape[i])
                break;
            idx[i] = 0;
        }
    }
done:
    free(A);
    free(B);
    free(C);
    if (st != TEEU_OK) {
        teeu_ndarray_free(*out);
        *out = NULL;
    }
    return st;
}
