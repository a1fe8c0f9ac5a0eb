/*
 * libteeu — diagnostics. The library writes nothing to stdout/stderr on its
 * own; messages go to a handler the application installs (or nowhere).
 */
#ifndef TEEU_LOG_H
#define TEEU_LOG_H

#include <teeu/export.h>

TEEU_BEGIN_DECLS

typedef enum teeu_log_level {
    TEEU_LOG_DEBUG = 10,
    TEEU_LOG_INFO = 20,
    TEEU_LOG_WARN = 30,
    TEEU_LOG_ERROR = 40,
    TEEU_LOG_OFF = 100
} teeu_log_level;

/**
 * Receives one message (NUL-terminated, no trailing newline, never a
 * secret). May be called from any thread that calls into libteeu, so it must
 * be thread-safe. The message is only valid during the call.
 */
typedef void (*teeu_log_fn)(teeu_log_level level, const char *message, void *user_data);

/**
 * Installs the process-wide log handler (NULL: discard everything) and the
 * lowest level passed to it. Like curl_global_init, call it during
 * start-up before other threads use libteeu; later calls are atomic but
 * may race with messages in flight.
 */
TEEU_API void teeu_set_log_handler(teeu_log_fn fn, void *user_data, teeu_log_level min_level);

/** A ready handler that writes "teeu: LEVEL: message" lines to stderr. */
TEEU_API void teeu_log_to_stderr(teeu_log_level level, const char *message, void *user_data);

/** "debug", "info", "warn", "error"; "off" for TEEU_LOG_OFF. Never NULL. */
TEEU_API const char *teeu_log_level_str(teeu_log_level level);

TEEU_END_DECLS

#endif /* TEEU_LOG_H */
