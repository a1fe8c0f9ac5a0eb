/*
 * .npy encoding and decoding over caller buffers, with optional zstd
 * framing. Pure functions over memory: no I/O.
 *
 * Encoding writes the header and then the data in a single pass (memcpy,
 * byte swap or gather straight into the destination, or through zstd's
 * streaming compressor in chunks). Decoding returns a view into the input
 * when it can, and decompresses zstd frames with a streaming context so
 * that the caller's bound is enforced on what is actually produced, never
 * on what the frame claims.
 */
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "core/core_internal.h"
#include "ndarray_internal.h"

#define KNOWN_ENCODE_FLAGS (TEEU_NPY_ZSTD | TEEU_NPY_LITTLE_ENDIAN | TEEU_NPY_BIG_ENDIAN)
#define KNOWN_DECODE_FLAGS (TEEU_NPY_DECODE_COPY)
/* Data is fed to zstd in chunks of this size when it must be gathered or swapped first. */
#define ZSTD_CHUNK ((size_t)1 << 20)
/* zstd's compressBound covers block and frame headers; a little more covers the checksum. */
#define ZSTD_BOUND_SLACK 64

void teeu_npy_encode_options_init(teeu_npy_encode_options *opts)
{
    if (opts != NULL)
        memset(opts, 0, sizeof *opts);
}

void teeu_npy_decode_options_init(teeu_npy_decode_options *opts)
{
    if (opts != NULL) {
        memset(opts, 0, sizeof *opts);
        opts->max_decompressed = TEEU_NPY_DEFAULT_MAX_DECOMPRESSED;
    }
}

bool tu_npy_is_zstd(const uint8_t *bytes, size_t len)
{
    static const uint8_t magic[4] = {0x28, 0xB5, 0x2F, 0xFD};
    return bytes != NULL && len >= sizeof magic && memcmp(bytes, magic, sizeof magic) == 0;
}

/* Skippable frames: magic 0x184D2A50..0x184D2A5F, little endian. */
static bool is_skippable_frame(const uint8_t *bytes, size_t len)
{
    return len >= 4 && (bytes[0] & 0xF0) == 0x50 && bytes[1] == 0x2A && bytes[2] == 0x4D && bytes[3] == 0x18;
}

/* ---- encoding -------------------------------------------------------------- */

teeu_status tu_npy_plan_init(const teeu_ndarray *arr, const teeu_npy_encode_options *opts, tu_npy_plan *plan)
{
    if (arr == NULL || plan == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, ".npy encode: the array must not be NULL");
    teeu_npy_encode_options defaults;
    teeu_npy_encode_options_init(&defaults);
    if (opts == NULL)
        opts = &defaults;
    if (opts->flags & ~KNOWN_ENCODE_FLAGS)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, ".npy encode: unknown flags 0x%x", opts->flags & ~KNOWN_ENCODE_FLAGS);
    if ((opts->flags & TEEU_NPY_LITTLE_ENDIAN) && (opts->flags & TEEU_NPY_BIG_ENDIAN))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT,
                        ".npy encode: TEEU_NPY_LITTLE_ENDIAN and TEEU_NPY_BIG_ENDIAN exclude each other");
    if (opts->format_major > 3)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, ".npy encode: format version %u does not exist (0 = auto, 1, 2, 3)",
                        opts->format_major);
    if ((opts->flags & TEEU_NPY_ZSTD) &&
        (opts->zstd_level < ZSTD_minCLevel() || opts->zstd_level > ZSTD_maxCLevel()))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, ".npy encode: zstd level %d is outside %d..%d", opts->zstd_level,
                        ZSTD_minCLevel(), ZSTD_maxCLevel());
    memset(plan, 0, sizeof *plan);
    plan->arr = arr;
    plan->byte_order = (opts->flags & TEEU_NPY_LITTLE_ENDIAN) ? TEEU_BYTE_ORDER_LITTLE
                       : (opts->flags & TEEU_NPY_BIG_ENDIAN) ? TEEU_BYTE_ORDER_BIG
                                                            : arr->byte_order;
    plan->swap = arr->itemsize > 1 && plan->byte_order != arr->byte_order;
    if (teeu_ndarray_is_c_contiguous(arr)) {
        plan->contiguous = true;
    } else if (teeu_ndarray_is_f_contiguous(arr)) {
        plan->contiguous = true;
        plan->fortran_order = true;
    }
    plan->zero_copy = plan->contiguous && !plan->swap;
    plan->data_len = teeu_ndarray_nbytes(arr);
    plan->format_major = opts->format_major;
    return TEEU_OK;
}

