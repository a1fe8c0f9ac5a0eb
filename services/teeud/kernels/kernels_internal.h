/*
 * teeud kernels — internal interfaces between the identity layer (params,
 * registry) and the compute code (views, dtype rules, kernels).
 */
#ifndef TEEU_KERNELS_INTERNAL_H
#define TEEU_KERNELS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <teeu/ndarray.h>

#include "core/core_internal.h"
#include "kernels.h"

#define TK_MAX_DIMS TEEU_NDARRAY_MAX_DIMS

/* ---- params JSON ---------------------------------------------------------- */
/*
 * The params JSON parser and canonical writer live in lib/func (shared with
 * the client, so a data party and teeud hash the same descriptor bytes);
 * the kernels keep their historical tk_ names as aliases.
 */
#include "func/func_internal.h"

typedef tu_jtype tk_jtype;
typedef tu_jvalue tk_jvalue;
typedef tu_jmember tk_jmember;
typedef tu_jobject tk_jobject;
#define TK_J_NULL TU_J_NULL
#define TK_J_BOOL TU_J_BOOL
#define TK_J_INT TU_J_INT
#define TK_J_STRING TU_J_STRING
#define TK_J_ARRAY TU_J_ARRAY
#define TK_JSON_MAX_KEYS TU_PJSON_MAX_KEYS
#define TK_JSON_MAX_ARRAY TU_PJSON_MAX_ARRAY
#define TK_JSON_MAX_STRING TU_PJSON_MAX_STRING
#define tk_json_parse_object tu_params_json_parse
#define tk_json_object_clear tu_params_json_clear
#define tk_json_write_canonical tu_params_json_write_canonical

/* ---- parsed kernel parameters -------------------------------------------- */

/** An axis parameter: absent/null (all axes), one int, or a tuple of ints. */
typedef struct tk_axis {
    bool all;          /* null or absent */
    bool tuple;        /* given as a JSON array */
    size_t n;          /* entries in v when not all */
    int64_t v[TK_MAX_DIMS];
} tk_axis;

typedef struct tk_params {
    tk_axis axis;
    bool axis_given;
    int64_t ddof;
    bool weights;
} tk_params;

/* ---- arrays as the kernels see them -------------------------------------- */

/** One strided, possibly byte-swapped, read-only array. */
typedef struct tk_part {
    const uint8_t *data;
    teeu_dtype dtype;
    bool swap;                       /* byte order differs from native */
    ptrdiff_t strides[TK_MAX_DIMS];  /* for the part's own dims */
} tk_part;

/**
 * A logical array. When stacked, axis 0 selects one of `nparts` parts and
 * the remaining ndim-1 axes index into that part; otherwise there is one
 * part covering all ndim axes. `dtype` is the logical (promoted) dtype.
 */
typedef struct tk_view {
    teeu_dtype dtype;
    size_t ndim;
    size_t shape[TK_MAX_DIMS];
    size_t size;
    bool stacked;
    size_t nparts;
    tk_part *parts;       /* points at one_part or at an allocated array */
    tk_part one_part;
} tk_view;

/** Builds a view of one array. */
teeu_status tk_view_of(const teeu_ndarray *arr, tk_view *v);
/**
 * Builds the view numpy's np.asarray([a, b, ...]) gives: one input is
 * itself; several same-shape inputs are stacked on a new axis 0, with the
 * promoted dtype. 0-d inputs are copied into *scratch (free it with
 * teeu_ndarray_free after the view is done).
 */
teeu_status tk_view_of_list(const teeu_ndarray *const *in, size_t n, tk_view *v, teeu_ndarray **scratch);
void tk_view_clear(tk_view *v);
/**
 * Reshapes a single-part view to (nd, shape) (numpy broadcasting: leading
 * axes added, size-1 axes repeated with zero strides). The caller has
 * checked the shapes are compatible.
 */
void tk_view_broadcast(tk_view *v, size_t nd, const size_t *shape);
/**
 * Copies every element of v (C order of its shape) into out_data of
 * out_dt: element idx lands at base + sum(idx[k] * estride[k]) (elements).
 */
void tk_copy_into(uint8_t *out_data, teeu_dtype out_dt, const size_t *estride, size_t base, const tk_view *v);

/** Elements loaded per chunk: bounds the scratch memory of every kernel. */
#define TK_CHUNK 4096

/**
 * Walks a view in C order, one chunk of at most TK_CHUNK elements of a
 * line (the last axis) at a time. After tk_chunks_next returns true, idx
 * holds the line's outer index (dims 0..ndim-2), off the chunk's offset
 * in the line, and ptr/stride/count/dtype/swap describe its elements.
 */
