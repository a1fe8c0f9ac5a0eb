/*
 * teeud kernels — numpy-compatible compute functions and their identity.
 *
 * A function is named by a descriptor "name@version{params}" whose params
 * are canonical JSON (sorted keys, no spaces), e.g. `average@1{"axis":1}`.
 * Its identity hash is base64(SHA-256(descriptor)): the value the
 * AuthManager authorizes. Parsing a descriptor validates it against the
 * kernel's allowed parameters and canonicalises it, so equivalent
 * spellings (`average@1{ "axis" : 1 }`) get the same identity.
 *
 * Kernels follow numpy 1.24 semantics (dtype promotion, axis handling,
 * errors); see docs/kernels.md. Inputs are any teeu_ndarray (any byte
 * order, strides or layout); results are new owned, C-ordered,
 * native-endian arrays.
 *
 * Thread safety: there is no global mutable state; a tu_kernel_fn is
 * immutable once found and may run on several threads at once. A kernel
 * uses up to 128 KiB of stack for its chunk buffers: give worker threads
 * at least 256 KiB.
 */
#ifndef TEEU_KERNELS_H
#define TEEU_KERNELS_H

#include <stddef.h>

#include <teeu/ndarray.h>
#include <teeu/status.h>

/** Characters of an identity hash: base64 of 32 bytes, without the NUL. */
#define TU_KERNEL_IDENTITY_LEN 44

/** Longest descriptor accepted, in bytes. */
#define TU_KERNEL_DESCRIPTOR_MAX 4096

/** Most input arrays one call takes. */
#define TU_KERNEL_MAX_INPUTS 1024

/** A parsed, validated, canonical function: a kernel plus its parameters. */
typedef struct tu_kernel_fn tu_kernel_fn;

/**
 * Parses a descriptor "name@version{json}" (JSON may contain spaces and
 * keys in any order), checks the kernel exists at that version and that
 * every parameter is known and well-typed. *out is freed with
 * tu_kernel_fn_free. Errors: TEEU_ERR_UNSUPPORTED (unknown kernel or
 * version), TEEU_ERR_JSON (malformed params), TEEU_ERR_INVALID_ARGUMENT
 * (unknown or ill-typed param), TEEU_ERR_LIMIT (descriptor too long).
 */
teeu_status tu_kernel_find(const char *descriptor, tu_kernel_fn **out);

/** As tu_kernel_find from the parts; params_json NULL or "" means {}. */
teeu_status tu_kernel_find_parts(const char *name, unsigned version, const char *params_json,
                                 tu_kernel_fn **out);

void tu_kernel_fn_free(tu_kernel_fn *fn);

/** The canonical descriptor, owned by fn. */
const char *tu_kernel_fn_descriptor(const tu_kernel_fn *fn);
/** The identity hash (TU_KERNEL_IDENTITY_LEN chars), owned by fn. */
const char *tu_kernel_fn_identity(const tu_kernel_fn *fn);

typedef struct tu_kernel_info tu_kernel_info;
/** The kernel fn runs (name, version, params help), static storage. */
const tu_kernel_info *tu_kernel_fn_info(const tu_kernel_fn *fn);
/**
 * Inputs fn accepts: [*min_inputs, *max_inputs] (average with weights
 * needs one more, for the weights).
 */
void tu_kernel_fn_input_range(const tu_kernel_fn *fn, size_t *min_inputs, size_t *max_inputs);

/**
 * Runs fn over inputs[0..n_inputs). Several inputs to a reduction are
 * stacked on a new axis 0 first (numpy's list argument); for average with
 * "weights":true the last input is the weights. *out is a new owned
 * array (teeu_ndarray_free). Errors carry numpy-like messages:
 * TEEU_ERR_INVALID_ARGUMENT (shapes, axes, input count),
 * TEEU_ERR_UNSUPPORTED (an operation numpy refuses for a dtype),
 * TEEU_ERR_OVERFLOW / TEEU_ERR_NOMEM (sizes).
 */
teeu_status tu_kernel_run(const tu_kernel_fn *fn, const teeu_ndarray *const *inputs, size_t n_inputs,
                          teeu_ndarray **out);

/**
 * Identity hash of an already canonical descriptor string: writes
 * TU_KERNEL_IDENTITY_LEN chars and a NUL to out.
 */
teeu_status tu_kernel_identity(const char *descriptor, char out[TU_KERNEL_IDENTITY_LEN + 1]);

/**
 * Canonical form of a params JSON object: sorted keys, no spaces, integers
 * in plain decimal, strings with minimal escapes. *out is freed with free().
 * Accepts the subset kernels use: objects at the top, ints, null, bools,
 * strings, arrays of those; floats and nested objects are refused.
 */
teeu_status tu_kernel_params_canonical(const char *json, size_t len, char **out);

/** One registered kernel, for listings. */
struct tu_kernel_info {
    const char *name;
    unsigned version;
    const char *params;   /**< human description of the allowed params */
    const char *summary;  /**< one line: what it computes */
};

/** Number of registered kernels. */
size_t tu_kernel_count(void);
/** Kernel i (0 <= i < tu_kernel_count()), NULL past the end. */
const tu_kernel_info *tu_kernel_info_at(size_t i);

/**
 * Writes one line per kernel: "<descriptor with default params> <identity>
 * <params description>", as `teeud --list-kernels` prints. *out is freed
 * with free().
 */
teeu_status tu_kernel_list(char **out);

#endif /* TEEU_KERNELS_H */