static teeu_status raw_size(const tu_npy_plan *plan, size_t *size)
{
    size_t header;
    teeu_status st = tu_npy_header_size(plan, &header);
    if (st != TEEU_OK)
        return st;
    if (tu_add_overflows(header, plan->data_len, size))
        return tu_error(TEEU_ERR_OVERFLOW, ".npy encode: encoded size overflows");
    return TEEU_OK;
}

static teeu_status zstd_bound(size_t raw, size_t *bound)
{
    size_t b = ZSTD_compressBound(raw);
    if (ZSTD_isError(b) || b == 0 || tu_add_overflows(b, ZSTD_BOUND_SLACK, bound))
        return tu_error(TEEU_ERR_OVERFLOW, ".npy encode: %zu bytes are too many for one zstd frame", raw);
    return TEEU_OK;
}

teeu_status teeu_ndarray_encoded_size(const teeu_ndarray *arr, const teeu_npy_encode_options *opts, size_t *size)
{
    if (size == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_ndarray_encoded_size: size must not be NULL");
    *size = 0;
    tu_npy_plan plan;
    teeu_status st = tu_npy_plan_init(arr, opts, &plan);
    size_t raw = 0;
    if (st == TEEU_OK)
        st = raw_size(&plan, &raw);
    if (st != TEEU_OK)
        return st;
    if (opts != NULL && (opts->flags & TEEU_NPY_ZSTD))
        return zstd_bound(raw, size);
    *size = raw;
    return TEEU_OK;
}

/* Feeds in to the compressor until consumed (or, with ZSTD_e_end, until the frame is flushed). */
static teeu_status zstd_feed(ZSTD_CCtx *cctx, ZSTD_outBuffer *out, const void *src, size_t n, ZSTD_EndDirective mode)
{
    ZSTD_inBuffer in = {src, n, 0};
    for (;;) {
        size_t in_before = in.pos, out_before = out->pos;
        size_t left = ZSTD_compressStream2(cctx, out, &in, mode);
        if (ZSTD_isError(left))
            return tu_error(TEEU_ERR_INTERNAL_BUG, ".npy encode: zstd compression failed: %s",
                            ZSTD_getErrorName(left));
        bool done = mode == ZSTD_e_end ? left == 0 : in.pos == in.size;
        if (done)
            return TEEU_OK;
        if (out->pos == out->size && in.pos == in_before && out->pos == out_before)
            return tu_error(TEEU_ERR_BUFFER_TOO_SMALL,
                            ".npy encode: the compressed output does not fit the %zu-byte buffer; "
                            "size it with teeu_ndarray_encoded_size",
                            out->size);
    }
}

static teeu_status encode_zstd(const tu_npy_plan *plan, int level, uint8_t *buf, size_t cap, size_t *written)
{
    uint8_t header[TU_NPY_MAX_ENCODED_HEADER];
    size_t header_len;
    teeu_status st = tu_npy_header_encode(plan, header, sizeof header, &header_len);
    if (st != TEEU_OK)
        return st;
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    uint8_t *chunk = plan->zero_copy ? NULL : malloc(ZSTD_CHUNK);
    if (cctx == NULL || (!plan->zero_copy && chunk == NULL)) {
        st = tu_error(TEEU_ERR_NOMEM, ".npy encode: out of memory for zstd");
        goto done;
    }
    size_t r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level ? level : ZSTD_CLEVEL_DEFAULT);
    if (!ZSTD_isError(r))
        r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    if (!ZSTD_isError(r))
        r = ZSTD_CCtx_setPledgedSrcSize(cctx, (unsigned long long)header_len + plan->data_len);
    if (ZSTD_isError(r)) {
        st = tu_error(TEEU_ERR_INTERNAL_BUG, ".npy encode: zstd setup failed: %s", ZSTD_getErrorName(r));
        goto done;
    }
    ZSTD_outBuffer out = {buf, cap, 0};
    st = zstd_feed(cctx, &out, header, header_len, ZSTD_e_continue);
    if (plan->zero_copy) {
        if (st == TEEU_OK && plan->data_len > 0)
            st = zstd_feed(cctx, &out, plan->arr->data, plan->data_len, ZSTD_e_continue);
    } else {
        for (size_t off = 0; st == TEEU_OK && off < plan->data_len; off += ZSTD_CHUNK) {
            size_t n = plan->data_len - off < ZSTD_CHUNK ? plan->data_len - off : ZSTD_CHUNK;
            tu_npy_data_copy(plan, off, chunk, n);
            st = zstd_feed(cctx, &out, chunk, n, ZSTD_e_continue);
        }
    }
    if (st == TEEU_OK)
        st = zstd_feed(cctx, &out, NULL, 0, ZSTD_e_end);
    if (st == TEEU_OK)
        *written = out.pos;
done:
    free(chunk);
    ZSTD_freeCCtx(cctx);
    return st;
}

