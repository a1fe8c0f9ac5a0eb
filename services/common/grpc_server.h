/*
 * A small, reusable gRPC server for the libteeu services (teeu-authmanager,
 * teeud): HTTP/2 with nghttp2 (server side, no I/O in the session), an
 * event loop on libevent, plain h2c (prior knowledge) or TLS with ALPN "h2"
 * and optional client-certificate verification (mutual TLS).
 *
 * Requests are collected in full (bounded per message and per call), their
 * gRPC framing is checked, and a handler from the method table runs on a
 * worker thread pool, so slow handlers (SQLite, RSA) never block the loop
 * and concurrent clients are served in parallel. A handler fills a
 * tu_grpc_response: zero or more response messages plus the gRPC status.
 *
 * Unary methods receive exactly one message; client-streaming methods
 * receive every message of the call (0..n) at once, within max_call_bytes.
 * A handler may add several response messages (server streaming).
 *
 * Threading: tu_grpc_server_run() runs the loop on the calling thread;
 * tu_grpc_server_stop() may be called from any thread. Handlers of one
 * server run concurrently on `workers` threads; per-thread state comes from
 * worker_init (e.g. one database connection per worker).
 */
#ifndef TEEU_SERVICES_GRPC_SERVER_H
#define TEEU_SERVICES_GRPC_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core_internal.h"
#include "rpc/rpc_internal.h"

/* The gRPC status codes (TU_GRPC_OK ... TU_GRPC_UNAUTHENTICATED) and
 * tu_grpc_code_name() come from libteeu's rpc layer. */

/** One received message (the protobuf bytes, without the 5-byte prefix). */
typedef struct tu_grpc_msg {
    const uint8_t *data;
    size_t len;
} tu_grpc_msg;

/** What a handler receives. Everything is borrowed for the handler's duration. */
typedef struct tu_grpc_request {
    const char *path;               /* "/pkg.Service/Method" */
    const tu_grpc_msg *msgs;        /* the request messages, in order */
    size_t n_msgs;
    const char *peer;               /* "ip:port" of the client */
    const char *peer_cert_subject;  /* client certificate subject (mutual TLS), else NULL */
} tu_grpc_request;

/** What a handler produces; see tu_grpc_reply_msg / tu_grpc_reply_status. */
typedef struct tu_grpc_response tu_grpc_response;

/**
 * Appends one response message (copied). Returns TEEU_ERR_NOMEM or
 * TEEU_ERR_LIMIT (past max_message) on failure; the call then ends with
 * INTERNAL / RESOURCE_EXHAUSTED.
 */
teeu_status tu_grpc_reply_msg(tu_grpc_response *resp, const uint8_t *data, size_t len) TU_NODISCARD;
/**
 * Sets the call's gRPC status (trailer grpc-status) and message
 * (grpc-message, percent-encoded on the wire). Default: OK, no message.
 */
void tu_grpc_reply_status(tu_grpc_response *resp, int code, const char *fmt, ...) TU_PRINTF(3, 4);
/**
 * A short note for the per-request log line (e.g. "status=7"), without
 * secrets. Optional.
 */
void tu_grpc_reply_note(tu_grpc_response *resp, const char *fmt, ...) TU_PRINTF(2, 3);

typedef void (*tu_grpc_handler_fn)(void *service_ctx, void *worker_state, const tu_grpc_request *req,
                                   tu_grpc_response *resp);

/*
 * Incremental calls (large uploads and downloads): the handler starts on a
 * worker thread as soon as the request headers arrive, pulls each request
 * message as it arrives with tu_grpc_call_recv (in order) and pushes
 * response messages with tu_grpc_call_send while it runs. Memory stays
 * bounded: the server stops giving the client HTTP/2 flow-control credit
 * while more than TU_GRPC_CALL_IN_HIGH request bytes wait for the handler,
 * and tu_grpc_call_send blocks while more than TU_GRPC_CALL_OUT_HIGH
 * response bytes wait for the client. The handler occupies its worker for
 * the whole call. Its status goes to tu_grpc_call_response().
 *
 * Each request message is assembled once (on plain h2c with large DATA
 * frames, received straight into place) and lent to the handler without
 * a copy; consumed buffers are reused for the next messages of the call
 * (at most TU_GRPC_CALL_IN_HIGH bytes of them). See docs/teeud.md.
 */
#define TU_GRPC_CALL_IN_HIGH (8u << 20)
#define TU_GRPC_CALL_OUT_HIGH (8u << 20)

typedef struct tu_grpc_call tu_grpc_call;

typedef void (*tu_grpc_stream_fn)(void *service_ctx, void *worker_state, tu_grpc_call *call);

/**
 * Next request message: 1 with *msg set (valid until the next recv or the
 * handler's return), 0 at the end of the request stream, -1 when the call
 * was cancelled (client reset, connection lost, server stopping) or the
 * request is malformed (the thread's error message says which).
 */
