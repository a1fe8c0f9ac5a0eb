/*
 * libteeu core — internal helpers shared by every layer and by the services.
 * Nothing here is exported from the shared library (visibility hidden);
 * internal symbols use the tu_ prefix.
 */
#ifndef TEEU_CORE_INTERNAL_H
#define TEEU_CORE_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <teeu/common.h>
#include <teeu/log.h>
#include <teeu/status.h>

#if defined(__GNUC__) || defined(__clang__)
#  define TU_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#  define TU_NODISCARD __attribute__((warn_unused_result))
#else
#  define TU_PRINTF(fmt_idx, arg_idx)
#  define TU_NODISCARD
#endif

#define TU_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- errors -------------------------------------------------------------- */

/** Records a detail message for teeu_last_error() and returns status. */
teeu_status tu_error(teeu_status status, const char *fmt, ...) TU_PRINTF(2, 3);
teeu_status tu_verror(teeu_status status, const char *fmt, va_list ap) TU_PRINTF(2, 0);
/** Prepends "context: " to the current detail message; returns status. */
teeu_status tu_error_context(teeu_status status, const char *fmt, ...) TU_PRINTF(2, 3);
/** Clears the calling thread's detail message. */
void tu_error_clear(void);

/* ---- logging ------------------------------------------------------------- */

void tu_log(teeu_log_level level, const char *fmt, ...) TU_PRINTF(2, 3);
bool tu_log_enabled(teeu_log_level level);

/* ---- memory -------------------------------------------------------------- */

/** malloc(count * size) with overflow check; NULL on overflow or OOM. */
void *tu_alloc_array(size_t count, size_t size);
/** Wipes then frees; NULL is fine. */
void tu_free_secret(void *ptr, size_t len);
/** Wipes len bytes in a way the compiler keeps. */
void tu_wipe(void *ptr, size_t len);
/** Duplicates a NUL-terminated string; NULL on OOM. */
char *tu_strdup(const char *s);
/** Duplicates len bytes (adds a NUL after them for convenience). */
void *tu_memdup(const void *p, size_t len);

static inline bool tu_mul_overflows(size_t a, size_t b, size_t *out)
{
    return __builtin_mul_overflow(a, b, out);
}
static inline bool tu_add_overflows(size_t a, size_t b, size_t *out)
{
    return __builtin_add_overflow(a, b, out);
}

/* ---- growable byte buffer ----------------------------------------------- */

/**
 * A growable byte buffer. Zero-initialise it ({0}). When `secret` is set,
 * every reallocation and tu_buf_free wipe the old storage.
 */
typedef struct tu_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    bool secret;
} tu_buf;

teeu_status tu_buf_reserve(tu_buf *buf, size_t extra) TU_NODISCARD;
teeu_status tu_buf_append(tu_buf *buf, const void *bytes, size_t len) TU_NODISCARD;
teeu_status tu_buf_append_str(tu_buf *buf, const char *s) TU_NODISCARD;
teeu_status tu_buf_printf(tu_buf *buf, const char *fmt, ...) TU_PRINTF(2, 3) TU_NODISCARD;
teeu_status tu_buf_append_u32le(tu_buf *buf, uint32_t v) TU_NODISCARD;
/** Hands the storage to the caller (free with free()/tu_free_secret) and resets buf. */
uint8_t *tu_buf_release(tu_buf *buf, size_t *len);
void tu_buf_free(tu_buf *buf);

/* ---- encodings ----------------------------------------------------------- */

/** Standard base64 with padding. *out is NUL-terminated, free with free(). */
teeu_status tu_base64_encode(const uint8_t *in, size_t len, char **out) TU_NODISCARD;
/** Strict standard base64 (padding required, no whitespace). */
teeu_status tu_base64_decode(const char *in, size_t in_len, uint8_t **out, size_t *out_len) TU_NODISCARD;
/** Hex, uppercase or lowercase. *out is NUL-terminated, free with free(). */
teeu_status tu_hex_encode(const uint8_t *in, size_t len, bool upper, char **out) TU_NODISCARD;
/** Writes 2*len hex digits plus NUL into out (size >= 2*len+1). */
void tu_hex_encode_to(const uint8_t *in, size_t len, bool upper, char *out);
/** Hex in either case; odd length or a non-hex digit is TEEU_ERR_ENCODING. */
teeu_status tu_hex_decode(const char *in, size_t in_len, uint8_t **out, size_t *out_len) TU_NODISCARD;
/** Decodes exactly out_len bytes of hex into a fixed buffer. */
teeu_status tu_hex_decode_to(const char *in, size_t in_len, uint8_t *out, size_t out_len) TU_NODISCARD;

/* ---- files --------------------------------------------------------------- */

/**
 * Reads a whole file of at most max_len bytes. *out is NUL-terminated
 * (not counted in *out_len); free with free() (or tu_free_secret).
 */
teeu_status tu_read_file(const char *path, size_t max_len, uint8_t **out, size_t *out_len) TU_NODISCARD;
/**
 * Writes a file atomically and durably: temp file in the same folder,
 * fsync, rename, fsync of the folder. mode applies to the new file.
 */
teeu_status tu_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode) TU_NODISCARD;

#endif /* TEEU_CORE_INTERNAL_H */