teeu_status teeu_ndarray_encode(const teeu_ndarray *arr, const teeu_npy_encode_options *opts, void *buf,
                                size_t capacity, size_t *written)
{
    if (written == NULL || (buf == NULL && capacity > 0))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_ndarray_encode: written must not be NULL, nor buf with a capacity");
    *written = 0;
    tu_npy_plan plan;
    teeu_status st = tu_npy_plan_init(arr, opts, &plan);
    if (st != TEEU_OK)
        return st;
    if (opts != NULL && (opts->flags & TEEU_NPY_ZSTD))
        return encode_zstd(&plan, opts->zstd_level, buf, capacity, written);
    size_t total;
    if ((st = raw_size(&plan, &total)) != TEEU_OK)
        return st;
    if (capacity < total)
        return tu_error(TEEU_ERR_BUFFER_TOO_SMALL, ".npy encode: needs %zu bytes, the buffer has %zu", total, capacity);
    size_t header_len;
    if ((st = tu_npy_header_encode(&plan, buf, capacity, &header_len)) != TEEU_OK)
        return st;
    /* The single pass over the data: memcpy, swap loop or gather into place. */
    tu_npy_data_copy(&plan, 0, (uint8_t *)buf + header_len, plan.data_len);
    *written = total;
    return TEEU_OK;
}

teeu_status teeu_ndarray_encode_alloc(const teeu_ndarray *arr, const teeu_npy_encode_options *opts, uint8_t **out,
                                      size_t *out_len)
{
    if (out == NULL || out_len == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_ndarray_encode_alloc: out and out_len must not be NULL");
    *out = NULL;
    *out_len = 0;
    size_t cap;
    teeu_status st = teeu_ndarray_encoded_size(arr, opts, &cap);
    if (st != TEEU_OK)
        return st;
    uint8_t *buf = malloc(cap ? cap : 1);
    if (buf == NULL)
        return tu_error(TEEU_ERR_NOMEM, ".npy encode: cannot allocate %zu bytes", cap);
    size_t n;
    st = teeu_ndarray_encode(arr, opts, buf, cap, &n);
    if (st != TEEU_OK) {
        free(buf);
        return st;
    }
    if (n < cap) {
        /* Compressed output is usually far below the bound: give the rest back. */
        uint8_t *shrunk = realloc(buf, n ? n : 1);
        if (shrunk != NULL)
            buf = shrunk;
    }
    *out = buf;
    *out_len = n;
    return TEEU_OK;
}

/* ---- decoding ------------------------------------------------------------------ */

static teeu_status check_decode_opts(const teeu_npy_decode_options *opts, unsigned *flags, uint64_t *bound)
{
    *flags = 0;
    *bound = TEEU_NPY_DEFAULT_MAX_DECOMPRESSED;
    if (opts == NULL)
        return TEEU_OK;
    if (opts->flags & ~KNOWN_DECODE_FLAGS)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, ".npy decode: unknown flags 0x%x", opts->flags & ~KNOWN_DECODE_FLAGS);
    *flags = opts->flags;
    if (opts->max_decompressed != 0)
        *bound = opts->max_decompressed;
    return TEEU_OK;
}

/*
 * Streaming zstd decompression into caller-chosen output buffers. The input
 * is one frame or, as `zstd -d` accepts, several concatenated frames
 * (skippable ones included); `ended` is set once the last one is complete
 * and the input exhausted.
 */
typedef struct zreader {
    ZSTD_DCtx *dctx;
    ZSTD_inBuffer in;
    bool ended;
    uint8_t *scratch; /* ZREAD_SCRATCH bytes, for data that is only counted */
} zreader;

#define ZREAD_SCRATCH ((size_t)1 << 17)

