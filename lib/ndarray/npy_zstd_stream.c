/*
 * The zstd-compressed .npy of an array, produced piece by piece
 * (tu_npy_zstd_*, ndarray_internal.h), so that a put can compress into its
 * segment buffer as it sends instead of compressing the whole array into a
 * second buffer first.
 *
 * The output is the framing encode_zstd (npy_codec.c) writes: one frame
 * with the content size (header + data) and a checksum. Segment boundaries
 * do not flush the compressor (the caller cuts the byte stream anywhere),
 * so the ratio is what a one-shot compression gives.
 */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_getCParams, ZSTD_estimateCStreamSize_usingCParams */
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "core/core_internal.h"
#include "ndarray_internal.h"

/* Gather/swap chunk for arrays that are not contiguous as written. */
#define GATHER_CHUNK ((size_t)256 << 10)

struct tu_npy_zstd {
    tu_npy_plan plan;
    int level;
    uint8_t header[TU_NPY_MAX_ENCODED_HEADER];
    size_t header_len;
    size_t bound;
    size_t memory;
    ZSTD_CCtx *cctx;
    uint8_t *chunk;        /* GATHER_CHUNK bytes when !plan.zero_copy */
    size_t chunk_off;      /* data offset of chunk[0] */
    size_t chunk_len;      /* valid bytes in chunk */
    size_t raw_pos;        /* raw .npy bytes consumed by the compressor */
    bool ended;            /* the frame is complete and fully written out */
};

static teeu_status zstd_param(ZSTD_CCtx *cctx, ZSTD_cParameter p, int v)
{
    size_t r = ZSTD_CCtx_setParameter(cctx, p, v);
    if (ZSTD_isError(r))
        return tu_error(TEEU_ERR_INTERNAL_BUG, ".npy zstd stream: setting parameter %d to %d failed: %s", (int)p, v,
                        ZSTD_getErrorName(r));
    return TEEU_OK;
}

static unsigned cap_log(unsigned v)
{
    return v > TU_NPY_ZSTD_MAX_LOG ? TU_NPY_ZSTD_MAX_LOG : v;
}

/* Level, checksum, content size, and the level's parameters with the memory-heavy ones capped. */
static teeu_status configure(tu_npy_zstd *z)
{
    unsigned long long raw = (unsigned long long)z->header_len + z->plan.data_len;
    ZSTD_compressionParameters cp = ZSTD_getCParams(z->level, raw, 0);
    cp.windowLog = cap_log(cp.windowLog);
    cp.hashLog = cap_log(cp.hashLog);
    cp.chainLog = cap_log(cp.chainLog);
    z->memory = ZSTD_estimateCStreamSize_usingCParams(cp);
    teeu_status st = zstd_param(z->cctx, ZSTD_c_compressionLevel, z->level);
    if (st == TEEU_OK)
        st = zstd_param(z->cctx, ZSTD_c_windowLog, (int)cp.windowLog);
    if (st == TEEU_OK)
        st = zstd_param(z->cctx, ZSTD_c_hashLog, (int)cp.hashLog);
    if (st == TEEU_OK)
        st = zstd_param(z->cctx, ZSTD_c_chainLog, (int)cp.chainLog);
    if (st == TEEU_OK)
        st = zstd_param(z->cctx, ZSTD_c_checksumFlag, 1);
    return st;
}

/* Sets the pledged size of a new frame (after creation or a reset). */
static teeu_status start_frame(tu_npy_zstd *z)
{
    size_t r = ZSTD_CCtx_setPledgedSrcSize(z->cctx, (unsigned long long)z->header_len + z->plan.data_len);
    if (ZSTD_isError(r))
        return tu_error(TEEU_ERR_INTERNAL_BUG, ".npy zstd stream: setting the content size failed: %s",
                        ZSTD_getErrorName(r));
    z->raw_pos = 0;
    z->chunk_off = 0;
    z->chunk_len = 0;
    z->ended = false;
    return TEEU_OK;
}

teeu_status tu_npy_zstd_new(const teeu_ndarray *arr, int level, tu_npy_zstd **out)
{
    if (out == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, ".npy zstd stream: out must not be NULL");
    *out = NULL;
    teeu_npy_encode_options eo;
    teeu_npy_encode_options_init(&eo);
    eo.flags = TEEU_NPY_ZSTD;
    eo.zstd_level = level;
    tu_npy_zstd *z = calloc(1, sizeof *z);
    if (z == NULL)
        return tu_error(TEEU_ERR_NOMEM, ".npy zstd stream: out of memory");
    z->level = level ? level : ZSTD_CLEVEL_DEFAULT;
    teeu_status st = tu_npy_plan_init(arr, &eo, &z->plan);
    if (st == TEEU_OK)
        st = tu_npy_header_encode(&z->plan, z->header, sizeof z->header, &z->header_len);
    if (st == TEEU_OK)
        st = teeu_ndarray_encoded_size(arr, &eo, &z->bound);
    if (st == TEEU_OK) {
        z->cctx = ZSTD_createCCtx();
        z->chunk = z->plan.zero_copy ? NULL : malloc(GATHER_CHUNK);
        if (z->cctx == NULL || (!z->plan.zero_copy && z->chunk == NULL))
            st = tu_error(TEEU_ERR_NOMEM, ".npy zstd stream: out of memory for the compressor");
    }
    if (st == TEEU_OK)
        st = configure(z);
    if (st == TEEU_OK)
        st = start_frame(z);
    if (st != TEEU_OK) {
        tu_npy_zstd_free(z);
        return st;
    }
    *out = z;
    return TEEU_OK;
}

