/* The process-wide log handler: set once at start-up, read with atomics. */
#include <stdatomic.h>
#include <stdio.h>

#include "core_internal.h"

typedef struct tu_log_sink {
    teeu_log_fn fn;
    void *user_data;
    teeu_log_level min_level;
} tu_log_sink;

/* Two slots so a reader never sees a half-written sink; the active index
 * is published atomically after the slot is filled. */
static tu_log_sink tu_sinks[2] = {{NULL, NULL, TEEU_LOG_OFF}, {NULL, NULL, TEEU_LOG_OFF}};
static atomic_int tu_sink_active = 0;

void teeu_set_log_handler(teeu_log_fn fn, void *user_data, teeu_log_level min_level)
{
    int next = 1 - atomic_load(&tu_sink_active);
    tu_sinks[next].fn = fn;
    tu_sinks[next].user_data = user_data;
    tu_sinks[next].min_level = fn ? min_level : TEEU_LOG_OFF;
    atomic_store(&tu_sink_active, next);
}

const char *teeu_log_level_str(teeu_log_level level)
{
    switch (level) {
    case TEEU_LOG_DEBUG: return "debug";
    case TEEU_LOG_INFO: return "info";
    case TEEU_LOG_WARN: return "warn";
    case TEEU_LOG_ERROR: return "error";
    case TEEU_LOG_OFF: return "off";
    }
    return "unknown";
}

void teeu_log_to_stderr(teeu_log_level level, const char *message, void *user_data)
{
    (void)user_data;
    fprintf(stderr, "teeu: %s: %s\n", teeu_log_level_str(level), message);
}

bool tu_log_enabled(teeu_log_level level)
{
    const tu_log_sink *sink = &tu_sinks[atomic_load(&tu_sink_active)];
    return sink->fn != NULL && level >= sink->min_level && level < TEEU_LOG_OFF;
}

void tu_log(teeu_log_level level, const char *fmt, ...)
{
    const tu_log_sink *sink = &tu_sinks[atomic_load(&tu_sink_active)];
    if (sink->fn == NULL || level < sink->min_level || level >= TEEU_LOG_OFF)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sink->fn(level, msg, sink->user_data);
}