int tu_grpc_call_recv(tu_grpc_call *call, tu_grpc_msg *msg);
/**
 * Queues one response message (copied), blocking while the client is slow.
 * TEEU_ERR_LIMIT past max_message, TEEU_ERR_RPC_CANCELLED when the call is
 * gone, TEEU_ERR_NOMEM.
 */
teeu_status tu_grpc_call_send(tu_grpc_call *call, const uint8_t *data, size_t len) TU_NODISCARD;
/** Where the handler sets the status and note (tu_grpc_reply_status / _note). */
tu_grpc_response *tu_grpc_call_response(tu_grpc_call *call);
/** "ip:port" of the client. */
const char *tu_grpc_call_peer(const tu_grpc_call *call);
/** Client certificate subject (mutual TLS), else NULL. */
const char *tu_grpc_call_peer_cert_subject(const tu_grpc_call *call);

typedef struct tu_grpc_method {
    const char *path;          /* "/secretflowapis.v1.sdc.authmanager.AuthManager/GetComputeMeta" */
    tu_grpc_handler_fn fn;
    bool client_streaming;     /* false: exactly one request message */
} tu_grpc_method;

typedef struct tu_grpc_stream_method {
    const char *path;          /* "/teeu.v1.Teeu/PutObject" */
    tu_grpc_stream_fn fn;
} tu_grpc_stream_method;

typedef struct tu_grpc_server_config {
    const char *host;                 /* default "127.0.0.1" */
    uint16_t port;                    /* 0: any free port (see tu_grpc_server_port) */
    const tu_grpc_method *methods;    /* borrowed for the server's lifetime */
    size_t n_methods;
    const tu_grpc_stream_method *stream_methods; /* incremental calls (may be NULL), borrowed */
    size_t n_stream_methods;
    /* Incremental calls: tu_grpc_call_recv/send fail (TEEU_ERR_TIMEOUT) after
     * this long without progress, so a stalled client cannot hold a worker
     * forever. Default 60000; 0 = wait forever. */
    uint32_t call_stall_timeout_ms;
    void *service_ctx;                /* passed to every handler */
    /* Per worker thread state (may be NULL): init returns the state, or NULL on failure. */
    void *(*worker_init)(void *service_ctx);
    void (*worker_fini)(void *service_ctx, void *worker_state);
    size_t workers;                   /* handler threads; default 4 */
    size_t max_message;               /* bytes per message; default 4 MiB */
    size_t max_call_bytes;            /* request bytes per client-streaming call; default 64 MiB */
    uint32_t max_streams;             /* concurrent streams per connection; default 64 */
    size_t max_connections;           /* default 256 */
    size_t max_queue;                 /* queued calls before RESOURCE_EXHAUSTED; default 1024 */
    size_t max_buffered;              /* request bytes held server-wide (all streams and queued
                                         calls); past it RESOURCE_EXHAUSTED; default 512 MiB */
    unsigned idle_timeout_ms;         /* close connections silent this long with no open stream
                                         (also bounds TLS handshakes); 0: never; default 300000 */
    const char *tls_cert;             /* PEM certificate chain; NULL: plain h2c */
    const char *tls_key;              /* PEM private key */
    const char *client_ca;            /* PEM CA bundle: require and verify client certificates */
    bool stop_on_signals;             /* SIGTERM/SIGINT stop tu_grpc_server_run */
    const char *name;                 /* for log lines, e.g. "teeu-authmanager" */
} tu_grpc_server_config;

typedef struct tu_grpc_server tu_grpc_server;

/** Fills cfg with the defaults above. */
void tu_grpc_server_config_init(tu_grpc_server_config *cfg);

/**
 * Creates the server: loads TLS material, binds and listens, starts the
 * worker threads (worker_init runs on each; a NULL result fails creation).
 * Errors: TEEU_ERR_CONFIG, TEEU_ERR_TLS, TEEU_ERR_CONNECT (bind), TEEU_ERR_NOMEM.
 */
teeu_status tu_grpc_server_new(const tu_grpc_server_config *cfg, tu_grpc_server **out) TU_NODISCARD;
/** The bound port (the actual one when 0 was asked). */
uint16_t tu_grpc_server_port(const tu_grpc_server *srv);
/**
 * Runs the event loop until tu_grpc_server_stop (or a signal with
 * stop_on_signals). On stop: new connections are refused, calls already
 * running finish and are answered, then it returns.
 */
teeu_status tu_grpc_server_run(tu_grpc_server *srv);
/** Asks a running server to stop; safe from any thread. */
void tu_grpc_server_stop(tu_grpc_server *srv);
/** Joins the workers and frees everything. NULL is a no-op. */
void tu_grpc_server_free(tu_grpc_server *srv);

/** Percent-encodes a grpc-message value (RFC: bytes outside 0x20..0x7E and '%'). Free with free(). */
char *tu_grpc_percent_encode(const char *msg);

#endif /* TEEU_SERVICES_GRPC_SERVER_H */
