/*
 * libteeu rpc — gRPC calls over HTTP/2 with libcurl.
 *
 * Two halves:
 *  - the gRPC codec (grpc_codec.c): pure functions over buffers — message
 *    framing (1-byte compressed flag + 4-byte big-endian length), an
 *    incremental deframer with a size bound, grpc-timeout formatting,
 *    grpc-message percent-decoding and the gRPC/HTTP status mapping. No I/O,
 *    so every byte can be tested directly.
 *  - the transport (channel.c): a channel per endpoint holding a
 *    mutex-protected pool of libcurl easy handles; a handle keeps its HTTP/2
 *    connection alive between calls, so sequential calls reuse one
 *    connection and concurrent threads each get their own handle.
 *
 * Calls are unary, client-streaming (request messages from a callback) or
 * server-streaming (a callback per response message); all three run through
 * tu_rpc_call. Errors: a gRPC status from the server maps to
 * TEEU_ERR_RPC_<CODE> with the server's grpc-message in teeu_last_error();
 * transport failures map to TEEU_ERR_CONNECT / TLS / TIMEOUT / PROTOCOL /
 * RESPONSE_TOO_LARGE with a message naming the endpoint and the method.
 */
#ifndef TEEU_RPC_INTERNAL_H
#define TEEU_RPC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <protobuf-c/protobuf-c.h>

#include "core/core_internal.h"

/* ---- gRPC codec (pure) ---------------------------------------------------- */

#define TU_GRPC_FRAME_HEADER_LEN 5
/** Default bound on one response message (and on a unary response). */
#define TU_RPC_DEFAULT_MAX_MESSAGE (64u << 20)
/** Largest message length the framing can express. */
#define TU_GRPC_MAX_FRAME_PAYLOAD UINT32_MAX

/** gRPC status codes (the google.rpc.Code numbering). */
enum {
    TU_GRPC_OK = 0,
    TU_GRPC_CANCELLED = 1,
    TU_GRPC_UNKNOWN = 2,
    TU_GRPC_INVALID_ARGUMENT = 3,
    TU_GRPC_DEADLINE_EXCEEDED = 4,
    TU_GRPC_NOT_FOUND = 5,
    TU_GRPC_ALREADY_EXISTS = 6,
    TU_GRPC_PERMISSION_DENIED = 7,
    TU_GRPC_RESOURCE_EXHAUSTED = 8,
    TU_GRPC_FAILED_PRECONDITION = 9,
    TU_GRPC_ABORTED = 10,
    TU_GRPC_OUT_OF_RANGE = 11,
    TU_GRPC_UNIMPLEMENTED = 12,
    TU_GRPC_INTERNAL = 13,
    TU_GRPC_UNAVAILABLE = 14,
    TU_GRPC_DATA_LOSS = 15,
    TU_GRPC_UNAUTHENTICATED = 16
};

/** Writes the 5-byte frame header for an uncompressed message of len bytes. */
teeu_status tu_grpc_frame_header(size_t len, uint8_t out[TU_GRPC_FRAME_HEADER_LEN]) TU_NODISCARD;

/** Called once per complete message; msg is valid only during the call. */
typedef teeu_status (*tu_grpc_msg_fn)(void *ctx, const uint8_t *msg, size_t len);

/**
 * Incremental deframer. Feed it response body bytes in any split; each
 * complete message is handed to on_msg. A message longer than max_message,
 * a set compressed flag (libteeu never offers compression) or a flag byte
 * other than 0/1 fails before any payload is buffered.
 */
typedef struct tu_grpc_deframer {
    size_t max_message;
    tu_grpc_msg_fn on_msg;
    void *ctx;
    uint8_t header[TU_GRPC_FRAME_HEADER_LEN];
    size_t header_have;
    size_t want;          /* payload length of the current frame */
    tu_buf payload;
    bool in_payload;
    size_t messages;      /* complete messages delivered so far */
} tu_grpc_deframer;

void tu_grpc_deframer_init(tu_grpc_deframer *d, size_t max_message, tu_grpc_msg_fn on_msg, void *ctx);
/** Consumes len bytes; stops at the first error (the deframer is then dead). */
teeu_status tu_grpc_deframer_feed(tu_grpc_deframer *d, const uint8_t *data, size_t len) TU_NODISCARD;
/** TEEU_ERR_PROTOCOL if the body ended inside a frame. */
teeu_status tu_grpc_deframer_finish(const tu_grpc_deframer *d) TU_NODISCARD;
void tu_grpc_deframer_free(tu_grpc_deframer *d);

