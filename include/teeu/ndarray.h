/*
 * libteeu — numpy-compatible n-dimensional arrays and the .npy codec.
 *
 * A teeu_ndarray describes an array: element type (dtype), byte order,
 * shape, byte strides, and a data pointer that it either borrows (a view
 * over caller memory, never copied) or owns (freed by teeu_ndarray_free).
 *
 * The .npy codec reads and writes numpy's format versions 1.0, 2.0 and 3.0
 * exactly as numpy.save/numpy.load do. Untrusted input is checked strictly:
 * every malformed header or length gives its own TEEU_ERR_NPY_* status and
 * a detail message (teeu_last_error()). Optionally the .npy bytes are
 * wrapped in one zstd frame; decoding detects the frame by its magic and
 * refuses output above a caller-set bound.
 */
#ifndef TEEU_NDARRAY_H
#define TEEU_NDARRAY_H

#include <stddef.h>
#include <stdint.h>

#include <teeu/export.h>
#include <teeu/status.h>

TEEU_BEGIN_DECLS

/** Element types: numpy's bool, int8..int64, uint8..uint64, float16/32/64, complex64/128. */
typedef enum teeu_dtype {
    TEEU_DTYPE_BOOL = 1,
    TEEU_DTYPE_INT8 = 2,
    TEEU_DTYPE_INT16 = 3,
    TEEU_DTYPE_INT32 = 4,
    TEEU_DTYPE_INT64 = 5,
    TEEU_DTYPE_UINT8 = 6,
    TEEU_DTYPE_UINT16 = 7,
    TEEU_DTYPE_UINT32 = 8,
    TEEU_DTYPE_UINT64 = 9,
    TEEU_DTYPE_FLOAT16 = 10,
    TEEU_DTYPE_FLOAT32 = 11,
    TEEU_DTYPE_FLOAT64 = 12,
    TEEU_DTYPE_COMPLEX64 = 13,
    TEEU_DTYPE_COMPLEX128 = 14
} teeu_dtype;

/** Byte order of multi-byte elements. Single-byte dtypes ignore it. */
typedef enum teeu_byte_order {
    TEEU_BYTE_ORDER_NATIVE = 0, /**< resolved to LITTLE or BIG when an array is made */
    TEEU_BYTE_ORDER_LITTLE = 1,
    TEEU_BYTE_ORDER_BIG = 2
} teeu_byte_order;

/** Memory order of a contiguous array. */
typedef enum teeu_layout {
    TEEU_LAYOUT_C = 0,       /**< row-major: last index varies fastest */
    TEEU_LAYOUT_FORTRAN = 1  /**< column-major: first index varies fastest */
} teeu_layout;

/** Most dimensions an array may have (numpy 2's limit). */
#define TEEU_NDARRAY_MAX_DIMS 64

typedef struct teeu_ndarray teeu_ndarray;

/** Full description of an array, for teeu_ndarray_view_desc / teeu_ndarray_new. */
typedef struct teeu_ndarray_desc {
    teeu_dtype dtype;
    teeu_byte_order byte_order;  /**< NATIVE is the usual choice */
    size_t ndim;                 /**< 0 for a scalar (0-d array) */
    const size_t *shape;         /**< ndim entries; may be NULL when ndim is 0 */
    /**
     * Byte strides, ndim entries, possibly negative or zero (numpy's
     * strides). NULL means contiguous in `layout` order.
     */
    const ptrdiff_t *strides;
    teeu_layout layout;          /**< used when strides is NULL */
    /**
     * Byte offset of element 0 (index 0 on every axis) from the data
     * pointer given to teeu_ndarray_view_desc. Needed with negative
     * strides, whose elements lie before element 0; 0 by default.
     */
    size_t offset;
} teeu_ndarray_desc;

/** Fills a description with defaults: native byte order, C layout, 0-d, no strides, offset 0. */
TEEU_API void teeu_ndarray_desc_init(teeu_ndarray_desc *desc, teeu_dtype dtype);

/** Bytes per element of dtype (1..16); 0 for an unknown dtype. */
TEEU_API size_t teeu_dtype_size(teeu_dtype dtype);
/** numpy's name: "bool", "int8", ..., "complex128"; "unknown" otherwise. */
TEEU_API const char *teeu_dtype_name(teeu_dtype dtype);

