/*
 * Configuration helpers shared by the services: value parsers that name the
 * setting in their errors, and config files (`key = value` lines, `#`
 * comments, or one JSON object) applied key by key, keys being the flag
 * names without dashes.
 */
#ifndef TEEU_SERVICES_SVC_CONFIG_H
#define TEEU_SERVICES_SVC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <getopt.h>

#include "core/core_internal.h"

/** Largest config file read. */
#define TU_SVC_CONFIG_MAX_BYTES (1u << 20)

/** Applies one setting to a service's config; unknown keys are TEEU_ERR_CONFIG. */
typedef teeu_status (*tu_svc_apply_fn)(void *cfg, const char *key, const char *value);

/** Replaces *slot with a copy of value (the old string is freed). */
teeu_status tu_svc_set_str(char **slot, const char *value) TU_NODISCARD;
/** A decimal in [lo, hi]; the error names key. */
teeu_status tu_svc_parse_size(const char *key, const char *value, size_t lo, size_t hi, size_t *out) TU_NODISCARD;
/** true/false, yes/no, on/off, 1/0. */
teeu_status tu_svc_parse_bool(const char *key, const char *value, bool *out) TU_NODISCARD;
/** HOST:PORT or [IPv6]:PORT; *host_out is replaced (free with free()). */
teeu_status tu_svc_parse_listen(const char *value, char **host_out, uint16_t *port_out) TU_NODISCARD;
/** debug, info, warn(ing), error, off. */
teeu_status tu_svc_parse_log_level(const char *value, teeu_log_level *out) TU_NODISCARD;
/** Reads a config file and applies each setting, errors prefixed with path:line. */
teeu_status tu_svc_load_config_file(const char *path, tu_svc_apply_fn apply, void *cfg) TU_NODISCARD;

/**
 * Applies a service's command line: first the file named by --config (if
 * any), then every flag in long_opts in order, so flags override the file.
 * A flag without an argument applies as "true"; --help / -h sets
 * *show_help and stops.
 */
teeu_status tu_svc_parse_args(int argc, char **argv, const struct option *long_opts, tu_svc_apply_fn apply,
                              void *cfg, bool *show_help) TU_NODISCARD;

/** A log handler for the services: "2026-12-04T21:00:00.000Z info message" lines on stderr. */
void tu_svc_log_line(teeu_log_level level, const char *message, void *user_data);

#endif /* TEEU_SERVICES_SVC_CONFIG_H */
