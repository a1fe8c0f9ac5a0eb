/*
 * teeud configuration: defaults, then a config file (--config: `key = value`
 * lines, '#' comments, or one JSON object), then the flags. Keys are the
 * long flag names without the dashes. Same format as teeu-authmanager's.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "teeud_internal.h"

#define CONFIG_MAX_BYTES (1u << 20)

void td_config_usage(FILE *out)
{
    fputs("usage: teeud [options]\n"
          "  --listen HOST:PORT        address to serve on (default 127.0.0.1:8836; port 0 = any free port)\n"
          "  --state DIR               state folder: identity key, objects/, results/ (default ./teeud-state)\n"
          "  --authmanager HOST:PORT   the AuthManager that releases data keys (required for Call)\n"
          "  --authmanager-ca FILE     CA bundle verifying the AuthManager's TLS certificate\n"
          "  --authmanager-cert FILE   client certificate for mutual TLS to the AuthManager\n"
          "  --authmanager-key FILE    its private key\n"
          "  --simulation              simulation mode: plain-text gRPC allowed, simulated attestation\n"
          "  --sim-authority DIR       simulation attestation authority (created if missing)\n"
          "  --attestation BACKEND     sim, gramine or none (default: sim with --sim-authority, none in\n"
          "                            simulation without it, gramine otherwise)\n"
          "  --tls-cert FILE           TLS server certificate chain (PEM)\n"
          "  --tls-key FILE            TLS server private key (PEM)\n"
          "  --client-ca FILE          require client certificates issued by this CA (mutual TLS)\n"
          "  --config FILE             config file: `key = value` lines or a JSON object, keys as the flags\n"
          "  --log-level LEVEL         debug, info (default), warn, error, off\n"
          "  --workers N               handler threads (default 8; an upload holds one while it runs)\n"
          "  --max-message BYTES       largest gRPC message (default 16777216)\n"
          "  --max-object-size BYTES   largest object or result, plaintext bytes (default 4294967296)\n"
          "  --max-objects-per-party N objects one owner may store (default 10000)\n"
          "  --max-concurrent-calls N  calls computing at once (default 2)\n"
          "  --max-concurrent-uploads N  uploads at once (default 4; keep it below --workers)\n"
          "  --stall-timeout-ms MS     drop an upload or reveal whose client stalls this long (default 60000)\n"
          "  --max-clock-skew-ms MS    accepted skew of signed request timestamps (default 300000)\n"
          "  --list-kernels            print each kernel descriptor and its identity hash, then exit\n"
          "  --print-mrenclave         print the simulated MRENCLAVE (SHA-256 of this binary), then exit\n"
          "  --help                    this text\n",
          out);
}

void td_config_free(td_config *cfg)
{
    free(cfg->listen_host);
    free(cfg->state_dir);
    free(cfg->sim_authority);
    free(cfg->tls_cert);
    free(cfg->tls_key);
    free(cfg->client_ca);
    free(cfg->authmanager);
    free(cfg->authmanager_ca);
    free(cfg->authmanager_cert);
    free(cfg->authmanager_key);
    free(cfg->attestation);
    memset(cfg, 0, sizeof *cfg);
}

static teeu_status set_str(char **slot, const char *value)
{
    char *copy = tu_strdup(value);
    if (copy == NULL)
        return tu_error(TEEU_ERR_NOMEM, "config value");
    free(*slot);
    *slot = copy;
    return TEEU_OK;
}

static teeu_status parse_size(const char *key, const char *value, size_t lo, size_t hi, size_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    if (value[0] == '\0' || value[0] == '-' || *end != '\0' || errno != 0 || v < lo || v > hi)
        return tu_error(TEEU_ERR_CONFIG, "%s: '%s' is not a number between %zu and %zu", key, value, lo, hi);
    *out = (size_t)v;
    return TEEU_OK;
}

static teeu_status parse_bool(const char *key, const char *value, bool *out)
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

static teeu_status parse_listen(const char *value, td_config *cfg)
{
    const char *colon = strrchr(value, ':');
    if (colon == NULL || colon == value)
        return tu_error(TEEU_ERR_CONFIG, "listen: '%s' is not HOST:PORT", value);
    size_t port = 0;
    teeu_status st = parse_size("listen port", colon + 1, 0, 65535, &port);
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
    free(cfg->listen_host);
    cfg->listen_host = h;
    cfg->listen_port = (uint16_t)port;
    return TEEU_OK;
}

static teeu_status parse_level(const char *value, teeu_log_level *out)
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

/* Applies one setting by its key name (flag name without dashes). */
static teeu_status apply(td_config *cfg, const char *key, const char *value)
{
    size_t n = 0;
    teeu_status st;
    if (strcmp(key, "listen") == 0)
        return parse_listen(value, cfg);
    if (strcmp(key, "state") == 0)
        return set_str(&cfg->state_dir, value);
    if (strcmp(key, "simulation") == 0)
        return parse_bool(key, value, &cfg->simulation);
    if (strcmp(key, "sim-authority") == 0)
        return set_str(&cfg->sim_authority, value);
    if (strcmp(key, "tls-cert") == 0)
        return set_str(&cfg->tls_cert, value);
    if (strcmp(key, "tls-key") == 0)
        return set_str(&cfg->tls_key, value);
    if (strcmp(key, "client-ca") == 0)
        return set_str(&cfg->client_ca, value);
    if (strcmp(key, "log-level") == 0)
        return parse_level(value, &cfg->log_level);
    if (strcmp(key, "workers") == 0) {
        if ((st = parse_size(key, value, 1, 256, &n)) == TEEU_OK)
            cfg->workers = n;
        return st;
    }
    if (strcmp(key, "max-message") == 0) {
        if ((st = parse_size(key, value, 65536, 1u << 30, &n)) == TEEU_OK)
            cfg->max_message = n;
        return st;
    }
    if (strcmp(key, "authmanager") == 0)
        return set_str(&cfg->authmanager, value);
    if (strcmp(key, "authmanager-ca") == 0)
        return set_str(&cfg->authmanager_ca, value);
    if (strcmp(key, "authmanager-cert") == 0)
        return set_str(&cfg->authmanager_cert, value);
    if (strcmp(key, "authmanager-key") == 0)
        return set_str(&cfg->authmanager_key, value);
    if (strcmp(key, "attestation") == 0) {
        if (strcmp(value, "sim") != 0 && strcmp(value, "gramine") != 0 && strcmp(value, "none") != 0)
            return tu_error(TEEU_ERR_CONFIG, "attestation: '%s' is not one of sim, gramine, none", value);
        return set_str(&cfg->attestation, value);
    }
    if (strcmp(key, "max-object-size") == 0) {
        if ((st = parse_size(key, value, 1, SIZE_MAX, &n)) == TEEU_OK)
            cfg->max_object_size = n;
        return st;
    }
    if (strcmp(key, "max-objects-per-party") == 0) {
        if ((st = parse_size(key, value, 1, SIZE_MAX, &n)) == TEEU_OK)
            cfg->max_objects_per_party = n;
        return st;
    }
    if (strcmp(key, "max-concurrent-calls") == 0) {
        if ((st = parse_size(key, value, 1, 1024, &n)) == TEEU_OK)
            cfg->max_concurrent_calls = n;
        return st;
    }
    if (strcmp(key, "max-concurrent-uploads") == 0) {
        if ((st = parse_size(key, value, 1, 1024, &n)) == TEEU_OK)
            cfg->max_concurrent_uploads = n;
        return st;
    }
    if (strcmp(key, "stall-timeout-ms") == 0) {
        if ((st = parse_size(key, value, 0, UINT32_MAX, &n)) == TEEU_OK)
            cfg->stall_timeout_ms = (uint32_t)n;
        return st;
    }
    if (strcmp(key, "max-clock-skew-ms") == 0) {
        if ((st = parse_size(key, value, 0, (size_t)24 * 3600 * 1000, &n)) == TEEU_OK)
            cfg->max_clock_skew_ms = n;
        return st;
    }
    if (strcmp(key, "list-kernels") == 0)
        return parse_bool(key, value, &cfg->list_kernels);
    if (strcmp(key, "print-mrenclave") == 0)
        return parse_bool(key, value, &cfg->print_mrenclave);
    return tu_error(TEEU_ERR_CONFIG, "unknown setting '%s' (see --help)", key);
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

static teeu_status load_json(td_config *cfg, const char *path, const char *text, size_t len)
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

static teeu_status load_file(td_config *cfg, const char *path)
{
    uint8_t *data = NULL;
    size_t len = 0;
    teeu_status st = tu_read_file(path, CONFIG_MAX_BYTES, &data, &len);
    if (st != TEEU_OK)
        return tu_error_context(st, "config file");
    char *text = (char *)data;
    char *first = trim(text);
    if (first[0] == '{') {
        st = load_json(cfg, path, first, strlen(first));
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

static const struct option long_opts[] = {
    {"listen", required_argument, NULL, 0},        {"state", required_argument, NULL, 0},
    {"simulation", no_argument, NULL, 0},          {"sim-authority", required_argument, NULL, 0},
    {"tls-cert", required_argument, NULL, 0},      {"tls-key", required_argument, NULL, 0},
    {"client-ca", required_argument, NULL, 0},     {"config", required_argument, NULL, 0},
    {"log-level", required_argument, NULL, 0},     {"workers", required_argument, NULL, 0},
    {"max-message", required_argument, NULL, 0},   {"authmanager", required_argument, NULL, 0},
    {"authmanager-ca", required_argument, NULL, 0}, {"authmanager-cert", required_argument, NULL, 0},
    {"authmanager-key", required_argument, NULL, 0}, {"attestation", required_argument, NULL, 0},
    {"max-object-size", required_argument, NULL, 0}, {"max-objects-per-party", required_argument, NULL, 0},
    {"max-concurrent-calls", required_argument, NULL, 0}, {"max-clock-skew-ms", required_argument, NULL, 0},
    {"max-concurrent-uploads", required_argument, NULL, 0}, {"stall-timeout-ms", required_argument, NULL, 0},
    {"list-kernels", no_argument, NULL, 0},        {"print-mrenclave", no_argument, NULL, 0},
    {"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0},
};

teeu_status td_config_parse(int argc, char **argv, td_config *cfg, bool *show_help)
{
    memset(cfg, 0, sizeof *cfg);
    *show_help = false;
    cfg->listen_port = 8836;
    cfg->log_level = TEEU_LOG_INFO;
    cfg->workers = 8;
    cfg->max_message = 16u << 20;
    cfg->max_object_size = (uint64_t)4 << 30;
    cfg->max_objects_per_party = 10000;
    cfg->max_concurrent_calls = 2;
    cfg->max_concurrent_uploads = 4;
    cfg->stall_timeout_ms = 60000;
    cfg->max_clock_skew_ms = 300000;
    teeu_status st;
    if ((st = set_str(&cfg->listen_host, "127.0.0.1")) != TEEU_OK ||
        (st = set_str(&cfg->state_dir, "teeud-state")) != TEEU_OK)
        return st;

    /* Pass 1: only --config, so that flags override the file. */
    const char *config_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config_path = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            config_path = argv[i] + 9;
    }
    if (config_path && (st = load_file(cfg, config_path)) != TEEU_OK)
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