/**
 * A C-ordered, native-endian view over caller memory: the common case.
 * data_len must equal the product of shape times the element size. The
 * caller keeps ownership of data, which must outlive *out. Nothing is
 * copied.
 */
TEEU_API teeu_status teeu_ndarray_view(teeu_dtype dtype, size_t ndim, const size_t *shape,
                                       const void *data, size_t data_len, teeu_ndarray **out);

/**
 * A view described in full (any byte order, layout or strides). Element 0
 * is at data + desc->offset. Every byte of every element reachable through
 * shape and strides must lie in [data, data + data_len); otherwise
 * TEEU_ERR_NPY_LAYOUT. data may be NULL only for an array with no
 * elements. The caller keeps ownership of data, which must outlive *out.
 */
TEEU_API teeu_status teeu_ndarray_view_desc(const teeu_ndarray_desc *desc, const void *data,
                                            size_t data_len, teeu_ndarray **out);

/**
 * A new array owning zero-filled, contiguous memory (desc->strides must be
 * NULL). Fill it through teeu_ndarray_data().
 */
TEEU_API teeu_status teeu_ndarray_new(const teeu_ndarray_desc *desc, teeu_ndarray **out);

/** Frees the array and, if it owns its data, the data. NULL is a no-op. */
TEEU_API void teeu_ndarray_free(teeu_ndarray *arr);

TEEU_API teeu_dtype teeu_ndarray_dtype(const teeu_ndarray *arr);
/** LITTLE or BIG (never NATIVE). */
TEEU_API teeu_byte_order teeu_ndarray_byte_order(const teeu_ndarray *arr);
TEEU_API size_t teeu_ndarray_ndim(const teeu_ndarray *arr);
/** ndim entries, owned by the array (NULL when ndim is 0). */
TEEU_API const size_t *teeu_ndarray_shape(const teeu_ndarray *arr);
/** ndim byte strides, owned by the array (NULL when ndim is 0). */
TEEU_API const ptrdiff_t *teeu_ndarray_strides(const teeu_ndarray *arr);
/** Number of elements (product of shape; 1 for 0-d). */
TEEU_API size_t teeu_ndarray_size(const teeu_ndarray *arr);
/** size * element size: the bytes a contiguous copy takes. */
TEEU_API size_t teeu_ndarray_nbytes(const teeu_ndarray *arr);
/** 1 if the elements are contiguous in C order, 0 otherwise. */
TEEU_API int teeu_ndarray_is_c_contiguous(const teeu_ndarray *arr);
/** 1 if the elements are contiguous in Fortran order, 0 otherwise. */
TEEU_API int teeu_ndarray_is_f_contiguous(const teeu_ndarray *arr);
/** Pointer to element 0. Writable only when the array owns its data. */
TEEU_API void *teeu_ndarray_data(const teeu_ndarray *arr);
/** 1 if the array owns (and will free) its data, 0 for a view. */
TEEU_API int teeu_ndarray_owns_data(const teeu_ndarray *arr);

/* ---- .npy encoding ------------------------------------------------------ */

/** Encode flag: wrap the .npy bytes in one zstd frame. */
#define TEEU_NPY_ZSTD 0x1u
/**
 * Encode flags: write multi-byte elements little (or big) endian, byte
 * swapping on the fly where the array's order differs. Without either
 * flag the array's own byte order is kept. Setting both is an error.
 */
#define TEEU_NPY_LITTLE_ENDIAN 0x2u
#define TEEU_NPY_BIG_ENDIAN 0x4u

typedef struct teeu_npy_encode_options {
    unsigned flags;           /**< TEEU_NPY_ZSTD, TEEU_NPY_*_ENDIAN, or 0 */
    int zstd_level;           /**< zstd level when compressing; 0 = zstd's default (3) */
    /**
     * .npy format version: 0 picks the lowest that fits (1.0, or 2.0 for
     * headers over 65535 bytes), as numpy does; 1, 2 or 3 forces it.
     */
    unsigned format_major;
} teeu_npy_encode_options;

/** Defaults: no compression, automatic version. */
TEEU_API void teeu_npy_encode_options_init(teeu_npy_encode_options *opts);

