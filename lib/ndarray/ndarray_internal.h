/*
 * libteeu ndarray layer — internals shared by the .npy codec, the streaming
 * encryptor (crypto/client layers), the tools and the tests.
 *
 * The streaming pieces let a caller produce or consume .npy bytes without
 * holding a second copy of the data:
 *   encode: tu_npy_plan_init, then tu_npy_header_encode (preamble + header),
 *           then the data section in any number of ranges with
 *           tu_npy_data_copy — or, when plan.zero_copy, straight from
 *           teeu_ndarray_data(arr) for plan.data_len bytes;
 *   decode: tu_npy_parse_header on the first bytes (it says how many it
 *           needs), tu_ndarray_new_from_info, then fill
 *           teeu_ndarray_data(arr) with info.data_len bytes.
 */
#ifndef TEEU_NDARRAY_INTERNAL_H
#define TEEU_NDARRAY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <teeu/ndarray.h>

/** "\x93NUMPY" + major + minor. */
#define TU_NPY_MAGIC_LEN 8
/** Largest header (preamble excluded) libteeu reads or writes, any version. */
#define TU_NPY_MAX_HEADER_LEN 65535u
/** numpy's alignment of the data section (format.ARRAY_ALIGN). */
#define TU_NPY_ALIGN 64u
/** Largest preamble + header: magic, 4-byte length, header. */
#define TU_NPY_MAX_PREAMBLE_HEADER (TU_NPY_MAGIC_LEN + 4u + TU_NPY_MAX_HEADER_LEN)

/*
 * The array object. Only lib/ndarray touches its fields; other layers use
 * the public accessors.
 */
struct teeu_ndarray {
    teeu_dtype dtype;
    teeu_byte_order byte_order;  /* LITTLE or BIG, resolved at creation */
    size_t itemsize;
    size_t ndim;
    size_t size;                 /* product of shape */
    size_t shape[TEEU_NDARRAY_MAX_DIMS];
    ptrdiff_t strides[TEEU_NDARRAY_MAX_DIMS];
    uint8_t *data;               /* element 0 */
    void *owned;                 /* storage freed with the array, or NULL for a view */
};

/** Most bytes tu_npy_header_encode ever writes (64 dims of 20 digits fit). */
#define TU_NPY_MAX_ENCODED_HEADER 4096u

/** How an array's data section is written. */
typedef struct tu_npy_plan {
    const teeu_ndarray *arr;
    teeu_byte_order byte_order; /**< byte order written (LITTLE/BIG) */
    bool fortran_order;         /**< header's fortran_order */
    bool swap;                  /**< elements are byte swapped on the way out */
    bool contiguous;            /**< memory order equals the written element order */
    bool zero_copy;             /**< contiguous && !swap: data can be sent as is */
    size_t data_len;            /**< bytes of the data section */
    unsigned format_major;      /**< 0 = automatic, else forced 1..3 */
} tu_npy_plan;

/** Checks opts (NULL = defaults) and decides how arr is written. */
teeu_status tu_npy_plan_init(const teeu_ndarray *arr, const teeu_npy_encode_options *opts,
                             tu_npy_plan *plan);

/**
 * Writes the preamble (magic, version, header length) and the padded header
 * for plan into buf[0..cap); *len gets the count, which is a multiple of 64.
 * TEEU_ERR_BUFFER_TOO_SMALL if cap is short (TU_NPY_MAX_ENCODED_HEADER
 * always suffices).
 */
teeu_status tu_npy_header_encode(const tu_npy_plan *plan, uint8_t *buf, size_t cap, size_t *len);

/** Bytes tu_npy_header_encode writes for plan. */
teeu_status tu_npy_header_size(const tu_npy_plan *plan, size_t *len);

/**
 * Copies bytes [offset, offset + n) of plan's data section into dst
 * (gathering strided views, byte swapping as planned). The range must lie
 * within plan->data_len; any offset works, also inside an element.
 */
void tu_npy_data_copy(const tu_npy_plan *plan, size_t offset, void *dst, size_t n);

/**
 * The caller's memory holding byte offset of plan's data section and all
 * bytes after it, when the plan writes the array as it lies (zero_copy);
 * NULL otherwise (strided or byte-swapped: use tu_npy_data_copy).
 */