typedef struct tk_chunks {
    const tk_view *v;
    size_t idx[TK_MAX_DIMS];
    size_t off;
    size_t line_len;
    bool done;
    bool first;
    const uint8_t *ptr;
    ptrdiff_t stride;
    size_t count;
    teeu_dtype dtype;
    bool swap;
} tk_chunks;

void tk_chunks_init(tk_chunks *c, const tk_view *v);
bool tk_chunks_next(tk_chunks *c);

/* ---- dtype classes and promotion ----------------------------------------- */

typedef enum tk_kind { TK_BOOL, TK_INT, TK_UINT, TK_FLOAT, TK_COMPLEX } tk_kind;

tk_kind tk_dtype_kind(teeu_dtype dt);
/** numpy's np.promote_types. */
teeu_dtype tk_promote(teeu_dtype a, teeu_dtype b);
/** Real dtype of the same precision (complex64 -> float32). */
teeu_dtype tk_real_of(teeu_dtype dt);
bool tk_dtype_valid(teeu_dtype dt);

/* ---- line conversion ----------------------------------------------------- */

typedef struct tk_c128 {
    double re, im;
} tk_c128;

/* Load n elements at src (byte stride) of dtype into a native buffer. */
void tk_load_f64(double *dst, const uint8_t *src, ptrdiff_t stride, size_t n, teeu_dtype dt, bool swap);
void tk_load_i64(int64_t *dst, const uint8_t *src, ptrdiff_t stride, size_t n, teeu_dtype dt, bool swap);
void tk_load_u64(uint64_t *dst, const uint8_t *src, ptrdiff_t stride, size_t n, teeu_dtype dt, bool swap);
void tk_load_c128(tk_c128 *dst, const uint8_t *src, ptrdiff_t stride, size_t n, teeu_dtype dt, bool swap);

/* Store n values into native memory of dtype, stride bytes apart. */
void tk_store_f64(uint8_t *dst, ptrdiff_t stride, const double *src, size_t n, teeu_dtype dt);
void tk_store_u64(uint8_t *dst, ptrdiff_t stride, const uint64_t *src, size_t n, teeu_dtype dt);
void tk_store_c128(uint8_t *dst, ptrdiff_t stride, const tk_c128 *src, size_t n, teeu_dtype dt);

/** a / b by Smith's algorithm, as numpy divides complex numbers (NaN/inf included). */
tk_c128 tk_c_div(tk_c128 a, tk_c128 b);
/** tk_c_div in dt's precision: float arithmetic for complex64, as numpy. */
tk_c128 tk_c_div_dt(tk_c128 a, tk_c128 b, teeu_dtype dt);

uint16_t tk_f64_to_f16(double d);
double tk_f16_to_f64(uint16_t h);
/** Rounds d to dtype's precision (float16/32/64) and back. */
double tk_round_to(double d, teeu_dtype dt);

/* ---- helpers -------------------------------------------------------------- */

/** A new owned C-ordered native array. */
teeu_status tk_new_array(teeu_dtype dt, size_t ndim, const size_t *shape, teeu_ndarray **out);
/** Formats a shape as numpy prints it: "(2, 3)", "(4,)", "()". */
void tk_shape_str(const size_t *shape, size_t ndim, char *buf, size_t cap);
/** Normalises an axis (negative counts from the end); numpy's AxisError text. */
teeu_status tk_norm_axis(int64_t axis, size_t ndim, size_t *out);
/**
 * Resolves an axis parameter into a reduced-axis mask; numpy's errors for
 * out-of-range and duplicate entries.
 */
teeu_status tk_axis_mask(const tk_axis *ax, size_t ndim, bool mask[TK_MAX_DIMS]);

/* ---- the kernels ---------------------------------------------------------- */

typedef teeu_status (*tk_kernel_impl)(const tk_params *p, const teeu_ndarray *const *in, size_t n,
                                       teeu_ndarray **out);

teeu_status tk_sum(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out);
teeu_status tk_mean(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out);
teeu_status tk_average(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out);
teeu_status tk_min(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out);
teeu_status tk_max(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out);
teeu_status tk_var(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out);
teeu_status tk_std(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out);
teeu_status tk_count(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out);
teeu_status tk_concatenate(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out);
teeu_status tk_stack(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out);
teeu_status tk_add(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out);
teeu_status tk_subtract(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out);
teeu_status tk_multiply(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out);
teeu_status tk_divide(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out);
teeu_status tk_matmul(const tk_params *p, const teeu_ndarray *const *in, size_t n, teeu_ndarray **out);

#endif /* TEEU_KERNELS_INTERNAL_H */
