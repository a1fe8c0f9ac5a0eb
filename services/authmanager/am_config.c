/*
 * teeu-authmanager configuration: defaults, then a config file (--config:
 * `key = value` lines, '#' comments, or one JSON object), then the flags.
 * Keys are the long flag names without the dashes (listen, state,
 * simulation, sim-authority, tls-cert, tls-key, client-ca, log-level,
 * workers, max-message, envelope-key-bits, key-primes).
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "am_internal.h"
#include "svc_config.h"


void am_config_usage(FILE *out)
{
    fputs("usage: teeu-authmanager [options]\n"
          "  --listen HOST:PORT       address to serve on (default 127.0.0.1:8835; port 0 = any free port)\n"
          "  --state DIR              state folder: service key and database (default ./teeu-authmanager-state)\n"
          "  --simulation             simulation mode: plain-text gRPC allowed; attestation checked only\n"
          "                           when --sim-authority is given\n"
          "  --sim-authority DIR      simulation attestation authority folder (reports are then required)\n"
          "  --tls-cert FILE          TLS server certificate chain (PEM)\n"
          "  --tls-key FILE           TLS server private key (PEM)\n"
          "  --client-ca FILE         require client certificates issued by this CA (mutual TLS)\n"
          "  --config FILE            config file: `key = value` lines or a JSON object, keys as the flags\n"
          "  --log-level LEVEL        debug, info (default), warn, error, off\n"
          "  --workers N              handler threads (default 4)\n"
          "  --max-message BYTES      largest gRPC message accepted (default 4194304)\n"
          "  --envelope-key-bits N    AES key of sealed responses: 128 (default, as SecretFlow) or 256\n"
          "  --key-primes N           primes of the RSA-3072 service key generated on first start: 2 (default,\n"
          "                           FIPS 186-5 keys) or 3 (half the CPU time per data key opened)\n"
          "  --help                   this text\n",
          out);
}

void am_config_free(am_config *cfg)
{
    free(cfg->listen_host);
    free(cfg->state_dir);
    free(cfg->sim_authority);
    free(cfg->tls_cert);
    free(cfg->tls_key);
    free(cfg->client_ca);
    memset(cfg, 0, sizeof *cfg);
}

/* Applies one setting by its key name (flag name without dashes). */
static teeu_status apply(void *any, const char *key, const char *value)
{
    am_config *cfg = any;
    size_t n = 0;
    teeu_status st;
    if (strcmp(key, "listen") == 0)
        return tu_svc_parse_listen(value, &cfg->listen_host, &cfg->listen_port);
    if (strcmp(key, "state") == 0)
        return tu_svc_set_str(&cfg->state_dir, value);
    if (strcmp(key, "simulation") == 0)
        return tu_svc_parse_bool(key, value, &cfg->simulation);
    if (strcmp(key, "sim-authority") == 0)
        return tu_svc_set_str(&cfg->sim_authority, value);
    if (strcmp(key, "tls-cert") == 0)
        return tu_svc_set_str(&cfg->tls_cert, value);
    if (strcmp(key, "tls-key") == 0)
        return tu_svc_set_str(&cfg->tls_key, value);
    if (strcmp(key, "client-ca") == 0)
        return tu_svc_set_str(&cfg->client_ca, value);
    if (strcmp(key, "log-level") == 0)
        return tu_svc_parse_log_level(value, &cfg->log_level);
    if (strcmp(key, "workers") == 0) {
        if ((st = tu_svc_parse_size(key, value, 1, 256, &n)) == TEEU_OK)
            cfg->workers = n;
        return st;
    }
    if (strcmp(key, "max-message") == 0) {
        if ((st = tu_svc_parse_size(key, value, 1024, 1u << 30, &n)) == TEEU_OK)
            cfg->max_message = n;
        return st;
    }
    if (strcmp(key, "envelope-key-bits") == 0) {
        if ((st = tu_svc_parse_size(key, value, 128, 256, &n)) != TEEU_OK)
            return st;
        if (n != 128 && n != 256)
            return tu_error(TEEU_ERR_CONFIG, "envelope-key-bits must be 128 or 256");
        cfg->envelope_key_bits = (unsigned)n;
        return TEEU_OK;
    }
    if (strcmp(key, "key-primes") == 0) {
        if ((st = tu_svc_parse_size(key, value, 2, 3, &n)) == TEEU_OK)
            cfg->key_primes = (unsigned)n;
        return st;
    }
    return tu_error(TEEU_ERR_CONFIG, "unknown setting '%s' (see --help)", key);
}

static const struct option long_opts[] = {
    {"listen", required_argument, NULL, 0},        {"state", required_argument, NULL, 0},
    {"simulation", no_argument, NULL, 0},          {"sim-authority", required_argument, NULL, 0},
    {"tls-cert", required_argument, NULL, 0},      {"tls-key", required_argument, NULL, 0},
    {"client-ca", required_argument, NULL, 0},     {"config", required_argument, NULL, 0},
    {"log-level", required_argument, NULL, 0},     {"workers", required_argument, NULL, 0},
    {"max-message", required_argument, NULL, 0},   {"envelope-key-bits", required_argument, NULL, 0},
    {"key-primes", required_argument, NULL, 0},    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

teeu_status am_config_parse(int argc, char **argv, am_config *cfg, bool *show_help)
{
    memset(cfg, 0, sizeof *cfg);
    *show_help = false;
    cfg->listen_port = 8835;
    cfg->log_level = TEEU_LOG_INFO;
    cfg->workers = 4;
    cfg->max_message = 4u << 20;
    cfg->envelope_key_bits = 128;
    cfg->key_primes = 2;
    teeu_status st;
    if ((st = tu_svc_set_str(&cfg->listen_host, "127.0.0.1")) != TEEU_OK ||
        (st = tu_svc_set_str(&cfg->state_dir, "teeu-authmanager-state")) != TEEU_OK)
        return st;
    return tu_svc_parse_args(argc, argv, long_opts, apply, cfg, show_help);
}