const uint8_t *tu_npy_data_span(const tu_npy_plan *plan, size_t offset);

/**
 * Parses and checks the preamble and header at the start of bytes[0..len).
 * Fills info except data_len checks against the input (info->data_len is
 * what the header promises) and info->compressed (0). When the header is
 * incomplete returns TEEU_ERR_NPY_TRUNCATED and, if need is not NULL, sets
 * *need to the byte count required to go further (0 when unknown).
 */
teeu_status tu_npy_parse_header(const uint8_t *bytes, size_t len, teeu_npy_info *info, size_t *need);

/**
 * A new array owning zero-filled memory laid out as info describes (dtype,
 * byte order, shape, fortran_order): fill teeu_ndarray_data() with exactly
 * info->data_len bytes of .npy data section.
 */
teeu_status tu_ndarray_new_from_info(const teeu_npy_info *info, teeu_ndarray **out);

/** True if bytes start with the zstd frame magic 28 B5 2F FD. */
bool tu_npy_is_zstd(const uint8_t *bytes, size_t len);

/** Size in bytes of the byte-swap unit of dtype (half an element for complex). */
size_t tu_dtype_swap_unit(teeu_dtype dtype);

/** numpy's descr type code for dtype ("f8", "c16", "b1"...); NULL if unknown. */
const char *tu_dtype_code(teeu_dtype dtype);

/** The host's byte order (LITTLE or BIG). */
teeu_byte_order tu_native_byte_order(void);

/* ---- streaming zstd encoder ------------------------------------------------------ */

/**
 * Produces the zstd-compressed .npy of an array piece by piece: exactly the
 * framing teeu_ndarray_encode writes with TEEU_NPY_ZSTD (one frame, content
 * size and checksum set), so every decoder that accepts that accepts this.
 * The array is read in place (gathered or byte swapped through a 256 KiB
 * chunk when it is not contiguous as written); nothing else is buffered but
 * zstd's own context, whose window, hash and chain tables are capped
 * (TU_NPY_ZSTD_MAX_LOG) so that its memory stays below ~20 MiB at every
 * level (tu_npy_zstd_memory says how much). The array must stay valid and
 * unchanged until the stream is freed.
 */
typedef struct tu_npy_zstd tu_npy_zstd;

/** Cap on zstd's windowLog, hashLog and chainLog for the streaming encoder. */
#define TU_NPY_ZSTD_MAX_LOG 21

/** A stream for arr at level (0 = zstd's default; 1..22). Free with tu_npy_zstd_free. */
teeu_status tu_npy_zstd_new(const teeu_ndarray *arr, int level, tu_npy_zstd **out);

/** Upper bound on the total bytes the stream produces (teeu_ndarray_encoded_size's zstd bound). */
size_t tu_npy_zstd_bound(const tu_npy_zstd *z);

/** zstd's estimate of its context memory for this stream, in bytes. */
size_t tu_npy_zstd_memory(const tu_npy_zstd *z);

/**
 * Writes the next compressed bytes to dst: fills all cap bytes unless the
 * frame ends first. *n gets the count, *end is set when these are the last
 * bytes of the frame (the stream holds nothing more). Reading after the end
 * gives *n = 0 and *end.
 */
teeu_status tu_npy_zstd_read(tu_npy_zstd *z, uint8_t *dst, size_t cap, size_t *n, bool *end);

/** Restarts the stream from its first byte (it then produces the same bytes again). */
teeu_status tu_npy_zstd_rewind(tu_npy_zstd *z);

void tu_npy_zstd_free(tu_npy_zstd *z);

/**
 * Whether compressing arr is worth its CPU: compresses the first `sample`
 * bytes of its .npy (header, then data) at zstd level 1 into a scratch
 * buffer and sets *worth when they shrink by at least 10%. Arrays whose
 * .npy is under 2 * sample bytes are always worth it (*worth = true,
 * nothing is compressed). Costs about a millisecond per MiB of sample.
 */
teeu_status tu_npy_zstd_probe(const teeu_ndarray *arr, size_t sample, bool *worth);

#endif /* TEEU_NDARRAY_INTERNAL_H */
