/*
 * teeud, the TEEU worker: serves teeu.v1.Teeu (docs/protocol.md,
 * docs/teeud.md). Prints `listening on HOST:PORT` once it serves; stops
 * cleanly on SIGTERM/SIGINT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/stat.h>

#include "crypto/crypto_internal.h"
#include "kernels.h"
#include "teeud_internal.h"
#include "svc_config.h"

int main(int argc, char **argv)
{
    td_config cfg;
    bool help = false;
    /* The state folder holds the service key and the database: owner only. */
    umask(077);
    teeu_set_log_handler(tu_svc_log_line, NULL, TEEU_LOG_INFO);
    if (td_config_parse(argc, argv, &cfg, &help) != TEEU_OK) {
        fprintf(stderr, "teeud: %s\n", teeu_last_error());
        td_config_free(&cfg);
        return 2;
    }
    if (help) {
        td_config_usage(stdout);
        td_config_free(&cfg);
        return 0;
    }
    teeu_set_log_handler(tu_svc_log_line, NULL, cfg.log_level);
    if (cfg.list_kernels || cfg.print_mrenclave) {
        int code = 0;
        if (cfg.list_kernels) {
            char *list = NULL;
            if (tu_kernel_list(&list) == TEEU_OK)
                fputs(list, stdout);
            else
                code = 1;
            free(list);
        }
        if (cfg.print_mrenclave) {
            uint8_t mr[32];
            char hex[65];
            if (td_self_measurement(mr) == TEEU_OK) {
                tu_hex_encode_to(mr, sizeof mr, true, hex);
                printf("%s\n", hex);
            } else {
                code = 1;
            }
        }
        if (code)
            fprintf(stderr, "teeud: %s\n", teeu_last_error());
        td_config_free(&cfg);
        return code;
    }
    bool tls = cfg.tls_cert != NULL || cfg.tls_key != NULL;
    if (!tls && !cfg.simulation) {
        fprintf(stderr, "teeud: refusing to serve plain-text gRPC outside simulation: give "
                        "--tls-cert and --tls-key (or --simulation for local testing)\n");
        td_config_free(&cfg);
        return 2;
    }
    int rc = 1;
    td_service *svc = NULL;
    tu_grpc_server *srv = NULL;
    if (td_service_new(&cfg, &svc) != TEEU_OK) {
        fprintf(stderr, "teeud: %s\n", teeu_last_error());
        goto out;
    }
    tu_grpc_server_config sc;
    tu_grpc_server_config_init(&sc);
    sc.host = cfg.listen_host;
    sc.port = cfg.listen_port;
    td_service_methods(&sc.methods, &sc.n_methods, &sc.stream_methods, &sc.n_stream_methods);
    sc.service_ctx = svc;
    sc.call_stall_timeout_ms = cfg.stall_timeout_ms;
    if (cfg.max_concurrent_uploads >= cfg.workers)
        tu_log(TEEU_LOG_WARN, "teeud: max-concurrent-uploads (%zu) >= workers (%zu): uploads can starve other calls",
               cfg.max_concurrent_uploads, cfg.workers);
    sc.workers = cfg.workers;
    sc.max_message = cfg.max_message;
    sc.tls_cert = cfg.tls_cert;
    sc.tls_key = cfg.tls_key;
    sc.client_ca = cfg.client_ca;
    sc.stop_on_signals = true;
    sc.name = "teeud";
    if (tu_grpc_server_new(&sc, &srv) != TEEU_OK) {
        fprintf(stderr, "teeud: %s\n", teeu_last_error());
        goto out;
    }
    const char *host = cfg.listen_host;
    bool v6 = strchr(host, ':') != NULL;
    tu_log(TEEU_LOG_INFO, "teeud: state %s, %s, %s, attestation backend %s, AuthManager %s", cfg.state_dir,
           cfg.simulation ? "SIMULATION (protects nothing)" : "production",
           tls ? (cfg.client_ca ? "mutual TLS" : "TLS") : "plain-text h2c", td_service_attestation(svc),
           cfg.authmanager ? cfg.authmanager : "(none: Call unavailable)");
    printf("listening on %s%s%s:%u\n", v6 ? "[" : "", host, v6 ? "]" : "", tu_grpc_server_port(srv));
    fflush(stdout);
    if (tu_grpc_server_run(srv) != TEEU_OK) {
        fprintf(stderr, "teeud: %s\n", teeu_last_error());
        goto out;
    }
    tu_log(TEEU_LOG_INFO, "teeud: stopped");
    rc = 0;
out:
    tu_grpc_server_free(srv);
    td_service_free(svc);
    td_config_free(&cfg);
    return rc;
}