/**
 * Bytes needed to encode arr: exact without compression, a safe upper
 * bound with TEEU_NPY_ZSTD. opts may be NULL (defaults).
 */
TEEU_API teeu_status teeu_ndarray_encoded_size(const teeu_ndarray *arr,
                                               const teeu_npy_encode_options *opts, size_t *size);

/**
 * Encodes arr as .npy into the caller's buffer buf[0..capacity), writing
 * the byte count to *written. A contiguous array is written with one pass
 * over its data (one memcpy, or a byte swap where the order is changed);
 * a strided view is gathered element by element (in C order). The
 * encoding keeps the array's byte order (unless a TEEU_NPY_*_ENDIAN flag
 * says otherwise) and, for arrays that are Fortran- but not C-contiguous,
 * their layout (fortran_order True), as numpy.save does.
 * TEEU_ERR_BUFFER_TOO_SMALL if capacity is short (nothing useful written).
 */
TEEU_API teeu_status teeu_ndarray_encode(const teeu_ndarray *arr, const teeu_npy_encode_options *opts,
                                         void *buf, size_t capacity, size_t *written);

/** As teeu_ndarray_encode into a new buffer; free *out with teeu_free. */
TEEU_API teeu_status teeu_ndarray_encode_alloc(const teeu_ndarray *arr,
                                               const teeu_npy_encode_options *opts,
                                               uint8_t **out, size_t *out_len);

/* ---- .npy decoding ------------------------------------------------------ */

/** Decode flag: always copy the data, even when a view would be possible. */
#define TEEU_NPY_DECODE_COPY 0x1u

/** Default bound on the decompressed size of a zstd-framed input: 4 GiB. */
#define TEEU_NPY_DEFAULT_MAX_DECOMPRESSED ((uint64_t)4 << 30)

typedef struct teeu_npy_decode_options {
    unsigned flags;              /**< TEEU_NPY_DECODE_COPY or 0 */
    uint64_t max_decompressed;   /**< bound for zstd input; 0 = the default above */
} teeu_npy_decode_options;

TEEU_API void teeu_npy_decode_options_init(teeu_npy_decode_options *opts);

/**
 * Decodes .npy bytes (optionally zstd-framed). When the input is not
 * compressed, its data is suitably aligned, and TEEU_NPY_DECODE_COPY is not
 * set, *out is a view into bytes (teeu_ndarray_owns_data() == 0) and bytes
 * must outlive it; otherwise *out owns a copy. The array keeps the file's
 * byte order and layout (fortran_order True gives Fortran strides). The
 * input is checked strictly (docs/ndarray.md lists every rule and its
 * TEEU_ERR_NPY_* status); a zstd frame is decompressed as a stream and
 * refused once the header promises more than opts->max_decompressed bytes.
 * On error *out is NULL. opts may be NULL.
 */
TEEU_API teeu_status teeu_ndarray_decode(const void *bytes, size_t len,
                                         const teeu_npy_decode_options *opts, teeu_ndarray **out);

/** What a .npy header says, without touching the data. */
typedef struct teeu_npy_info {
    unsigned format_major;   /**< 1, 2 or 3 */
    unsigned format_minor;   /**< 0 */
    teeu_dtype dtype;
    teeu_byte_order byte_order; /**< LITTLE or BIG; LITTLE for 1-byte dtypes */
    int fortran_order;       /**< 1 if fortran_order is True */
    size_t ndim;
    size_t shape[TEEU_NDARRAY_MAX_DIMS];
    size_t header_len;       /**< bytes of preamble + header: where the data starts */
    size_t data_len;         /**< bytes of data the header promises */
    int compressed;          /**< 1 if the input was a zstd frame */
} teeu_npy_info;

/**
 * Parses and checks the header of .npy bytes (decompressing a zstd frame
 * under opts' bound first; opts may be NULL) and reports it in *info,
 * including that the data length matches the header.
 */
TEEU_API teeu_status teeu_npy_read_info(const void *bytes, size_t len,
                                        const teeu_npy_decode_options *opts, teeu_npy_info *info);

TEEU_END_DECLS

#endif /* TEEU_NDARRAY_H */
