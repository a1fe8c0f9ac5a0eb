/*
 * Configuration helpers shared by the services (teeu-authmanager, teeud):
 * value parsers with clear errors, and config files as `key = value` lines
 * or one JSON object whose keys are the flag names.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "svc_config.h"

teeu_status tu_svc_set_str(char **slot, const char *value)
{
    char *copy = tu_strdup(value);
    if (copy == NULL)
        return tu_error(TEEU_ERR_NOMEM, "config value");
    free(*slot);
    *slot = copy;
    return TEEU_OK;
}

teeu_status tu_svc_parse_size(const char *key, const char *value, size_t lo, size_t hi, size_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    if (value[0] == '\0' || value[0] == '-' || *end != '\0' || errno != 0 || v < lo || v > hi)
        return tu_error(TEEU_ERR_CONFIG, "%s: '%s' is not a number between %zu and %zu", key, value, lo, hi);
    *out = (size_t)v;
    return TEEU_OK;
}

teeu_status tu_svc_parse_bool(const char *key, const char *value, bool *out)
{
    if (strcmp(value, "1") == 0 || strcasecmp(value, "true") == 0 || strcasecmp(value, "yes") == 0 ||
        strcasecmp(value, "on") == 0) {
        *out = true;
        return TEEU_OK;
    }
    if (strcmp(value, "0") == 0 || strcasecmp(value, "false") == 0 || strcasecmp(value, "no") == 0 ||
        strcasecmp(value, "off") == 0) {
        *out = false;
        return TEEU_OK;
    }
    return tu_error(TEEU_ERR_CONFIG, "%s: '%s' is not a boolean (true/false)", key, value);
}

teeu_status tu_svc_parse_listen(const char *value, char **host_out, uint16_t *port_out)
{
    const char *colon = strrchr(value, ':');
    if (colon == NULL || colon == value)
        return tu_error(TEEU_ERR_CONFIG, "listen: '%s' is not HOST:PORT", value);
    size_t port = 0;
    teeu_status st = tu_svc_parse_size("listen port", colon + 1, 0, 65535, &port);
    if (st != TEEU_OK)
        return st;
    const char *host = value;
    size_t host_len = (size_t)(colon - value);
    if (host[0] == '[' && host_len >= 2 && host[host_len - 1] == ']') {
        host++;
        host_len -= 2;
    }
    char *h = tu_memdup(host, host_len);
    if (h == NULL)
        return tu_error(TEEU_ERR_NOMEM, "listen host");
    free(*host_out);
    *host_out = h;
    *port_out = (uint16_t)port;
    return TEEU_OK;
}

teeu_status tu_svc_parse_log_level(const char *value, teeu_log_level *out)
{
    static const struct {
        const char *name;
        teeu_log_level level;
    } levels[] = {{"debug", TEEU_LOG_DEBUG}, {"info", TEEU_LOG_INFO}, {"warn", TEEU_LOG_WARN},
                  {"warning", TEEU_LOG_WARN}, {"error", TEEU_LOG_ERROR}, {"off", TEEU_LOG_OFF}};
    for (size_t i = 0; i < TU_ARRAY_LEN(levels); i++)
        if (strcasecmp(value, levels[i].name) == 0) {
            *out = levels[i].level;
            return TEEU_OK;
        }
    return tu_error(TEEU_ERR_CONFIG, "log-level: '%s' is not one of debug, info, warn, error, off", value);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static teeu_status load_json(const char *path, const char *text, size_t len, tu_svc_apply_fn apply, void *cfg)
{
    json_error_t err;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (root == NULL)
        return tu_error(TEEU_ERR_JSON, "%s:%d: invalid JSON config: %s", path, err.line, err.text);
    teeu_status st = TEEU_OK;
    if (!json_is_object(root)) {
        st = tu_error(TEEU_ERR_CONFIG, "%s: the JSON config must be an object", path);
        goto out;
    }
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        char buf[64];
        const char *v = NULL;
        if (json_is_string(value))
            v = json_string_value(value);
        else if (json_is_boolean(value))
            v = json_is_true(value) ? "true" : "false";
        else if (json_is_integer(value)) {
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(value));
            v = buf;
        } else {
            st = tu_error(TEEU_ERR_CONFIG, "%s: '%s' must be a string, number or boolean", path, key);
            goto out;
        }
        if ((st = apply(cfg, key, v)) != TEEU_OK) {
            tu_error_context(st, "%s", path);
            goto out;
        }
    }
out:
    json_decref(root);
    return st;
}

teeu_status tu_svc_load_config_file(const char *path, tu_svc_apply_fn apply, void *cfg)
{
    uint8_t *data = NULL;
    size_t len = 0;
    teeu_status st = tu_read_file(path, TU_SVC_CONFIG_MAX_BYTES, &data, &len);
    if (st != TEEU_OK)
        return tu_error_context(st, "config file");
    char *text = (char *)data;
    char *first = trim(text);
    if (first[0] == '{') {
        st = load_json(path, first, strlen(first), apply, cfg);
        free(data);
        return st;
    }
    unsigned line_no = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        line_no++;
        char *l = trim(line);
        if (l[0] == '\0' || l[0] == '#')
            continue;
        char *eq = strchr(l, '=');
        if (eq == NULL) {
            st = tu_error(TEEU_ERR_CONFIG, "%s:%u: expected `key = value`", path, line_no);
            break;
        }
        *eq = '\0';
        if ((st = apply(cfg, trim(l), trim(eq + 1))) != TEEU_OK) {
            tu_error_context(st, "%s:%u", path, line_no);
            break;
        }
    }
    free(data);
    return st;
}

/* Log lines on stderr with a UTC timestamp; never secrets (callers ensure it). */
void tu_svc_log_line(teeu_log_level level, const char *message, void *user_data)
{
    (void)user_data;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ %s %s\n", when, ts.tv_nsec / 1000000, teeu_log_level_str(level), message);
}

teeu_status tu_svc_parse_args(int argc, char **argv, const struct option *long_opts, tu_svc_apply_fn apply,
                              void *cfg, bool *show_help)
{
    teeu_status st;
    /* Pass 1: only --config, so that flags override the file. */
    const char *config_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config_path = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            config_path = argv[i] + 9;
    }
    if (config_path && (st = tu_svc_load_config_file(config_path, apply, cfg)) != TEEU_OK)
        return st;

    optind = 1;
    opterr = 0;
    for (;;) {
        int idx = -1;
        int c = getopt_long(argc, argv, "h", long_opts, &idx);
        if (c == -1)
            break;
        if (c == 'h') {
            *show_help = true;
            return TEEU_OK;
        }
        if (c != 0 || idx < 0)
            return tu_error(TEEU_ERR_CONFIG, "unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
        const char *name = long_opts[idx].name;
        if (strcmp(name, "config") == 0)
            continue;
        if ((st = apply(cfg, name, optarg ? optarg : "true")) != TEEU_OK)
            return st;
    }
    if (optind < argc)
        return tu_error(TEEU_ERR_CONFIG, "unexpected argument '%s' (see --help)", argv[optind]);
    return TEEU_OK;
}