/**
 * Formats a grpc-timeout header value ("<=8 digits><unit>") for a deadline
 * of timeout_ms milliseconds; out must hold at least 16 bytes.
 */
void tu_grpc_timeout_format(uint64_t timeout_ms, char out[16]);

/**
 * Percent-decodes a grpc-message value into out (cap bytes including the
 * NUL; longer messages are cut). Control characters and malformed escapes
 * are replaced by '?', so the result is safe to log. Returns strlen(out).
 */
size_t tu_grpc_message_decode(const char *in, size_t in_len, char *out, size_t cap);

/**
 * Parses a grpc-status header value: 1 to 3 ASCII digits, no sign or
 * space. Returns false on anything else.
 */
bool tu_grpc_status_parse(const char *in, size_t in_len, int *code);

/** The TEEU_ERR_RPC_* status for a gRPC code (unknown codes: RPC_UNKNOWN). */
teeu_status tu_grpc_code_status(int code);
/** Canonical upper-case name of a gRPC code ("PERMISSION_DENIED"). */
const char *tu_grpc_code_name(int code);
/** The gRPC code that an HTTP status implies when grpc-status is missing. */
int tu_grpc_code_from_http(long http_status);

/* ---- a gRPC response as it arrives (pure; grpc_answer.c) ------------------- */

/** grpc-message bytes kept (including the NUL). */
#define TU_RPC_GRPC_MESSAGE_MAX 512
/** Bytes of a non-gRPC (error page) body read and dropped at most. */
#define TU_RPC_DISCARD_MAX (64u << 10)

/**
 * What a call learned from its response: HTTP status, content-type,
 * grpc-status/grpc-message (from the headers of a trailers-only answer or
 * the trailers) and the body through a deframer. Both transports fill it;
 * tu_grpc_answer_outcome turns it into the call's result, so the two map
 * answers identically.
 */
typedef struct tu_grpc_answer {
    long http_status;
    bool grpc_content_type;
    size_t discarded;
    bool have_grpc_status;
    int grpc_status;
    char grpc_message[TU_RPC_GRPC_MESSAGE_MAX];
    tu_grpc_deframer deframer;
} tu_grpc_answer;

void tu_grpc_answer_init(tu_grpc_answer *r, size_t max_message, tu_grpc_msg_fn on_msg, void *ctx);
/** Forgets everything received (for a new attempt); keeps bound and callback. */
void tu_grpc_answer_reset(tu_grpc_answer *r);
void tu_grpc_answer_free(tu_grpc_answer *r);
/** True if value is "application/grpc" or "application/grpc+x" / ";params". */
bool tu_grpc_content_type_ok(const char *v, size_t len);
/**
 * One response header or trailer field (name in lower case as HTTP/2 sends
 * it; compared case-insensitively): ":status", "content-type",
 * "grpc-status" (a malformed value clears the status), "grpc-message".
 * Other fields are ignored.
 */
void tu_grpc_answer_header(tu_grpc_answer *r, const char *name, size_t name_len, const char *value,
                             size_t value_len);
/**
 * Body bytes: deframed when the answer is a 200 gRPC one, otherwise dropped
 * up to TU_RPC_DISCARD_MAX (an error page; the outcome comes from the status).
 */
teeu_status tu_grpc_answer_body(tu_grpc_answer *r, const uint8_t *data, size_t len) TU_NODISCARD;
/** True once a grpc-status other than OK arrived. */
bool tu_grpc_answer_failed(const tu_grpc_answer *r);
/**
 * The result of a complete HTTP/2 response: the server's gRPC status
 * (TEEU_ERR_RPC_*), the HTTP mapping when grpc-status is missing, or
 * TEEU_ERR_PROTOCOL for an answer that is not valid gRPC; messages name
 * method and endpoint.
 */
teeu_status tu_grpc_answer_outcome(const tu_grpc_answer *r, const char *method, const char *endpoint) TU_NODISCARD;

/**
 * Splits a checked endpoint "host:port" / "[v6]:port" into host (without
 * brackets) and port. TEEU_ERR_CONFIG if it does not fit the buffers or is
 * malformed.
 */
teeu_status tu_rpc_endpoint_split(const char *endpoint, char *host, size_t host_cap, char *port,
                                  size_t port_cap) TU_NODISCARD;

/* ---- channel ---------------------------------------------------------------- */

