/* Allocation helpers and the growable buffer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core_internal.h"

void teeu_free(void *ptr)
{
    free(ptr);
}

void teeu_free_secret(void *ptr, size_t len)
{
    tu_free_secret(ptr, len);
}

void tu_wipe(void *ptr, size_t len)
{
    if (ptr != NULL && len > 0)
        OPENSSL_cleanse(ptr, len);
}

void tu_free_secret(void *ptr, size_t len)
{
    if (ptr == NULL)
        return;
    tu_wipe(ptr, len);
    free(ptr);
}

void *tu_alloc_array(size_t count, size_t size)
{
    size_t total;
    if (tu_mul_overflows(count, size, &total))
        return NULL;
    return malloc(total ? total : 1);
}

char *tu_strdup(const char *s)
{
    return tu_memdup(s, strlen(s));
}

void *tu_memdup(const void *p, size_t len)
{
    size_t total;
    if (tu_add_overflows(len, 1, &total))
        return NULL;
    uint8_t *copy = malloc(total);
    if (copy == NULL)
        return NULL;
    if (len > 0)
        memcpy(copy, p, len);
    copy[len] = 0;
    return copy;
}

teeu_status tu_buf_reserve(tu_buf *buf, size_t extra)
{
    size_t need;
    if (tu_add_overflows(buf->len, extra, &need))
        return tu_error(TEEU_ERR_OVERFLOW, "buffer size overflows");
    if (need <= buf->cap)
        return TEEU_OK;
    size_t cap = buf->cap ? buf->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    uint8_t *grown;
    if (buf->secret) {
        /* realloc could leave a copy of the secret behind: move it ourselves. */
        grown = malloc(cap);
        if (grown == NULL)
            return tu_error(TEEU_ERR_NOMEM, "out of memory growing a buffer to %zu bytes", cap);
        if (buf->len > 0)
            memcpy(grown, buf->data, buf->len);
        tu_free_secret(buf->data, buf->cap);
    } else {
        grown = realloc(buf->data, cap);
        if (grown == NULL)
            return tu_error(TEEU_ERR_NOMEM, "out of memory growing a buffer to %zu bytes", cap);
    }
    buf->data = grown;
    buf->cap = cap;
    return TEEU_OK;
}

teeu_status tu_buf_append(tu_buf *buf, const void *bytes, size_t len)
{
    teeu_status st = tu_buf_reserve(buf, len);
    if (st != TEEU_OK)
        return st;
    if (len > 0)
        memcpy(buf->data + buf->len, bytes, len);
    buf->len += len;
    return TEEU_OK;
}

teeu_status tu_buf_append_str(tu_buf *buf, const char *s)
{
    return tu_buf_append(buf, s, strlen(s));
}

teeu_status tu_buf_append_u32le(tu_buf *buf, uint32_t v)
{
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return tu_buf_append(buf, le, sizeof le);
}

teeu_status tu_buf_printf(tu_buf *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return tu_error(TEEU_ERR_INTERNAL_BUG, "bad format string");
    /* Reserve the NUL too; it is not counted in len. */
    teeu_status st = tu_buf_reserve(buf, (size_t)n + 1);
    if (st != TEEU_OK)
        return st;
    va_start(ap, fmt);
    vsnprintf((char *)buf->data + buf->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf->len += (size_t)n;
    return TEEU_OK;
}

uint8_t *tu_buf_release(tu_buf *buf, size_t *len)
{
    uint8_t *data = buf->data;
    if (len != NULL)
        *len = buf->len;
    buf->data = NULL;
    buf->len = buf->cap = 0;
    return data;
}

void tu_buf_free(tu_buf *buf)
{
    if (buf->secret)
        tu_free_secret(buf->data, buf->cap);
    else
        free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}