/*
 * Decompresses exactly n bytes into dst (NULL: count and discard through a
 * scratch buffer). Returns TEEU_ERR_NPY_TRUNCATED with *got < n if the
 * content ends first (the caller picks the status to report).
 */
static teeu_status zread(zreader *z, uint8_t *dst, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        if (z->ended)
            return TEEU_ERR_NPY_TRUNCATED;
        size_t want = n - *got;
        ZSTD_outBuffer out = dst ? (ZSTD_outBuffer){dst + *got, want, 0}
                                 : (ZSTD_outBuffer){z->scratch, want < ZREAD_SCRATCH ? want : ZREAD_SCRATCH, 0};
        size_t in_before = z->in.pos;
        size_t r = ZSTD_decompressStream(z->dctx, &out, &z->in);
        if (ZSTD_isError(r))
            return tu_error(TEEU_ERR_NPY_COMPRESSED, "zstd frame is corrupt: %s", ZSTD_getErrorName(r));
        *got += out.pos;
        if (r == 0) {
            /* A frame ended: the input must end too, or go on with another frame. */
            const uint8_t *rest = (const uint8_t *)z->in.src + z->in.pos;
            size_t left = z->in.size - z->in.pos;
            if (left == 0)
                z->ended = true;
            else if (!tu_npy_is_zstd(rest, left) && !is_skippable_frame(rest, left))
                return tu_error(TEEU_ERR_NPY_COMPRESSED,
                                "%zu bytes after the zstd frame are not another frame; expected the input to end",
                                left);
        } else if (out.pos == 0 && z->in.pos == in_before && z->in.pos == z->in.size)
            return tu_error(TEEU_ERR_NPY_COMPRESSED, "zstd frame is truncated: the input ends before the frame does");
    }
    return TEEU_OK;
}

/* After the promised bytes: the content must end here, and the input with it. */
static teeu_status zfinish(zreader *z, size_t promised)
{
    if (!z->ended) {
        size_t got;
        teeu_status st = zread(z, NULL, 1, &got);
        if (st == TEEU_OK)
            return tu_error(TEEU_ERR_NPY_DATA_LENGTH,
                            ".npy data in the zstd frame is longer than the %zu bytes the header promises", promised);
        if (st != TEEU_ERR_NPY_TRUNCATED)
            return st;
    }
    if (z->in.pos != z->in.size)
        return tu_error(TEEU_ERR_NPY_COMPRESSED, "%zu bytes follow the zstd frame; expected the input to end there",
                        z->in.size - z->in.pos);
    return TEEU_OK;
}

/*
 * Decodes a zstd-framed .npy: header first (growing only as far as the
 * header length field says), then, if the whole promised size fits the
 * bound, the data straight into a new array (or counted when out is NULL).
 */
static teeu_status decode_zstd(const uint8_t *bytes, size_t len, uint64_t bound, teeu_npy_info *info,
                               teeu_ndarray **out)
{
    zreader z = {ZSTD_createDCtx(), {bytes, len, 0}, false, NULL};
    /* ZSTD_d_windowLogMax keeps zstd's default (2^27): a frame cannot make the decoder allocate more. */
    uint8_t *head = malloc(TU_NPY_MAX_PREAMBLE_HEADER);
    teeu_ndarray *arr = NULL;
    teeu_status st = TEEU_OK;
    if (z.dctx == NULL || head == NULL || (z.scratch = malloc(ZREAD_SCRATCH)) == NULL) {
        st = tu_error(TEEU_ERR_NOMEM, ".npy decode: out of memory for zstd");
        goto done;
    }
    size_t have = 0, need = 0;
    while ((st = tu_npy_parse_header(head, have, info, &need)) == TEEU_ERR_NPY_TRUNCATED) {
        if (need <= have || need > TU_NPY_MAX_PREAMBLE_HEADER) {
            st = tu_error(TEEU_ERR_INTERNAL_BUG, ".npy decode: header parser asked for %zu bytes", need);
            goto done;
        }
        if ((uint64_t)need > bound) {
            st = tu_error(TEEU_ERR_NPY_DECOMPRESSED_TOO_LARGE,
                          ".npy decode: the header alone exceeds the %llu-byte decompression bound",
                          (unsigned long long)bound);
            goto done;
        }
        size_t got;
        st = zread(&z, head + have, need - have, &got);
        have += got;
        if (st == TEEU_ERR_NPY_TRUNCATED) {
            /* Re-parse to report where the content ended. */
            st = tu_npy_parse_header(head, have, info, NULL);
            goto done;
        }
        if (st != TEEU_OK)
            goto done;
    }
    if (st != TEEU_OK)
        goto done;
    info->compressed = 1;
    if ((uint64_t)info->header_len + info->data_len > bound) {
        st = tu_error(TEEU_ERR_NPY_DECOMPRESSED_TOO_LARGE,
                      ".npy decode: the array needs %zu bytes decompressed, above the %llu-byte bound; "
                      "raise max_decompressed if you trust this input",
                      info->header_len + info->data_len, (unsigned long long)bound);
        goto done;
    }
    if (out != NULL && (st = tu_ndarray_new_from_info(info, &arr)) != TEEU_OK)
        goto done;
    size_t got;
    st = zread(&z, arr ? arr->data : NULL, info->data_len, &got);
    if (st == TEEU_ERR_NPY_TRUNCATED)
        st = tu_error(TEEU_ERR_NPY_DATA_LENGTH, ".npy data in the zstd frame is %zu bytes; the header promises %zu",
                      got, info->data_len);
    if (st == TEEU_OK)
        st = zfinish(&z, info->data_len);
    if (st == TEEU_OK && out != NULL) {
        *out = arr;
        arr = NULL;
    }
done:
    teeu_ndarray_free(arr);
    free(head);
    free(z.scratch);
    ZSTD_freeDCtx(z.dctx);
    return st;
}

