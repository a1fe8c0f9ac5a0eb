/*
 * teeu-authmanager: an AuthManager speaking SecretFlow's published API
 * (docs/WIRE.md, docs/authmanager.md). Prints `listening on HOST:PORT` once
 * it serves; stops cleanly on SIGTERM/SIGINT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/stat.h>

#include "am_internal.h"
#include "svc_config.h"

int main(int argc, char **argv)
{
    am_config cfg;
    bool help = false;
    /* The state folder holds the service key and the database: owner only. */
    umask(077);
    teeu_set_log_handler(tu_svc_log_line, NULL, TEEU_LOG_INFO);
    if (am_config_parse(argc, argv, &cfg, &help) != TEEU_OK) {
        fprintf(stderr, "teeu-authmanager: %s\n", teeu_last_error());
        am_config_free(&cfg);
        return 2;
    }
    if (help) {
        am_config_usage(stdout);
        am_config_free(&cfg);
        return 0;
    }
    teeu_set_log_handler(tu_svc_log_line, NULL, cfg.log_level);
    bool tls = cfg.tls_cert != NULL || cfg.tls_key != NULL;
    if (!tls && !cfg.simulation) {
        fprintf(stderr, "teeu-authmanager: refusing to serve plain-text gRPC outside simulation: give "
                        "--tls-cert and --tls-key (or --simulation for local testing)\n");
        am_config_free(&cfg);
        return 2;
    }
    int rc = 1;
    am_service *svc = NULL;
    tu_grpc_server *srv = NULL;
    if (am_service_new(&cfg, &svc) != TEEU_OK) {
        fprintf(stderr, "teeu-authmanager: %s\n", teeu_last_error());
        goto out;
    }
    tu_grpc_server_config sc;
    tu_grpc_server_config_init(&sc);
    sc.host = cfg.listen_host;
    sc.port = cfg.listen_port;
    sc.methods = am_service_methods(&sc.n_methods);
    sc.service_ctx = svc;
    sc.worker_init = am_worker_init;
    sc.worker_fini = am_worker_fini;
    sc.workers = cfg.workers;
    sc.max_message = cfg.max_message;
    sc.tls_cert = cfg.tls_cert;
    sc.tls_key = cfg.tls_key;
    sc.client_ca = cfg.client_ca;
    sc.stop_on_signals = true;
    sc.name = "teeu-authmanager";
    if (tu_grpc_server_new(&sc, &srv) != TEEU_OK) {
        fprintf(stderr, "teeu-authmanager: %s\n", teeu_last_error());
        goto out;
    }
    const char *host = cfg.listen_host;
    bool v6 = strchr(host, ':') != NULL;
    tu_log(TEEU_LOG_INFO, "teeu-authmanager: state %s, %s, %s%s", cfg.state_dir,
           cfg.simulation ? "SIMULATION (protects nothing)" : "production",
           tls ? (cfg.client_ca ? "mutual TLS" : "TLS") : "plain-text h2c",
           cfg.simulation && cfg.sim_authority == NULL ? ", attestation not checked" : "");
    printf("listening on %s%s%s:%u\n", v6 ? "[" : "", host, v6 ? "]" : "", tu_grpc_server_port(srv));
    fflush(stdout);
    if (tu_grpc_server_run(srv) != TEEU_OK) {
        fprintf(stderr, "teeu-authmanager: %s\n", teeu_last_error());
        goto out;
    }
    tu_log(TEEU_LOG_INFO, "teeu-authmanager: stopped");
    rc = 0;
out:
    tu_grpc_server_free(srv);
    am_service_free(svc);
    am_config_free(&cfg);
    return rc;
}
