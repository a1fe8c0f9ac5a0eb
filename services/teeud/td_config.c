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

#include "teeud_internal.h"
#include "svc_config.h"


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
          "  --recycle-mb N            MiB of deleted objects' files kept in spare/ for new uploads to\n"
          "                            overwrite, which is faster than fresh pages (default 1024; 0 = off)\n"
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

/* Applies one setting by its key name (flag name without dashes). */
static teeu_status apply(void *any, const char *key, const char *value)
{
    td_config *cfg = any;
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
        if ((st = tu_svc_parse_size(key, value, 65536, 1u << 30, &n)) == TEEU_OK)
            cfg->max_message = n;
        return st;
    }
    if (strcmp(key, "authmanager") == 0)
        return tu_svc_set_str(&cfg->authmanager, value);
    if (strcmp(key, "authmanager-ca") == 0)
        return tu_svc_set_str(&cfg->authmanager_ca, value);
    if (strcmp(key, "authmanager-cert") == 0)
        return tu_svc_set_str(&cfg->authmanager_cert, value);
    if (strcmp(key, "authmanager-key") == 0)
        return tu_svc_set_str(&cfg->authmanager_key, value);
    if (strcmp(key, "attestation") == 0) {
        if (strcmp(value, "sim") != 0 && strcmp(value, "gramine") != 0 && strcmp(value, "none") != 0)
            return tu_error(TEEU_ERR_CONFIG, "attestation: '%s' is not one of sim, gramine, none", value);
        return tu_svc_set_str(&cfg->attestation, value);
    }
    if (strcmp(key, "max-object-size") == 0) {
        if ((st = tu_svc_parse_size(key, value, 1, SIZE_MAX, &n)) == TEEU_OK)
            cfg->max_object_size = n;
        return st;
    }
    if (strcmp(key, "max-objects-per-party") == 0) {
        if ((st = tu_svc_parse_size(key, value, 1, SIZE_MAX, &n)) == TEEU_OK)
            cfg->max_objects_per_party = n;
        return st;
    }
    if (strcmp(key, "recycle-mb") == 0) {
        if ((st = tu_svc_parse_size(key, value, 0, (size_t)1 << 30, &n)) == TEEU_OK)
            cfg->recycle_bytes = (uint64_t)n << 20;
        return st;
    }
    if (strcmp(key, "max-concurrent-calls") == 0) {
        if ((st = tu_svc_parse_size(key, value, 1, 1024, &n)) == TEEU_OK)
            cfg->max_concurrent_calls = n;
        return st;
    }
    if (strcmp(key, "max-concurrent-uploads") == 0) {
        if ((st = tu_svc_parse_size(key, value, 1, 1024, &n)) == TEEU_OK)
            cfg->max_concurrent_uploads = n;
        return st;
    }
    if (strcmp(key, "stall-timeout-ms") == 0) {
        if ((st = tu_svc_parse_size(key, value, 0, UINT32_MAX, &n)) == TEEU_OK)
            cfg->stall_timeout_ms = (uint32_t)n;
        return st;
    }
    if (strcmp(key, "max-clock-skew-ms") == 0) {
        if ((st = tu_svc_parse_size(key, value, 0, (size_t)24 * 3600 * 1000, &n)) == TEEU_OK)
            cfg->max_clock_skew_ms = n;
        return st;
    }
    if (strcmp(key, "list-kernels") == 0)
        return tu_svc_parse_bool(key, value, &cfg->list_kernels);
    if (strcmp(key, "print-mrenclave") == 0)
        return tu_svc_parse_bool(key, value, &cfg->print_mrenclave);
    return tu_error(TEEU_ERR_CONFIG, "unknown setting '%s' (see --help)", key);
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
    {"recycle-mb", required_argument, NULL, 0},
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
    cfg->recycle_bytes = (uint64_t)1 << 30;
    cfg->max_concurrent_calls = 2;
    cfg->max_concurrent_uploads = 4;
    cfg->stall_timeout_ms = 60000;
    cfg->max_clock_skew_ms = 300000;
    teeu_status st;
    if ((st = tu_svc_set_str(&cfg->listen_host, "127.0.0.1")) != TEEU_OK ||
        (st = tu_svc_set_str(&cfg->state_dir, "teeud-state")) != TEEU_OK)
        return st;
    return tu_svc_parse_args(argc, argv, long_opts, apply, cfg, show_help);
}
