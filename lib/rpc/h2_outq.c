/*
 * The output queue of the nghttp2 transport: what goes to the socket next,
 * as arena copies (frame headers, control frames) and references to message
 * bytes (sent without a copy). Pure; the transport writes it with writev()
 * or gathers it for SSL_write.
 */
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc_internal.h"

static teeu_status outq_item(tu_h2_outq *q, tu_h2_outq_item it)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        if (cap < q->cap || cap > SIZE_MAX / sizeof *q->items)
            return tu_error(TEEU_ERR_OVERFLOW, "HTTP/2 output queue too long");
        tu_h2_outq_item *items = realloc(q->items, cap * sizeof *items);
        if (!items)
            return tu_error(TEEU_ERR_NOMEM, "out of memory queueing HTTP/2 output");
        q->items = items;
        q->cap = cap;
    }
    q->items[q->n++] = it;
    q->pending += it.len;
    return TEEU_OK;
}

teeu_status tu_h2_outq_copy(tu_h2_outq *q, const void *data, size_t len)
{
    if (len == 0)
        return TEEU_OK;
    if (len > SIZE_MAX / 2 - q->arena_len)
        return tu_error(TEEU_ERR_OVERFLOW, "HTTP/2 output queue too large");
    if (q->arena_len + len > q->arena_cap) {
        size_t cap = q->arena_cap ? q->arena_cap : 4096;
        while (cap < q->arena_len + len)
            cap *= 2;
        uint8_t *a = realloc(q->arena, cap);
        if (!a)
            return tu_error(TEEU_ERR_NOMEM, "out of memory queueing HTTP/2 output");
        q->arena = a;
        q->arena_cap = cap;
    }
    memcpy(q->arena + q->arena_len, data, len);
    /* Arena bytes right after the last arena item extend it (one iovec for
     * a frame header and the gRPC prefix that follows it). */
    if (q->n > q->head && q->items[q->n - 1].ext == NULL &&
        q->items[q->n - 1].off + q->items[q->n - 1].len == q->arena_len) {
        q->items[q->n - 1].len += len;
        q->arena_len += len;
        q->pending += len;
        return TEEU_OK;
    }
    tu_h2_outq_item it = {NULL, q->arena_len, len};
    q->arena_len += len;
    return outq_item(q, it);
}

teeu_status tu_h2_outq_ref(tu_h2_outq *q, const void *data, size_t len)
{
    if (len == 0)
        return TEEU_OK;
    if (!data)
        return tu_error(TEEU_ERR_INTERNAL_BUG, "HTTP/2 output queue: NULL reference");
    tu_h2_outq_item it = {data, 0, len};
    return outq_item(q, it);
}

size_t tu_h2_outq_iov(const tu_h2_outq *q, struct iovec *iov, size_t max_iov, size_t max_bytes)
{
    size_t k = 0;
    size_t bytes = 0;
    for (size_t i = q->head; i < q->n && k < max_iov && bytes < max_bytes; i++) {
        const tu_h2_outq_item *it = &q->items[i];
        size_t skip = i == q->head ? q->head_done : 0;
        const uint8_t *base = it->ext ? it->ext : q->arena + it->off;
        size_t len = it->len - skip;
        if (len > max_bytes - bytes)
            len = max_bytes - bytes;
        iov[k].iov_base = (void *)(base + skip);
        iov[k].iov_len = len;
        k++;
        bytes += len;
    }
    return k;
}

void tu_h2_outq_consume(tu_h2_outq *q, size_t n)
{
    if (n > q->pending)
        n = q->pending;
    q->pending -= n;
    while (n > 0 && q->head < q->n) {
        size_t left = q->items[q->head].len - q->head_done;
        if (n < left) {
            q->head_done += n;
            return;
        }
        n -= left;
        q->head++;
        q->head_done = 0;
    }
    if (q->head == q->n) {
        /* Everything written: reuse the storage from the start. */
        q->n = 0;
        q->head = 0;
        q->head_done = 0;
        q->arena_len = 0;
        q->pending = 0;
    }
}

bool tu_h2_outq_empty(const tu_h2_outq *q)
{
    return q->pending == 0;
}

void tu_h2_outq_clear(tu_h2_outq *q)
{
    q->n = 0;
    q->head = 0;
    q->head_done = 0;
    q->arena_len = 0;
    q->pending = 0;
}

void tu_h2_outq_free(tu_h2_outq *q)
{
    free(q->items);
    free(q->arena);
    memset(q, 0, sizeof *q);
}

size_t tu_h2_data_frame_len(size_t want, int32_t session_window, int32_t stream_window, uint32_t max_frame)
{
    size_t n = want;
    if (session_window <= 0 || stream_window <= 0)
        return 0;
    if (n > (size_t)session_window)
        n = (size_t)session_window;
    if (n > (size_t)stream_window)
        n = (size_t)stream_window;
    if (max_frame < 16384)
        max_frame = 16384; /* RFC 9113: never below the initial value */
    if (n > max_frame)
        n = max_frame;
    return n;
}