static teeu_status parse_raw(const uint8_t *bytes, size_t len, teeu_npy_info *info)
{
    teeu_status st = tu_npy_parse_header(bytes, len, info, NULL);
    if (st != TEEU_OK)
        return st;
    if (len - info->header_len != info->data_len)
        return tu_error(TEEU_ERR_NPY_DATA_LENGTH, ".npy data is %zu bytes; the header promises %zu (shape x %s)",
                        len - info->header_len, info->data_len, teeu_dtype_name(info->dtype));
    return TEEU_OK;
}

teeu_status teeu_npy_read_info(const void *bytes, size_t len, const teeu_npy_decode_options *opts, teeu_npy_info *info)
{
    if (info == NULL || (bytes == NULL && len > 0))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_npy_read_info: bytes and info must not be NULL");
    unsigned flags;
    uint64_t bound;
    teeu_status st = check_decode_opts(opts, &flags, &bound);
    if (st != TEEU_OK)
        return st;
    if (tu_npy_is_zstd(bytes, len) || is_skippable_frame(bytes, len))
        return decode_zstd(bytes, len, bound, info, NULL);
    return parse_raw(bytes, len, info);
}

teeu_status teeu_ndarray_decode(const void *bytes, size_t len, const teeu_npy_decode_options *opts, teeu_ndarray **out)
{
    if (out == NULL || (bytes == NULL && len > 0))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_ndarray_decode: bytes and out must not be NULL");
    *out = NULL;
    unsigned flags;
    uint64_t bound;
    teeu_status st = check_decode_opts(opts, &flags, &bound);
    if (st != TEEU_OK)
        return st;
    teeu_npy_info info;
    if (tu_npy_is_zstd(bytes, len) || is_skippable_frame(bytes, len))
        return decode_zstd(bytes, len, bound, &info, out);
    if ((st = parse_raw(bytes, len, &info)) != TEEU_OK)
        return st;
    const uint8_t *data = (const uint8_t *)bytes + info.header_len;
    size_t align = teeu_dtype_size(info.dtype);
    if (!(flags & TEEU_NPY_DECODE_COPY) && (uintptr_t)data % align == 0) {
        teeu_ndarray_desc desc;
        teeu_ndarray_desc_init(&desc, info.dtype);
        desc.byte_order = info.byte_order;
        desc.ndim = info.ndim;
        desc.shape = info.shape;
        desc.layout = info.fortran_order ? TEEU_LAYOUT_FORTRAN : TEEU_LAYOUT_C;
        return teeu_ndarray_view_desc(&desc, info.data_len ? data : NULL, info.data_len, out);
    }
    teeu_ndarray *arr = NULL;
    if ((st = tu_ndarray_new_from_info(&info, &arr)) != TEEU_OK)
        return st;
    if (info.data_len > 0)
        memcpy(arr->data, data, info.data_len);
    *out = arr;
    return TEEU_OK;
}
