/*
 * gRPC codec: framing, deframing, grpc-timeout, grpc-message and status
 * mapping. Pure functions over buffers; the transport lives in channel.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "rpc/rpc_internal.h"

teeu_status tu_grpc_frame_header(size_t len, uint8_t out[TU_GRPC_FRAME_HEADER_LEN])
{
    if (len > TU_GRPC_MAX_FRAME_PAYLOAD)
        return tu_error(TEEU_ERR_LIMIT, "gRPC request message of %zu bytes exceeds the 4 GiB framing limit", len);
    uint32_t n = (uint32_t)len;
    out[0] = 0; /* never compressed */
    out[1] = (uint8_t)(n >> 24);
    out[2] = (uint8_t)(n >> 16);
    out[3] = (uint8_t)(n >> 8);
    out[4] = (uint8_t)n;
    return TEEU_OK;
}

void tu_grpc_deframer_init(tu_grpc_deframer *d, size_t max_message, tu_grpc_msg_fn on_msg, void *ctx)
{
    memset(d, 0, sizeof *d);
    d->max_message = max_message ? max_message : TU_RPC_DEFAULT_MAX_MESSAGE;
    d->on_msg = on_msg;
    d->ctx = ctx;
}

void tu_grpc_deframer_free(tu_grpc_deframer *d)
{
    tu_buf_free(&d->payload);
}

/* Validates a complete 5-byte header and prepares for its payload. */
static teeu_status deframer_start_payload(tu_grpc_deframer *d)
{
    uint8_t flag = d->header[0];
    if (flag == 1)
        return tu_error(TEEU_ERR_PROTOCOL,
                        "gRPC response message %zu is marked compressed, but no compression was offered",
                        d->messages + 1);
    if (flag != 0)
        return tu_error(TEEU_ERR_PROTOCOL, "gRPC response message %zu has an invalid flag byte 0x%02x",
                        d->messages + 1, flag);
    uint32_t n = ((uint32_t)d->header[1] << 24) | ((uint32_t)d->header[2] << 16) |
                 ((uint32_t)d->header[3] << 8) | (uint32_t)d->header[4];
    if ((uint64_t)n > (uint64_t)d->max_message)
        return tu_error(TEEU_ERR_RESPONSE_TOO_LARGE,
                        "gRPC response message of %" PRIu32 " bytes exceeds the bound of %zu bytes", n,
                        d->max_message);
    d->want = n;
    d->payload.len = 0;
    d->in_payload = true;
    return TEEU_OK;
}

static teeu_status deframer_deliver(tu_grpc_deframer *d)
{
    d->in_payload = false;
    d->header_have = 0;
    d->messages++;
    if (!d->on_msg)
        return TEEU_OK;
    /* Never hand out NULL even for an empty message. */
    static const uint8_t empty[1] = {0};
    const uint8_t *p = d->payload.len ? d->payload.data : empty;
    return d->on_msg(d->ctx, p, d->payload.len);
}

teeu_status tu_grpc_deframer_feed(tu_grpc_deframer *d, const uint8_t *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        if (!d->in_payload) {
            size_t take = TU_GRPC_FRAME_HEADER_LEN - d->header_have;
            if (take > len - off)
                take = len - off;
            memcpy(d->header + d->header_have, data + off, take);
            d->header_have += take;
            off += take;
            if (d->header_have < TU_GRPC_FRAME_HEADER_LEN)
                break;
            teeu_status st = deframer_start_payload(d);
            if (st != TEEU_OK)
                return st;
            if (d->want == 0) {
                st = deframer_deliver(d);
                if (st != TEEU_OK)
                    return st;
            }
            continue;
        }
        size_t take = d->want - d->payload.len;
        if (take > len - off)
            take = len - off;
        teeu_status st = tu_buf_append(&d->payload, data + off, take);
        if (st != TEEU_OK)
            return st;
        off += take;
        if (d->payload.len == d->want) {
            st = deframer_deliver(d);
            if (st != TEEU_OK)
                return st;
        }
    }
    return TEEU_OK;
}

teeu_status tu_grpc_deframer_finish(const tu_grpc_deframer *d)
{
    if (d->in_payload)
        return tu_error(TEEU_ERR_PROTOCOL, "gRPC response body ended inside message %zu (%zu of %zu bytes)",
                        d->messages + 1, d->payload.len, d->want);
    if (d->header_have != 0)
        return tu_error(TEEU_ERR_PROTOCOL, "gRPC response body ended inside a frame header (%zu of 5 bytes)",
                        d->header_have);
    return TEEU_OK;
}

void tu_grpc_timeout_format(uint64_t timeout_ms, char out[16])
{
    /* At most 8 digits: milliseconds while they fit, else whole seconds
     * (rounded up, so the server's deadline is never shorter), else hours. */
    if (timeout_ms <= 99999999u) {
        snprintf(out, 16, "%" PRIu64 "m", timeout_ms);
        return;
    }
    uint64_t s = timeout_ms / 1000 + (timeout_ms % 1000 != 0);
    if (s <= 99999999u) {
        snprintf(out, 16, "%" PRIu64 "S", s);
        return;
    }
    uint64_t h = s / 3600 + (s % 3600 != 0);
    if (h > 99999999u)
        h = 99999999u;
    snprintf(out, 16, "%" PRIu64 "H", h);
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t tu_grpc_message_decode(const char *in, size_t in_len, char *out, size_t cap)
{
    if (cap == 0)
        return 0;
    size_t o = 0;
    for (size_t i = 0; i < in_len && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '%') {
            int hi = i + 2 < in_len ? hex_val(in[i + 1]) : -1;
            int lo = i + 2 < in_len ? hex_val(in[i + 2]) : -1;
            if (hi >= 0 && lo >= 0) {
                c = (unsigned char)(hi * 16 + lo);
                i += 2;
            } else {
                c = '?';
            }
        }
        /* Keep UTF-8 bytes (>= 0x80) but never control characters. */
        if (c < 0x20 || c == 0x7f)
            c = '?';
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return o;
}

bool tu_grpc_status_parse(const char *in, size_t in_len, int *code)
{
    if (in_len == 0 || in_len > 3)
        return false;
    int v = 0;
    for (size_t i = 0; i < in_len; i++) {
        if (in[i] < '0' || in[i] > '9')
            return false;
        v = v * 10 + (in[i] - '0');
    }
    *code = v;
    return true;
}

static const char *const tu_grpc_names[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *tu_grpc_code_name(int code)
{
    if (code < 0 || (size_t)code >= TU_ARRAY_LEN(tu_grpc_names))
        return "UNKNOWN_CODE";
    return tu_grpc_names[code];
}

teeu_status tu_grpc_code_status(int code)
{
    /* TEEU_ERR_RPC_<X> is 300 + the gRPC code by construction. */
    if (code <= TU_GRPC_OK || code > TU_GRPC_UNAUTHENTICATED)
        return code == TU_GRPC_OK ? TEEU_OK : TEEU_ERR_RPC_UNKNOWN;
    return (teeu_status)(TEEU_ERR_RPC_CANCELLED - 1 + code);
}

int tu_grpc_code_from_http(long http_status)
{
    /* The mapping of gRPC's "HTTP to gRPC status code" table. */
    switch (http_status) {
    case 400: return TU_GRPC_INTERNAL;
    case 401: return TU_GRPC_UNAUTHENTICATED;
    case 403: return TU_GRPC_PERMISSION_DENIED;
    case 404: return TU_GRPC_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504: return TU_GRPC_UNAVAILABLE;
    default: return TU_GRPC_UNKNOWN;
    }
}