size_t tu_npy_zstd_bound(const tu_npy_zstd *z)
{
    return z ? z->bound : 0;
}

size_t tu_npy_zstd_memory(const tu_npy_zstd *z)
{
    return z ? z->memory : 0;
}

/* The next raw bytes to compress: the header, then the data (in place, or gathered into the chunk). */
static void next_input(tu_npy_zstd *z, ZSTD_inBuffer *in)
{
    if (z->raw_pos < z->header_len) {
        *in = (ZSTD_inBuffer){z->header + z->raw_pos, z->header_len - z->raw_pos, 0};
        return;
    }
    size_t off = z->raw_pos - z->header_len;
    size_t left = z->plan.data_len - off;
    if (z->plan.zero_copy) {
        *in = (ZSTD_inBuffer){z->plan.arr->data + off, left, 0};
        return;
    }
    if (off >= z->chunk_off + z->chunk_len) {
        z->chunk_off = off;
        z->chunk_len = left < GATHER_CHUNK ? left : GATHER_CHUNK;
        tu_npy_data_copy(&z->plan, off, z->chunk, z->chunk_len);
    }
    *in = (ZSTD_inBuffer){z->chunk + (off - z->chunk_off), z->chunk_off + z->chunk_len - off, 0};
}

teeu_status tu_npy_zstd_read(tu_npy_zstd *z, uint8_t *dst, size_t cap, size_t *n, bool *end)
{
    if (z == NULL || n == NULL || end == NULL || (dst == NULL && cap > 0))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, ".npy zstd stream: stream, n and end are required");
    *n = 0;
    *end = z->ended;
    ZSTD_outBuffer out = {dst, cap, 0};
    size_t raw_total = z->header_len + z->plan.data_len;
    while (!z->ended && out.pos < out.size) {
        ZSTD_inBuffer in = {NULL, 0, 0};
        ZSTD_EndDirective mode = ZSTD_e_end;
        if (z->raw_pos < raw_total) {
            next_input(z, &in);
            mode = ZSTD_e_continue;
        }
        size_t r = ZSTD_compressStream2(z->cctx, &out, &in, mode);
        if (ZSTD_isError(r))
            return tu_error(TEEU_ERR_INTERNAL_BUG, ".npy zstd stream: compression failed: %s", ZSTD_getErrorName(r));
        z->raw_pos += in.pos;
        if (mode == ZSTD_e_end && r == 0)
            z->ended = true;
    }
    *n = out.pos;
    *end = z->ended;
    return TEEU_OK;
}

teeu_status tu_npy_zstd_rewind(tu_npy_zstd *z)
{
    if (z == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, ".npy zstd stream: NULL stream");
    size_t r = ZSTD_CCtx_reset(z->cctx, ZSTD_reset_session_only);
    if (ZSTD_isError(r))
        return tu_error(TEEU_ERR_INTERNAL_BUG, ".npy zstd stream: reset failed: %s", ZSTD_getErrorName(r));
    return start_frame(z);
}

void tu_npy_zstd_free(tu_npy_zstd *z)
{
    if (z == NULL)
        return;
    ZSTD_freeCCtx(z->cctx);
    if (z->chunk != NULL)
        tu_free_secret(z->chunk, GATHER_CHUNK);
    free(z);
}

teeu_status tu_npy_zstd_probe(const teeu_ndarray *arr, size_t sample, bool *worth)
{
    if (worth == NULL || sample == 0)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, ".npy zstd probe: worth and a sample size are required");
    *worth = true;
    tu_npy_plan plan;
    uint8_t header[TU_NPY_MAX_ENCODED_HEADER];
    size_t header_len = 0, raw = 0;
    teeu_status st = tu_npy_plan_init(arr, NULL, &plan);
    if (st == TEEU_OK)
        st = tu_npy_header_encode(&plan, header, sizeof header, &header_len);
    if (st != TEEU_OK)
        return st;
    if (tu_add_overflows(header_len, plan.data_len, &raw) || raw / 2 < sample)
        return TEEU_OK;
    size_t cap = ZSTD_compressBound(sample);
    uint8_t *in = malloc(sample);
    uint8_t *out = malloc(cap);
    if (in == NULL || out == NULL) {
        free(in);
        free(out);
        return tu_error(TEEU_ERR_NOMEM, ".npy zstd probe: out of memory for a %zu-byte sample", sample);
    }
    size_t h = header_len < sample ? header_len : sample;
    memcpy(in, header, h);
    if (sample > h)
        tu_npy_data_copy(&plan, 0, in + h, sample - h);
    size_t n = ZSTD_compress(out, cap, in, sample, 1);
    if (ZSTD_isError(n))
        st = tu_error(TEEU_ERR_INTERNAL_BUG, ".npy zstd probe: compression failed: %s", ZSTD_getErrorName(n));
    else
        *worth = (uint64_t)n * 10 < (uint64_t)sample * 9;
    tu_free_secret(in, sample);
    free(out);
    return st;
}
