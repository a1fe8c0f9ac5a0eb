/*
 * grpc_test_server — exercises services/common/grpc_server for the tests
 * (not installed). Messages are raw bytes (no protobuf):
 *   /teeu.test.Echo/Unary    echoes the request
 *   /teeu.test.Echo/Collect  client streaming: answers "<n>:<total bytes>"
 *   /teeu.test.Echo/Split    server streaming: one response per request byte
 *   /teeu.test.Echo/Slow     sleeps <request as decimal ms> (<= 5000), answers "done"
 *   /teeu.test.Echo/Fail     fails with code <first byte> and the rest as message
 * Usage: grpc_test_server [--port N] [--workers N] [--max-message N] [--max-buffered N]
 *                         [--idle-timeout-ms N]
 *                         [--tls-cert F --tls-key F [--client-ca F]]
 * Prints `listening on 127.0.0.1:PORT`; stops on SIGTERM/SIGINT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grpc_server.h"

static void echo(void *ctx, void *ws, const tu_grpc_request *req, tu_grpc_response *resp)
{
    (void)ctx;
    (void)ws;
    if (tu_grpc_reply_msg(resp, req->msgs[0].data, req->msgs[0].len) != TEEU_OK)
        tu_grpc_reply_status(resp, TU_GRPC_RESOURCE_EXHAUSTED, "%s", teeu_last_error());
}

static void collect(void *ctx, void *ws, const tu_grpc_request *req, tu_grpc_response *resp)
{
    (void)ctx;
    (void)ws;
    size_t total = 0;
    for (size_t i = 0; i < req->n_msgs; i++)
        total += req->msgs[i].len;
    char out[64];
    int n = snprintf(out, sizeof out, "%zu:%zu", req->n_msgs, total);
    if (tu_grpc_reply_msg(resp, (const uint8_t *)out, (size_t)n) != TEEU_OK)
        tu_grpc_reply_status(resp, TU_GRPC_INTERNAL, "%s", teeu_last_error());
}

static void split(void *ctx, void *ws, const tu_grpc_request *req, tu_grpc_response *resp)
{
    (void)ctx;
    (void)ws;
    for (size_t i = 0; i < req->msgs[0].len; i++)
        if (tu_grpc_reply_msg(resp, &req->msgs[0].data[i], 1) != TEEU_OK) {
            tu_grpc_reply_status(resp, TU_GRPC_INTERNAL, "%s", teeu_last_error());
            return;
        }
}

static void slow(void *ctx, void *ws, const tu_grpc_request *req, tu_grpc_response *resp)
{
    (void)ctx;
    (void)ws;
    char buf[16] = {0};
    size_t n = req->msgs[0].len < sizeof buf - 1 ? req->msgs[0].len : sizeof buf - 1;
    memcpy(buf, req->msgs[0].data, n);
    long ms = strtol(buf, NULL, 10);
    if (ms < 0 || ms > 5000) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "delay out of range");
        return;
    }
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    if (tu_grpc_reply_msg(resp, (const uint8_t *)"done", 4) != TEEU_OK)
        tu_grpc_reply_status(resp, TU_GRPC_INTERNAL, "%s", teeu_last_error());
}

static void failing(void *ctx, void *ws, const tu_grpc_request *req, tu_grpc_response *resp)
{
    (void)ctx;
    (void)ws;
    if (req->msgs[0].len == 0) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "empty request");
        return;
    }
    tu_grpc_reply_status(resp, req->msgs[0].data[0], "%.*s", (int)(req->msgs[0].len - 1),
                         (const char *)req->msgs[0].data + 1);
}

static const tu_grpc_method methods[] = {
    {"/teeu.test.Echo/Unary", echo, false},     {"/teeu.test.Echo/Collect", collect, true},
    {"/teeu.test.Echo/Split", split, false},    {"/teeu.test.Echo/Slow", slow, false},
    {"/teeu.test.Echo/Fail", failing, false},
};

int main(int argc, char **argv)
{
    tu_grpc_server_config cfg;
    tu_grpc_server_config_init(&cfg);
    cfg.methods = methods;
    cfg.n_methods = TU_ARRAY_LEN(methods);
    cfg.stop_on_signals = true;
    cfg.name = "grpc_test_server";
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (strcmp(k, "--port") == 0)
            cfg.port = (uint16_t)atoi(v);
        else if (strcmp(k, "--workers") == 0)
            cfg.workers = (size_t)atoi(v);
        else if (strcmp(k, "--max-message") == 0)
            cfg.max_message = (size_t)atol(v);
        else if (strcmp(k, "--idle-timeout-ms") == 0)
            cfg.idle_timeout_ms = (unsigned)atoi(v);
        else if (strcmp(k, "--max-buffered") == 0)
            cfg.max_buffered = (size_t)atol(v);
        else if (strcmp(k, "--tls-cert") == 0)
            cfg.tls_cert = v;
        else if (strcmp(k, "--tls-key") == 0)
            cfg.tls_key = v;
        else if (strcmp(k, "--client-ca") == 0)
            cfg.client_ca = v;
        else {
            fprintf(stderr, "unknown option %s\n", k);
            return 2;
        }
    }
    teeu_set_log_handler(teeu_log_to_stderr, NULL, TEEU_LOG_INFO);
    tu_grpc_server *srv = NULL;
    if (tu_grpc_server_new(&cfg, &srv) != TEEU_OK) {
        fprintf(stderr, "grpc_test_server: %s\n", teeu_last_error());
        return 1;
    }
    printf("listening on 127.0.0.1:%u\n", tu_grpc_server_port(srv));
    fflush(stdout);
    teeu_status st = tu_grpc_server_run(srv);
    tu_grpc_server_free(srv);
    return st == TEEU_OK ? 0 : 1;
}
