/*
 * grpc_test_server — exercises services/common/grpc_server for the tests
 * (not installed). Messages are raw bytes (no protobuf):
 *   /teeu.test.Echo/Unary    echoes the request
 *   /teeu.test.Echo/Collect  client streaming: answers "<n>:<total bytes>"
 *   /teeu.test.Echo/Split    server streaming: one response per request byte
 *   /teeu.test.Echo/Slow     sleeps <request as decimal ms> (<= 5000), answers "done"
 *   /teeu.test.Echo/Fail     fails with code <first byte> and the rest as message
 *   /teeu.test.Echo/Sink     incremental: reads every message, answers "<n>:<total bytes>"
 *   /teeu.test.Echo/Pipe     incremental: sends each message back as it arrives
 *   /teeu.test.Echo/SlowSink incremental: the first message is a delay in decimal ms (<= 10000);
 *                            sleeps that long before reading the rest, then answers like Sink
 *                            (a slow consumer, for flow-control tests)
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

static void sink(void *ctx, void *ws, tu_grpc_call *call)
{
    (void)ctx;
    (void)ws;
    size_t n = 0, total = 0;
    tu_grpc_msg m;
    int rv;
    while ((rv = tu_grpc_call_recv(call, &m)) == 1) {
        n++;
        total += m.len;
    }
    if (rv < 0) {
        tu_grpc_reply_status(tu_grpc_call_response(call), TU_GRPC_CANCELLED, "%s", teeu_last_error());
        return;
    }
    char out[64];
    int len = snprintf(out, sizeof out, "%zu:%zu", n, total);
    if (tu_grpc_call_send(call, (const uint8_t *)out, (size_t)len) != TEEU_OK)
        tu_grpc_reply_status(tu_grpc_call_response(call), TU_GRPC_CANCELLED, "%s", teeu_last_error());
}

static void slow_sink(void *ctx, void *ws, tu_grpc_call *call)
{
    tu_grpc_msg m;
    int rv = tu_grpc_call_recv(call, &m);
    if (rv != 1) {
        tu_grpc_reply_status(tu_grpc_call_response(call), TU_GRPC_INVALID_ARGUMENT, "send the delay first");
        return;
    }
    char buf[16] = {0};
    memcpy(buf, m.data, m.len < sizeof buf - 1 ? m.len : sizeof buf - 1);
    long ms = strtol(buf, NULL, 10);
    if (ms < 0 || ms > 10000) {
        tu_grpc_reply_status(tu_grpc_call_response(call), TU_GRPC_INVALID_ARGUMENT, "delay out of range");
        return;
    }
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    sink(ctx, ws, call);
}

static void pipe_back(void *ctx, void *ws, tu_grpc_call *call)
{
    (void)ctx;
    (void)ws;
    tu_grpc_msg m;
    int rv;
    while ((rv = tu_grpc_call_recv(call, &m)) == 1)
        if (tu_grpc_call_send(call, m.data, m.len) != TEEU_OK)
            break;
    if (rv != 0)
        tu_grpc_reply_status(tu_grpc_call_response(call), TU_GRPC_CANCELLED, "%s", teeu_last_error());
}

static const tu_grpc_stream_method stream_methods[] = {
    {"/teeu.test.Echo/Sink", sink},
    {"/teeu.test.Echo/Pipe", pipe_back},
    {"/teeu.test.Echo/SlowSink", slow_sink},
};

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
    cfg.stream_methods = stream_methods;
    cfg.n_stream_methods = TU_ARRAY_LEN(stream_methods);
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