/** Transport options of a channel. Fill with tu_rpc_options_init first. */
typedef struct tu_rpc_options {
    /** "host:port" (IPv6 as "[addr]:port"). Required. */
    const char *endpoint;
    /** h2c without TLS. Must be chosen explicitly; TLS is the default. */
    bool plaintext;
    /** PEM CA bundle that verifies the server (NULL: the system store). */
    const char *ca_file;
    /** Client certificate and key (PEM) for mutual TLS; both or neither. */
    const char *cert_file;
    const char *key_file;
    /** Deadline of a call when the caller gives none (default 30000 ms). */
    uint32_t default_timeout_ms;
    /** Bound on establishing a connection (default 10000 ms). */
    uint32_t connect_timeout_ms;
    /** Bound on one response message (default TU_RPC_DEFAULT_MAX_MESSAGE). */
    size_t max_message;
    /** Retries after a safe failure (default 2); see tu_rpc_call_opts. */
    unsigned max_retries;
    /** First backoff (default 100 ms); doubles each retry, bounded by the deadline. */
    uint32_t retry_backoff_ms;
} tu_rpc_options;

void tu_rpc_options_init(tu_rpc_options *opts);

typedef struct tu_rpc_channel tu_rpc_channel;

/**
 * Creates a channel; no connection is made until the first call. The
 * strings of opts are copied. Errors: TEEU_ERR_INVALID_ARGUMENT /
 * TEEU_ERR_CONFIG for a malformed endpoint or half-given client identity.
 */
teeu_status tu_rpc_channel_new(const tu_rpc_options *opts, tu_rpc_channel **out) TU_NODISCARD;
/** Closes the pooled connections. NULL is fine. No call may be in flight. */
void tu_rpc_channel_free(tu_rpc_channel *ch);
/** The endpoint as given ("127.0.0.1:8835"). */
const char *tu_rpc_channel_endpoint(const tu_rpc_channel *ch);
/** True if the channel speaks plain-text h2c. */
bool tu_rpc_channel_plaintext(const tu_rpc_channel *ch);
/** TCP connections opened so far by this channel (for tests of reuse). */
unsigned long tu_rpc_channel_connections(const tu_rpc_channel *ch);

/** Per-call options; NULL means all defaults. */
typedef struct tu_rpc_call_opts {
    /** Deadline of the whole call including retries; 0: channel default. */
    uint32_t timeout_ms;
    /**
     * Also retry when the server answered UNAVAILABLE, or when a reused
     * HTTP/2 connection broke before any answer. Only for calls that are
     * safe to repeat (reads, idempotent registrations). A failure to
     * connect (nothing sent) is always retried.
     */
    bool retry_unavailable;
} tu_rpc_call_opts;

/**
 * Request producer of a client-streaming call: set *msg and *len to the next
 * message (borrowed until the next call) or *done = true at the end.
 * Returning an error aborts the call with that status.
 */
typedef teeu_status (*tu_rpc_produce_fn)(void *ctx, const uint8_t **msg, size_t *len, bool *done);

/**
 * The general call: request messages from produce, each response message
 * to consume (which may be NULL to ignore them). method is the full path
 * "/package.Service/Method". A retry replays the producer only if it was
 * never called, so callers need not rewind it.
 */
teeu_status tu_rpc_call(tu_rpc_channel *ch, const char *method, tu_rpc_produce_fn produce, void *produce_ctx,
                        tu_grpc_msg_fn consume, void *consume_ctx, const tu_rpc_call_opts *opts) TU_NODISCARD;

/**
 * Unary call: one request, exactly one response message appended to
 * resp (a zeroed tu_buf; free it with tu_buf_free).
 */
teeu_status tu_rpc_unary(tu_rpc_channel *ch, const char *method, const uint8_t *req, size_t req_len,
                         tu_buf *resp, const tu_rpc_call_opts *opts) TU_NODISCARD;

/** Server-streaming call: one request, consume called per response message. */
teeu_status tu_rpc_server_stream(tu_rpc_channel *ch, const char *method, const uint8_t *req, size_t req_len,
                                 tu_grpc_msg_fn consume, void *ctx, const tu_rpc_call_opts *opts) TU_NODISCARD;

/** Client-streaming call: requests from produce, one response into resp. */
teeu_status tu_rpc_client_stream(tu_rpc_channel *ch, const char *method, tu_rpc_produce_fn produce, void *ctx,
                                 tu_buf *resp, const tu_rpc_call_opts *opts) TU_NODISCARD;

/**
 * Unary call with protobuf-c messages: packs req, unpacks the response
 * with resp_desc into *resp (free with protobuf_c_message_free_unpacked).
 * A response that does not decode is TEEU_ERR_PROTOBUF.
 */
teeu_status tu_rpc_unary_pb(tu_rpc_channel *ch, const char *method, const ProtobufCMessage *req,
                            const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                            const tu_rpc_call_opts *opts) TU_NODISCARD;

/* ---- HTTP/2 output queue (pure; h2_outq.c) ------------------------------------ */

/*
 * Bytes waiting for the socket, in order: small pieces (frame headers,
 * control frames, gRPC prefixes) copied into an arena, and references to
 * the caller's message bytes, which are sent without a copy. A reference
 * must stay valid until the queue has written it (tu_h2_outq_empty).
 */
typedef struct tu_h2_outq_item {
    const uint8_t *ext; /* referenced bytes, or NULL: arena bytes at off */
    size_t off;
    size_t len;
} tu_h2_outq_item;

typedef struct tu_h2_outq {
    tu_h2_outq_item *items;
    size_t n, cap;
    size_t head;      /* first item not completely written */
    size_t head_done; /* bytes of items[head] already written */
    uint8_t *arena;
    size_t arena_len, arena_cap;
    size_t pending;   /* bytes not yet written */
} tu_h2_outq;

/** Appends a copy of len bytes. */
teeu_status tu_h2_outq_copy(tu_h2_outq *q, const void *data, size_t len) TU_NODISCARD;
/** Appends a reference to len bytes (no copy). */
teeu_status tu_h2_outq_ref(tu_h2_outq *q, const void *data, size_t len) TU_NODISCARD;
/**
 * Fills up to max_iov iovecs (struct iovec) with the unwritten bytes from
 * the front, at most max_bytes in all; returns the count.
 */
size_t tu_h2_outq_iov(const tu_h2_outq *q, struct iovec *iov, size_t max_iov, size_t max_bytes);
/** Marks n bytes from the front as written (n <= pending); empties the arena at the end. */
void tu_h2_outq_consume(tu_h2_outq *q, size_t n);
bool tu_h2_outq_empty(const tu_h2_outq *q);
/** Drops everything (references included). */
void tu_h2_outq_clear(tu_h2_outq *q);
void tu_h2_outq_free(tu_h2_outq *q);

/**
 * Length of the next DATA frame payload: as large as the peer allows (its
 * SETTINGS_MAX_FRAME_SIZE and flow-control windows), never more than want.
 */
size_t tu_h2_data_frame_len(size_t want, int32_t session_window, int32_t stream_window, uint32_t max_frame);

/* ---- client-streaming calls on nghttp2 (h2stream.c) ------------------------ */

/*
 * libcurl 7.88 writes one 16 KiB DATA frame per send() however large the
 * upload buffer, which made a 256 MiB put cost far more CPU than its
 * encryption. Calls with a request producer therefore run on this transport:
 * nghttp2's client session with DATA frames as large as the peer allows,
 * sent without copying the messages and many frames per writev()/SSL_write.
 */

/** Where and how to connect (the strings belong to the channel). */
typedef struct tu_h2_target {
    const char *endpoint;
    bool plaintext;
    const char *ca_file;
    const char *cert_file;
    const char *key_file;
    uint32_t connect_timeout_ms;
} tu_h2_target;

/** A channel's idle nghttp2 connections (thread-safe). */
typedef struct tu_h2_pool tu_h2_pool;

teeu_status tu_h2_pool_new(const tu_h2_target *target, tu_h2_pool **out) TU_NODISCARD;
/** Closes the idle connections. NULL is fine. */
void tu_h2_pool_free(tu_h2_pool *p);
/** TCP connections this pool opened. */
unsigned long tu_h2_pool_connections(const tu_h2_pool *p);

/** One client-streaming call attempt; resp is reset by the caller between attempts. */
typedef struct tu_h2_call {
    const char *method;
    tu_rpc_produce_fn produce;
    void *produce_ctx;
    tu_grpc_answer *resp;
    /* set by the attempt */
    bool producer_started;
} tu_h2_call;

/**
 * Runs one attempt until deadline_ms (CLOCK_MONOTONIC milliseconds).
 * *retryable: repeating is safe and useful (a failed connect; with
 * retry_unavailable also UNAVAILABLE or a reused connection that broke
 * before any answer). *redo: a reused connection was found dead before the
 * request left; repeat at once (not counted as a retry).
 */
teeu_status tu_h2_call_run(tu_h2_pool *p, tu_h2_call *c, int64_t deadline_ms, bool retry_unavailable,
                           bool *retryable, bool *redo) TU_NODISCARD;

/** CLOCK_MONOTONIC in milliseconds. */
int64_t tu_rpc_now_ms(void);

#endif /* TEEU_RPC_INTERNAL_H */
