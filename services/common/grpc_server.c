/*
 * gRPC server on nghttp2 + libevent; see grpc_server.h.
 *
 * Ownership and threads: connections, streams and the nghttp2 sessions
 * live on the loop thread only. A finished request becomes a job (its own
 * copy of the bytes, plus a reference on the connection) that a worker
 * runs; the worker hands the job back through a mutex-protected list and an
 * event, and the loop thread answers the stream if it still exists. So no
 * lock is ever taken around nghttp2 state.
 */
#include "grpc_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define GRPC_PREFIX_LEN 5
#define MAX_PATH_LEN 256
#define OUTPUT_HIGH_WATER (1u << 20)
/*
 * Receive side, sized for large uploads on one connection: DATA frames of
 * up to MAX_FRAME bytes (peers that honour SETTINGS_MAX_FRAME_SIZE send
 * fewer, larger frames; others keep 16 KiB), STREAM_WINDOW bytes in flight
 * per stream (a few frames, so a sender never waits for every
 * WINDOW_UPDATE) and CONN_WINDOW per connection (a stream whose handler is
 * behind holds at most STREAM_WINDOW of it). An incremental call buffers at
 * most TU_GRPC_CALL_IN_HIGH + STREAM_WINDOW + one partial message, plus up
 * to TU_GRPC_CALL_IN_HIGH of consumed buffers kept for reuse.
 */
#define MAX_FRAME (1 << 20)
#define STREAM_WINDOW (4 << 20)
#define CONN_WINDOW (16 << 20)
/*
 * libevent 2.1 reads a socket 4 KiB per wakeup (EVBUFFER_MAX_READ), with
 * an ioctl(FIONREAD) each: for plain h2c the read callback then reads the
 * rest itself with recv() into one RECV_CHUNK buffer of the loop thread,
 * up to RECV_BUDGET bytes or RECV_MAX_CALLS calls per wakeup (fairness
 * between connections).
 */
#define RECV_CHUNK (1u << 20)
#define RECV_BUDGET ((size_t)8 << 20)
#define RECV_MAX_CALLS 64
/*
 * Within DATA frames of at least DIRECT_MIN bytes (a client sending large
 * frames), a payload that continues an incremental call's message is
 * received straight into the message: the frame header and the 5-byte
 * gRPC prefix are read on their own first (frame_track says where they
 * are), so the body never passes through the read buffer.
 */
#define DIRECT_MIN (64u << 10)
#define FRAME_HD_LEN 9
/*
 * An incremental call's message is allocated at its announced size up to
 * MSG_PREALLOC (a whole segment, filled in place), and grown as bytes
 * arrive past that, so a prefix announcing a large message reserves no more
 * than MSG_PREALLOC until the bytes come.
 */
#define MSG_PREALLOC ((size_t)4 << 20)
/* Consumed messages at least this large are kept for reuse (call_release_held). */
#define SPARE_MIN ((size_t)64 << 10)

typedef struct conn conn;
typedef struct job job;

/*
 * One complete request message of an incremental call, assembled once from
 * the DATA bytes and then handed over by reference: the loop thread fills
 * it, the call's queue holds it, and tu_grpc_call_recv lends `data` to the
 * handler.
 */
typedef struct call_msg {
    struct call_msg *next;
    size_t cap;          /* bytes allocated for data */
    size_t len;          /* message bytes (without the 5-byte prefix) */
    size_t filled;       /* bytes received so far (loop thread, while assembling) */
    uint8_t data[];
} call_msg;

/* Messages completed by one DATA chunk, queued together. */
typedef struct msg_list {
    call_msg *head, *tail;
    size_t bytes;        /* with their 5-byte prefixes */
} msg_list;

static void call_msgs_free(call_msg *m)
{
    while (m) {
        call_msg *next = m->next;
        free(m);
        m = next;
    }
}

/* A method of either kind. */
typedef struct method_entry {
    const char *path;
    tu_grpc_handler_fn fn;
    bool client_streaming;
    tu_grpc_stream_fn stream_fn;   /* non-NULL: incremental */
} method_entry;

typedef struct stream {
    int32_t id;
    conn *c;
    char path[MAX_PATH_LEN];
    bool path_too_long;
    bool is_post;
    bool is_grpc;
    bool too_large;      /* request body exceeded its bound: already refused */
    bool dispatched;     /* a job runs (or ran) for it */
    bool answered;
    tu_buf in;           /* raw DATA bytes (gRPC frames) of a collected call */
    tu_grpc_call *call;  /* incremental call, or NULL */
    /* incremental call: the message being received (prefix, then body) */
    uint8_t pfx[GRPC_PREFIX_LEN];
    size_t pfx_len;
    call_msg *asm_msg;
    /* response body (framed messages) served by the data provider */
    uint8_t *out;
    size_t out_len, out_off;
    int code;
    char *message;
    struct stream *prev, *next;
} stream;

/*
 * Where the bytes handed to nghttp2 stand in the client's frame sequence
 * (plain h2c; loop thread). It only chooses where the next recv() goes:
 * every byte still reaches nghttp2 in order, so a wrong guess costs a copy,
 * never correctness.
 */
typedef struct frame_track {
    uint32_t preface_left;    /* client connection preface bytes still to come */
    uint8_t hd[FRAME_HD_LEN]; /* a frame header being received */
    uint8_t hd_len;
    uint32_t payload_left;    /* of the current frame */
    uint8_t type, flags;
    int32_t stream_id;
    bool bulk;                /* the last DATA frame was at least DIRECT_MIN bytes */
} frame_track;

struct conn {
    tu_grpc_server *srv;
    frame_track tr;
    struct bufferevent *bev;
    nghttp2_session *session;
    char peer[64];
    char *peer_subject;
    stream *streams;     /* list of open streams */
    size_t n_streams;
    int refs;            /* 1 while open + 1 per job in flight */
    bool closed;
    bool idle_closing;   /* GOAWAY sent for idleness; a second timeout closes hard */
    bool close_after_write; /* protocol error: close once the GOAWAY is written */
    bool draining;       /* our side is shut down; reading until the client closes */
    conn *prev, *next;
};

struct tu_grpc_response {
    tu_buf body;         /* framed response messages */
    int code;
    char *message;
    char note[400];
    size_t max_message;
};

struct job {
    tu_grpc_server *srv;
    conn *c;
    int32_t stream_id;
    const method_entry *method;
    uint8_t *raw;        /* the stream's DATA bytes */
    size_t raw_len;
    tu_grpc_msg *msgs;
    size_t n_msgs;
    struct timespec start;
    tu_grpc_response resp;
    tu_grpc_call *call;  /* incremental call, or NULL */
    job *next;
};

/*
 * An incremental call, shared by the loop thread (its stream) and the
 * worker running the handler (its job). refs is touched on the loop thread
 * only (stream_free, job_free); everything else below `mu` is guarded by it.
 */
struct tu_grpc_call {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    tu_grpc_server *srv;
    const char *peer;             /* the connection's, alive while the job runs */
    const char *peer_subject;
    tu_grpc_response *resp;       /* the job's */
    size_t max_message;
    call_msg *held;               /* the message the handler holds (worker only) */
    bool headers_sent;            /* loop only */
    /* guarded by mu */
    call_msg *q_head, *q_tail;    /* complete request messages, in order */
    call_msg *spares;             /* consumed messages the loop reuses for the next ones (no
                                     malloc, no fresh pages per message) */
    size_t spare_bytes;           /* their capacity, at most TU_GRPC_CALL_IN_HIGH */
    size_t queued;                /* their bytes, counted with their 5-byte prefixes */
    size_t deferred;              /* received bytes not yet given back as window */
    size_t to_consume;            /* bytes the loop should give back */
    bool eof;
    char *error;                  /* set: cancelled or malformed (recv fails) */
    tu_buf out;                   /* framed response messages not yet sent */
    size_t out_off;
    bool finished;                /* the handler returned */
    int code;
    char *message;
};

struct tu_grpc_server {
    tu_grpc_server_config cfg;
    method_entry *entries;    /* cfg.methods then cfg.stream_methods */
    size_t n_entries;
    struct event_base *base;
    struct evconnlistener *listener;
    struct event *done_ev;
    struct event *stop_ev;
    struct event *wake_ev;    /* an incremental call has bytes to send or window to give back */
    struct event *sig_term, *sig_int;
    SSL_CTX *ssl_ctx;
    uint16_t port;
    conn *conns;
    size_t n_conns;
    size_t in_flight;    /* jobs queued or running (loop thread count) */
    size_t buffered;     /* request bytes held by streams and jobs (loop thread) */
    bool stopping;
    uint8_t *rbuf;       /* RECV_CHUNK bytes for plain h2c reads (loop thread), allocated on first use */

    pthread_mutex_t lock;     /* guards queue, done, quit */
    pthread_cond_t cond;
    job *queue_head, *queue_tail;
    size_t queue_len;
    job *done;
    bool quit;
    pthread_t *threads;
    size_t n_threads;
    bool worker_failed;
    size_t n_ready;      /* workers that finished worker_init */
};

/* ---- small helpers ------------------------------------------------------ */

char *tu_grpc_percent_encode(const char *msg)
{
    size_t n = strlen(msg);
    char *out = malloc(n * 3 + 1);
    if (out == NULL)
        return NULL;
    static const char hex[] = "0123456789ABCDEF";
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)msg[i];
        if (ch >= 0x20 && ch <= 0x7E && ch != '%') {
            out[j++] = (char)ch;
        } else {
            out[j++] = '%';
            out[j++] = hex[ch >> 4];
            out[j++] = hex[ch & 15];
        }
    }
    out[j] = '\0';
    return out;
}

static double ms_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) * 1e3 + (double)(now.tv_nsec - start->tv_nsec) / 1e6;
}

static char *vformat(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        return NULL;
    return s;
}

/* ---- the response API used by handlers ---------------------------------- */

teeu_status tu_grpc_reply_msg(tu_grpc_response *resp, const uint8_t *data, size_t len)
{
    if (len > resp->max_message || len > UINT32_MAX)
        return tu_error(TEEU_ERR_LIMIT, "response message of %zu bytes exceeds the %zu-byte bound", len,
                        resp->max_message);
    uint8_t prefix[GRPC_PREFIX_LEN] = {0, (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                                       (uint8_t)len};
    teeu_status st = tu_buf_append(&resp->body, prefix, sizeof prefix);
    if (st == TEEU_OK && len > 0)
        st = tu_buf_append(&resp->body, data, len);
    return st;
}

void tu_grpc_reply_status(tu_grpc_response *resp, int code, const char *fmt, ...)
{
    free(resp->message);
    resp->message = NULL;
    resp->code = code;
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        resp->message = vformat(fmt, ap);
        va_end(ap);
    }
}

void tu_grpc_reply_note(tu_grpc_response *resp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(resp->note, sizeof resp->note, fmt, ap);
    va_end(ap);
}

/* ---- config ------------------------------------------------------------- */

void tu_grpc_server_config_init(tu_grpc_server_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->host = "127.0.0.1";
    cfg->workers = 4;
    cfg->max_message = 4u << 20;
    cfg->max_call_bytes = 64u << 20;
    cfg->max_streams = 64;
    cfg->max_connections = 256;
    cfg->max_queue = 1024;
    cfg->max_buffered = 512u << 20;
    cfg->call_stall_timeout_ms = 60000;
    cfg->idle_timeout_ms = 300000;
    cfg->name = "grpc";
}

/* ---- streams and connections (loop thread) ------------------------------ */

static void call_unref(tu_grpc_call *call)
{
    if (call == NULL || --call->refs > 0)
        return;
    pthread_mutex_destroy(&call->mu);
    pthread_cond_destroy(&call->cv);
    free(call->held);
    call_msgs_free(call->spares);
    call_msgs_free(call->q_head);
    tu_buf_free(&call->out);
    free(call->error);
    free(call->message);
    free(call);
}

/* Makes recv fail with why (first reason wins) and wakes the handler. */
static void call_fail(tu_grpc_call *call, const char *why)
{
    pthread_mutex_lock(&call->mu);
    if (call->error == NULL)
        call->error = strdup(why);
    pthread_cond_broadcast(&call->cv);
    pthread_mutex_unlock(&call->mu);
}

static void stream_drop_input(stream *s)
{
    /* An incremental call's partial message is bounded per call by flow
     * control, not counted in the server-wide buffered bytes. */
    if (s->call == NULL)
        s->c->srv->buffered -= s->in.len;
    tu_buf_free(&s->in);
}

static void stream_free(stream *s)
{
    stream_drop_input(s);
    free(s->asm_msg);
    if (s->call) {
        call_fail(s->call, "the call was cancelled (client reset or connection closed)");
        call_unref(s->call);
    }
    free(s->out);
    free(s->message);
    free(s);
}

static void conn_unref(conn *c)
{
    if (--c->refs > 0)
        return;
    free(c->peer_subject);
    free(c);
}

static void conn_close(conn *c)
{
    if (c->closed)
        return;
    c->closed = true;
    tu_grpc_server *srv = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->n_conns--;
    /* Deleting the session closes every stream through on_stream_close. */
    nghttp2_session_del(c->session);
    c->session = NULL;
    while (c->streams) {
        stream *s = c->streams;
        c->streams = s->next;
        stream_free(s);
    }
    if (c->bev)
        bufferevent_free(c->bev);
    c->bev = NULL;
    tu_log(TEEU_LOG_DEBUG, "%s: connection from %s closed", srv->cfg.name, c->peer);
    conn_unref(c);
}

/*
 * Ends a connection that has nothing more to say. On plain TCP: shut our
 * side down and read (discarding) until the client closes, so bytes it sent
 * meanwhile do not turn our close into a reset that would hide the GOAWAY
 * from it; a bounded linger, then a hard close. TLS connections close now.
 */
static void conn_finish(conn *c)
{
    if (c->draining)
        return;
    if (c->srv->ssl_ctx != NULL || shutdown(bufferevent_getfd(c->bev), SHUT_WR) != 0) {
        conn_close(c);
        return;
    }
    c->draining = true;
    struct timeval linger = {2, 0};
    bufferevent_set_timeouts(c->bev, &linger, NULL);
    bufferevent_enable(c->bev, EV_READ);
}

/* Writes whatever nghttp2 wants to send; ends the connection when done. */
static void conn_flush(conn *c)
{
    if (c->closed)
        return;
    struct evbuffer *output = bufferevent_get_output(c->bev);
    while (evbuffer_get_length(output) < OUTPUT_HIGH_WATER) {
        const uint8_t *data = NULL;
        ssize_t n = nghttp2_session_mem_send(c->session, &data);
        if (n < 0) {
            tu_log(TEEU_LOG_WARN, "%s: HTTP/2 send to %s failed: %s", c->srv->cfg.name, c->peer,
                   nghttp2_strerror((int)n));
            conn_close(c);
            return;
        }
        if (n == 0)
            break;
        if (bufferevent_write(c->bev, data, (size_t)n) != 0) {
            conn_close(c);
            return;
        }
    }
    if ((c->close_after_write || (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session))) &&
        evbuffer_get_length(output) == 0)
        conn_finish(c);
}

static int submit_trailers(nghttp2_session *session, int32_t stream_id, int code_value, const char *message)
{
    char code[16];
    snprintf(code, sizeof code, "%d", code_value);
    char *msg = tu_grpc_percent_encode(message ? message : "");
    nghttp2_nv trailers[2] = {
        {(uint8_t *)"grpc-status", (uint8_t *)code, 11, strlen(code), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"grpc-message", (uint8_t *)(msg ? msg : ""), 12, msg ? strlen(msg) : 0, NGHTTP2_NV_FLAG_NONE},
    };
    int rv = nghttp2_submit_trailer(session, stream_id, trailers, msg && msg[0] ? 2 : 1);
    free(msg);
    return rv;
}

static ssize_t body_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *source, void *user_data)
{
    (void)user_data;
    stream *s = source->ptr;
    size_t left = s->out_len - s->out_off;
    size_t n = left < length ? left : length;
    if (n > 0)
        memcpy(buf, s->out + s->out_off, n);
    s->out_off += n;
    if (s->out_off == s->out_len) {
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        if (submit_trailers(session, stream_id, s->code, s->message) != 0)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return (ssize_t)n;
}

/* Data provider of an incremental call: what the handler queued so far. */
static ssize_t call_body_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                              uint32_t *flags, nghttp2_data_source *source, void *user_data)
{
    (void)user_data;
    stream *s = source->ptr;
    tu_grpc_call *call = s->call;
    pthread_mutex_lock(&call->mu);
    size_t avail = call->out.len - call->out_off;
    size_t n = avail < length ? avail : length;
    if (n > 0) {
        memcpy(buf, call->out.data + call->out_off, n);
        call->out_off += n;
        if (call->out_off == call->out.len) {
            call->out.len = 0;
            call->out_off = 0;
        } else if (call->out_off >= (1u << 20) && call->out_off * 2 >= call->out.len) {
            memmove(call->out.data, call->out.data + call->out_off, call->out.len - call->out_off);
            call->out.len -= call->out_off;
            call->out_off = 0;
        }
        pthread_cond_broadcast(&call->cv);
    }
    bool done = call->finished && call->out.len == call->out_off;
    pthread_mutex_unlock(&call->mu);
    if (n == 0 && !done)
        return NGHTTP2_ERR_DEFERRED;
    if (done) {
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        if (submit_trailers(session, stream_id, call->code, call->message) != 0)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return (ssize_t)n;
}

/* Response headers of an incremental call whose handler sent a first message. */
static void call_submit_response(conn *c, stream *s)
{
    s->call->headers_sent = true;
    nghttp2_nv nva[] = {
        {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"grpc-accept-encoding", (uint8_t *)"identity", 20, 8, NGHTTP2_NV_FLAG_NONE},
    };
    nghttp2_data_provider prd = {.source = {.ptr = s}, .read_callback = call_body_read};
    if (nghttp2_submit_response(c->session, s->id, nva, TU_ARRAY_LEN(nva), &prd) != 0)
        nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
}

/*
 * Answers a stream. body == NULL (or empty): a trailers-only response
 * (HEADERS with :status, content-type, grpc-status, grpc-message and
 * END_STREAM). Takes ownership of body and message.
 */
static void stream_answer(conn *c, stream *s, int code, char *message, uint8_t *body, size_t body_len)
{
    if (s->answered) {
        free(message);
        free(body);
        return;
    }
    s->answered = true;
    s->code = code;
    s->message = message;
    if (body != NULL && body_len > 0) {
        s->out = body;
        s->out_len = body_len;
        nghttp2_nv nva[] = {
            {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
            {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, NGHTTP2_NV_FLAG_NONE},
            {(uint8_t *)"grpc-accept-encoding", (uint8_t *)"identity", 20, 8, NGHTTP2_NV_FLAG_NONE},
        };
        nghttp2_data_provider prd = {.source = {.ptr = s}, .read_callback = body_read};
        if (nghttp2_submit_response(c->session, s->id, nva, TU_ARRAY_LEN(nva), &prd) != 0)
            nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    free(body);
    char codebuf[16];
    snprintf(codebuf, sizeof codebuf, "%d", code);
    char *msg = tu_grpc_percent_encode(message ? message : "");
    nghttp2_nv nva[] = {
        {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"grpc-status", (uint8_t *)codebuf, 11, strlen(codebuf), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"grpc-message", (uint8_t *)(msg ? msg : ""), 12, msg ? strlen(msg) : 0, NGHTTP2_NV_FLAG_NONE},
    };
    size_t n = msg && msg[0] ? 4 : 3;
    if (nghttp2_submit_response(c->session, s->id, nva, n, NULL) != 0)
        nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
    free(msg);
}

static void log_call(tu_grpc_server *srv, const conn *c, const char *path, int code, const char *note,
                     const struct timespec *start)
{
    const char *method = strrchr(path, '/');
    tu_log(code == TU_GRPC_OK ? TEEU_LOG_INFO : TEEU_LOG_WARN, "%s: %s %s grpc-status=%d(%s)%s%s %.1f ms",
           srv->cfg.name, c->peer, method && method[1] ? method + 1 : path, code, tu_grpc_code_name(code),
           note && note[0] ? " " : "", note ? note : "", ms_since(start));
}

/* Refuses a stream before any handler ran (trailers-only). */
static void stream_refuse(conn *c, stream *s, int code, const char *fmt, ...) TU_PRINTF(4, 5);
static void stream_refuse(conn *c, stream *s, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = vformat(fmt, ap);
    va_end(ap);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    log_call(c->srv, c, s->path[0] ? s->path : "(no path)", code, msg, &now);
    stream_answer(c, s, code, msg, NULL, 0);
}

/* ---- the worker pool ---------------------------------------------------- */

/* Every call is answered: leave the loop shortly, so the last answers reach the socket. */
static void finish_stop(tu_grpc_server *srv)
{
    struct timeval tv = {0, 200000};
    event_base_loopexit(srv->base, &tv);
}

static void job_free(job *j)
{
    call_unref(j->call);
    if (j->srv)
        j->srv->buffered -= j->raw_len;
    free(j->raw);
    free(j->msgs);
    tu_buf_free(&j->resp.body);
    free(j->resp.message);
    free(j);
}

static void *worker_main(void *arg)
{
    tu_grpc_server *srv = arg;
    void *state = NULL;
    if (srv->cfg.worker_init) {
        state = srv->cfg.worker_init(srv->cfg.service_ctx);
        if (state == NULL) {
            tu_log(TEEU_LOG_ERROR, "%s: worker initialisation failed: %s", srv->cfg.name, teeu_last_error());
            pthread_mutex_lock(&srv->lock);
            srv->worker_failed = true;
            srv->n_ready++;
            pthread_cond_broadcast(&srv->cond);
            pthread_mutex_unlock(&srv->lock);
            return NULL;
        }
    }
    pthread_mutex_lock(&srv->lock);
    srv->n_ready++;
    pthread_cond_broadcast(&srv->cond);
    pthread_mutex_unlock(&srv->lock);
    for (;;) {
        pthread_mutex_lock(&srv->lock);
        while (srv->queue_head == NULL && !srv->quit)
            pthread_cond_wait(&srv->cond, &srv->lock);
        if (srv->queue_head == NULL) {
            pthread_mutex_unlock(&srv->lock);
            break;
        }
        job *j = srv->queue_head;
        srv->queue_head = j->next;
        if (srv->queue_head == NULL)
            srv->queue_tail = NULL;
        srv->queue_len--;
        pthread_mutex_unlock(&srv->lock);

        tu_grpc_request req = {
            .path = j->method->path,
            .msgs = j->msgs,
            .n_msgs = j->n_msgs,
            .peer = j->c->peer,
            .peer_cert_subject = j->c->peer_subject,
        };
        tu_error_clear();
        if (j->call)
            j->method->stream_fn(srv->cfg.service_ctx, state, j->call);
        else
            j->method->fn(srv->cfg.service_ctx, state, &req, &j->resp);

        pthread_mutex_lock(&srv->lock);
        j->next = srv->done;
        srv->done = j;
        pthread_mutex_unlock(&srv->lock);
        event_active(srv->done_ev, EV_READ, 0);
    }
    if (srv->cfg.worker_fini)
        srv->cfg.worker_fini(srv->cfg.service_ctx, state);
    return NULL;
}

/* Loop thread: the handler of an incremental call returned; end its response. */
static void call_finish(conn *c, job *j)
{
    tu_grpc_call *call = j->call;
    pthread_mutex_lock(&call->mu);
    call->finished = true;
    call->code = j->resp.code;
    call->message = j->resp.message;
    j->resp.message = NULL;
    size_t give_back = call->deferred + call->to_consume;
    call->deferred = call->to_consume = 0;
    /* Whatever the client still sends is dropped (on_data_chunk). */
    call_msgs_free(call->q_head);
    call->q_head = call->q_tail = NULL;
    call->queued = 0;
    call_msgs_free(call->spares);
    call->spares = NULL;
    call->spare_bytes = 0;
    bool has_out = call->out.len > call->out_off;
    pthread_mutex_unlock(&call->mu);
    if (c->closed)
        return;
    stream *s = nghttp2_session_get_stream_user_data(c->session, j->stream_id);
    if (s == NULL || s->answered) {
        if (give_back)
            nghttp2_session_consume_connection(c->session, give_back);
        return;
    }
    if (give_back)
        nghttp2_session_consume(c->session, s->id, give_back);
    if (call->headers_sent) {
        s->answered = true;
        nghttp2_session_resume_data(c->session, s->id);
    } else if (has_out) {
        call_submit_response(c, s);
        s->answered = true;
    } else {
        char *msg = call->message;
        call->message = NULL;
        stream_answer(c, s, call->code, msg, NULL, 0);
    }
    conn_flush(c);
}

/* Loop thread: give back window and send what incremental handlers queued. */
static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tu_grpc_server *srv = arg;
    for (conn *c = srv->conns; c;) {
        conn *next = c->next;
        bool touched = false;
        for (stream *s = c->streams; s && !c->closed; s = s->next) {
            tu_grpc_call *call = s->call;
            if (call == NULL || s->answered)
                continue;
            pthread_mutex_lock(&call->mu);
            size_t give_back = call->to_consume;
            call->to_consume = 0;
            bool has_out = call->out.len > call->out_off;
            pthread_mutex_unlock(&call->mu);
            if (give_back) {
                nghttp2_session_consume(c->session, s->id, give_back);
                touched = true;
            }
            if (has_out) {
                if (!call->headers_sent)
                    call_submit_response(c, s);
                else
                    nghttp2_session_resume_data(c->session, s->id);
                touched = true;
            }
        }
        if (touched)
            conn_flush(c);
        c = next;
    }
}

/* Absolute deadline for a wait of an incremental call; false: none. */
static bool call_deadline(const tu_grpc_call *call, struct timespec *ts)
{
    uint32_t ms = call->srv->cfg.call_stall_timeout_ms;
    if (ms == 0)
        return false;
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
    return true;
}

/* Waits on the call's condition; on a stall past the deadline marks the call failed. */
static void call_wait(tu_grpc_call *call, bool timed, const struct timespec *deadline, const char *what)
{
    if (!timed) {
        pthread_cond_wait(&call->cv, &call->mu);
        return;
    }
    if (pthread_cond_timedwait(&call->cv, &call->mu, deadline) == ETIMEDOUT && call->error == NULL) {
        char buf[160];
        snprintf(buf, sizeof buf, "the client stalled: %s for %u ms", what, call->srv->cfg.call_stall_timeout_ms);
        call->error = strdup(buf);
    }
}

/*
 * Worker: the message lent by the previous recv is released: kept for reuse
 * while the spares hold at most TU_GRPC_CALL_IN_HIGH bytes (memory the
 * call's queue could hold anyway), else freed. Small messages are simply
 * freed (malloc serves them cheaply), which also bounds the list's length.
 */
static void call_release_held(tu_grpc_call *call)
{
    call_msg *m = call->held;
    call->held = NULL;
    if (m == NULL)
        return;
    pthread_mutex_lock(&call->mu);
    if (!call->finished && call->error == NULL && m->cap >= SPARE_MIN &&
        m->cap <= TU_GRPC_CALL_IN_HIGH - call->spare_bytes) {
        m->next = call->spares;
        call->spares = m;
        call->spare_bytes += m->cap;
        m = NULL;
    }
    pthread_mutex_unlock(&call->mu);
    free(m);
}

int tu_grpc_call_recv(tu_grpc_call *call, tu_grpc_msg *msg)
{
    call_release_held(call);
    struct timespec deadline;
    bool timed = call_deadline(call, &deadline);
    pthread_mutex_lock(&call->mu);
    for (;;) {
        if (call->error) {
            tu_error(TEEU_ERR_RPC_CANCELLED, "%s", call->error);
            pthread_mutex_unlock(&call->mu);
            return -1;
        }
        if (call->q_head != NULL)
            break; /* the loop queues complete messages only */
        if (call->eof) {
            pthread_mutex_unlock(&call->mu);
            return 0;
        }
        call_wait(call, timed, &deadline, "no request message");
    }
    call_msg *m = call->q_head;
    call->q_head = m->next;
    if (call->q_head == NULL)
        call->q_tail = NULL;
    m->next = NULL;
    call->queued -= GRPC_PREFIX_LEN + m->len;
    bool wake = false;
    if (call->deferred > 0 && call->queued <= TU_GRPC_CALL_IN_HIGH) {
        call->to_consume += call->deferred;
        call->deferred = 0;
        wake = true;
    }
    pthread_mutex_unlock(&call->mu);
    if (wake)
        event_active(call->srv->wake_ev, EV_READ, 0);
    call->held = m;
    msg->data = m->data;
    msg->len = m->len;
    return 1;
}

teeu_status tu_grpc_call_send(tu_grpc_call *call, const uint8_t *data, size_t len)
{
    if (len > call->max_message || len > UINT32_MAX)
        return tu_error(TEEU_ERR_LIMIT, "response message of %zu bytes exceeds the %zu-byte bound", len,
                        call->max_message);
    uint8_t prefix[GRPC_PREFIX_LEN] = {0, (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                                       (uint8_t)len};
    struct timespec deadline;
    bool timed = call_deadline(call, &deadline);
    pthread_mutex_lock(&call->mu);
    while (call->error == NULL && call->out.len - call->out_off > TU_GRPC_CALL_OUT_HIGH)
        call_wait(call, timed, &deadline, "not reading the response");
    if (call->error) {
        teeu_status st = tu_error(TEEU_ERR_RPC_CANCELLED, "%s", call->error);
        pthread_mutex_unlock(&call->mu);
        return st;
    }
    teeu_status st = tu_buf_append(&call->out, prefix, sizeof prefix);
    if (st == TEEU_OK && len > 0)
        st = tu_buf_append(&call->out, data, len);
    pthread_mutex_unlock(&call->mu);
    if (st == TEEU_OK)
        event_active(call->srv->wake_ev, EV_READ, 0);
    return st;
}

tu_grpc_response *tu_grpc_call_response(tu_grpc_call *call)
{
    return call->resp;
}

const char *tu_grpc_call_peer(const tu_grpc_call *call)
{
    return call->peer;
}

const char *tu_grpc_call_peer_cert_subject(const tu_grpc_call *call)
{
    return call->peer_subject;
}

/* Loop thread: answer every finished job whose stream still exists. */
static void on_jobs_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tu_grpc_server *srv = arg;
    pthread_mutex_lock(&srv->lock);
    job *list = srv->done;
    srv->done = NULL;
    pthread_mutex_unlock(&srv->lock);
    while (list) {
        job *j = list;
        list = j->next;
        srv->in_flight--;
        conn *c = j->c;
        tu_grpc_response *r = &j->resp;
        log_call(srv, c, j->method->path, r->code, r->note, &j->start);
        if (j->call) {
            call_finish(c, j);
        } else if (!c->closed) {
            stream *s = nghttp2_session_get_stream_user_data(c->session, j->stream_id);
            if (s != NULL) {
                size_t len = 0;
                uint8_t *body = tu_buf_release(&r->body, &len);
                stream_answer(c, s, r->code, r->message, body, len);
                r->message = NULL;
                conn_flush(c);
            }
        }
        conn_unref(c);
        job_free(j);
    }
    if (srv->stopping && srv->in_flight == 0)
        finish_stop(srv);
}

/* Splits the DATA bytes into gRPC messages; 0 or a gRPC code with *why set. */
static int parse_frames(const uint8_t *p, size_t len, size_t max_message, tu_grpc_msg **out, size_t *n_out,
                        const char **why)
{
    size_t n = 0, cap = 0;
    tu_grpc_msg *msgs = NULL;
    size_t off = 0;
    *out = NULL;
    *n_out = 0;
    while (off < len) {
        if (len - off < GRPC_PREFIX_LEN) {
            *why = "request ends inside a gRPC message prefix";
            free(msgs);
            return TU_GRPC_INTERNAL;
        }
        uint8_t flag = p[off];
        size_t mlen = ((size_t)p[off + 1] << 24) | ((size_t)p[off + 2] << 16) | ((size_t)p[off + 3] << 8) |
                      p[off + 4];
        if (flag == 1) {
            *why = "compressed gRPC messages are not supported (send identity encoding)";
            free(msgs);
            return TU_GRPC_UNIMPLEMENTED;
        }
        if (flag != 0) {
            *why = "invalid gRPC message flag byte";
            free(msgs);
            return TU_GRPC_INTERNAL;
        }
        if (mlen > max_message) {
            *why = "request message exceeds the server's maximum message size";
            free(msgs);
            return TU_GRPC_RESOURCE_EXHAUSTED;
        }
        off += GRPC_PREFIX_LEN;
        if (len - off < mlen) {
            *why = "request ends inside a gRPC message";
            free(msgs);
            return TU_GRPC_INTERNAL;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            tu_grpc_msg *grown = realloc(msgs, ncap * sizeof *msgs);
            if (grown == NULL) {
                free(msgs);
                *why = "out of memory";
                return TU_GRPC_RESOURCE_EXHAUSTED;
            }
            msgs = grown;
            cap = ncap;
        }
        msgs[n].data = p + off;
        msgs[n].len = mlen;
        n++;
        off += mlen;
    }
    *out = msgs;
    *n_out = n;
    return TU_GRPC_OK;
}

static const method_entry *find_method(const tu_grpc_server *srv, const char *path)
{
    for (size_t i = 0; i < srv->n_entries; i++)
        if (strcmp(srv->entries[i].path, path) == 0)
            return &srv->entries[i];
    return NULL;
}

/* The whole request of a stream is in: check it and queue a job. */
static void stream_dispatch(conn *c, stream *s)
{
    tu_grpc_server *srv = c->srv;
    if (s->dispatched || s->answered)
        return;
    s->dispatched = true;
    if (!s->is_post)
        { stream_refuse(c, s, TU_GRPC_UNIMPLEMENTED, "gRPC requires :method POST"); return; }
    if (!s->is_grpc)
        { stream_refuse(c, s, TU_GRPC_INVALID_ARGUMENT, "content-type must be application/grpc"); return; }
    const method_entry *m = s->path_too_long ? NULL : find_method(srv, s->path);
    if (m == NULL)
        { stream_refuse(c, s, TU_GRPC_UNIMPLEMENTED, "unknown method %.200s", s->path); return; }
    if (srv->stopping)
        { stream_refuse(c, s, TU_GRPC_UNAVAILABLE, "server is shutting down"); return; }

    job *j = calloc(1, sizeof *j);
    if (j == NULL)
        { stream_refuse(c, s, TU_GRPC_RESOURCE_EXHAUSTED, "out of memory"); return; }
    j->srv = srv;
    const char *why = NULL;
    int code = TU_GRPC_OK;
    if (m->stream_fn) {
        tu_grpc_call *call = calloc(1, sizeof *call);
        if (call == NULL) {
            free(j);
            stream_refuse(c, s, TU_GRPC_RESOURCE_EXHAUSTED, "out of memory");
            return;
        }
        pthread_mutex_init(&call->mu, NULL);
        pthread_cond_init(&call->cv, NULL);
        call->refs = 2; /* the stream and the job */
        call->srv = srv;
        call->peer = c->peer;
        call->peer_subject = c->peer_subject;
        call->resp = &j->resp;
        call->max_message = srv->cfg.max_message;
        s->call = call;
        j->call = call;
    } else {
        j->raw = tu_buf_release(&s->in, &j->raw_len);
        code = parse_frames(j->raw, j->raw_len, srv->cfg.max_message, &j->msgs, &j->n_msgs, &why);
    }
    if (code == TU_GRPC_OK && !m->stream_fn && !m->client_streaming && j->n_msgs != 1) {
        code = TU_GRPC_INVALID_ARGUMENT;
        why = j->n_msgs == 0 ? "unary call without a request message" : "unary call with more than one message";
    }
    if (code != TU_GRPC_OK) {
        job_free(j);
        { stream_refuse(c, s, code, "%s", why); return; }
    }
    j->c = c;
    j->stream_id = s->id;
    j->method = m;
    j->resp.code = TU_GRPC_OK;
    j->resp.max_message = srv->cfg.max_message;
    clock_gettime(CLOCK_MONOTONIC, &j->start);
    pthread_mutex_lock(&srv->lock);
    if (srv->queue_len >= srv->cfg.max_queue) {
        pthread_mutex_unlock(&srv->lock);
        if (s->call) {
            call_unref(s->call);
            s->call = NULL;
        }
        job_free(j);
        stream_refuse(c, s, TU_GRPC_RESOURCE_EXHAUSTED, "server is busy (request queue full); retry later");
        return;
    }
    c->refs++;
    srv->in_flight++;
    if (srv->queue_tail)
        srv->queue_tail->next = j;
    else
        srv->queue_head = j;
    srv->queue_tail = j;
    srv->queue_len++;
    pthread_cond_signal(&srv->cond);
    pthread_mutex_unlock(&srv->lock);
}

/* ---- nghttp2 callbacks -------------------------------------------------- */

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    conn *c = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    if (c->n_streams >= c->srv->cfg.max_streams) {
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    stream *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    s->id = frame->hd.stream_id;
    s->c = c;
    s->next = c->streams;
    if (c->streams)
        c->streams->prev = s;
    c->streams = s;
    c->n_streams++;
    nghttp2_session_set_stream_user_data(session, s->id, s);
    return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data)
{
    (void)flags;
    (void)user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (s == NULL)
        return 0;
    if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
        if (valuelen >= sizeof s->path) {
            s->path_too_long = true;
            memcpy(s->path, value, sizeof s->path - 1);
            s->path[sizeof s->path - 1] = '\0';
        } else {
            memcpy(s->path, value, valuelen);
            s->path[valuelen] = '\0';
        }
    } else if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
        s->is_post = valuelen == 4 && memcmp(value, "POST", 4) == 0;
    } else if (namelen == 12 && memcmp(name, "content-type", 12) == 0) {
        /* application/grpc, application/grpc+proto, application/grpc;... */
        s->is_grpc = valuelen >= 16 && memcmp(value, "application/grpc", 16) == 0 &&
                     (valuelen == 16 || value[16] == '+' || value[16] == ';');
    }
    return 0;
}

static size_t stream_limit(const conn *c, const stream *s)
{
    const method_entry *m = s->path_too_long ? NULL : find_method(c->srv, s->path);
    if (m != NULL && m->client_streaming)
        return c->srv->cfg.max_call_bytes;
    return c->srv->cfg.max_message + GRPC_PREFIX_LEN;
}

/* Checks a gRPC message prefix; NULL, or why the message is refused. */
static const char *check_prefix(const uint8_t *p, size_t max_message, size_t *mlen)
{
    *mlen = ((size_t)p[1] << 24) | ((size_t)p[2] << 16) | ((size_t)p[3] << 8) | p[4];
    if (p[0] == 1)
        return "compressed gRPC messages are not supported (send identity encoding)";
    if (p[0] != 0)
        return "invalid gRPC message flag byte";
    if (*mlen > max_message)
        return "request message exceeds the server's maximum message size";
    return NULL;
}

/*
 * Loop thread: room for a message of mlen bytes (up to MSG_PREALLOC of it;
 * call_assemble grows it), a spare of the call when one is large enough.
 * mlen <= max_message <= 1 GiB: no overflow.
 */
static call_msg *call_msg_alloc(tu_grpc_call *call, size_t mlen)
{
    size_t want = mlen < MSG_PREALLOC ? mlen : MSG_PREALLOC;
    pthread_mutex_lock(&call->mu);
    call_msg *m = call->spares;
    if (m != NULL) {
        call->spares = m->next;
        call->spare_bytes -= m->cap;
    }
    pthread_mutex_unlock(&call->mu);
    if (m != NULL && m->cap >= want)
        return m;
    free(m);
    m = malloc(sizeof *m + want);
    if (m != NULL)
        m->cap = want;
    return m;
}

/* Makes room for `need` bytes of s's message (need <= its length): doubling, capped at the length. */
static bool call_msg_grow(stream *s, size_t need)
{
    call_msg *m = s->asm_msg;
    if (need <= m->cap)
        return true;
    size_t ncap = m->cap * 2 > need ? m->cap * 2 : need;
    if (ncap > m->len)
        ncap = m->len;
    call_msg *g = realloc(m, sizeof *g + ncap);
    if (g == NULL)
        return false;
    g->cap = ncap;
    s->asm_msg = g;
    return true;
}

/*
 * Copies DATA bytes of an incremental call into the message being
 * assembled (its size is known from the prefix, so it is allocated once
 * and filled in place) and appends each completed message to done.
 * Returns NULL, or why the request is refused.
 */
static const char *call_assemble(stream *s, const uint8_t *data, size_t len, msg_list *done)
{
    size_t max_message = s->c->srv->cfg.max_message;
    for (;;) {
        if (s->asm_msg == NULL) {
            if (len == 0)
                return NULL;
            size_t take = GRPC_PREFIX_LEN - s->pfx_len < len ? GRPC_PREFIX_LEN - s->pfx_len : len;
            memcpy(s->pfx + s->pfx_len, data, take);
            s->pfx_len += take;
            data += take;
            len -= take;
            if (s->pfx_len < GRPC_PREFIX_LEN)
                return NULL;
            size_t mlen = 0;
            const char *why = check_prefix(s->pfx, max_message, &mlen);
            if (why != NULL)
                return why;
            call_msg *m = call_msg_alloc(s->call, mlen);
            if (m == NULL)
                return "out of memory buffering the request";
            m->next = NULL;
            m->len = mlen;
            m->filled = 0;
            s->asm_msg = m;
            s->pfx_len = 0;
        }
        size_t take = s->asm_msg->len - s->asm_msg->filled < len ? s->asm_msg->len - s->asm_msg->filled : len;
        if (!call_msg_grow(s, s->asm_msg->filled + take))
            return "out of memory buffering the request";
        call_msg *m = s->asm_msg;
        if (take > 0 && data != m->data + m->filled) /* equal: received in place (recv_target) */
            memcpy(m->data + m->filled, data, take);
        m->filled += take;
        data += take;
        len -= take;
        if (m->filled < m->len)
            return NULL;
        if (done->tail)
            done->tail->next = m;
        else
            done->head = m;
        done->tail = m;
        done->bytes += GRPC_PREFIX_LEN + m->len;
        s->asm_msg = NULL;
    }
}

/*
 * DATA of an incremental call: complete messages go to the handler's queue
 * (one copy, from the received bytes into the message); the window is
 * given back at once unless the handler is behind.
 */
static int call_data_chunk(conn *c, stream *s, const uint8_t *data, size_t len)
{
    tu_grpc_call *call = s->call;
    pthread_mutex_lock(&call->mu);
    bool drop = call->finished || call->error != NULL;
    bool defer = !drop && call->queued > TU_GRPC_CALL_IN_HIGH;
    if (defer)
        call->deferred += len;
    pthread_mutex_unlock(&call->mu);
    if (!defer)
        nghttp2_session_consume(c->session, s->id, len);
    if (drop)
        return 0;
    msg_list done = {NULL, NULL, 0};
    const char *why = call_assemble(s, data, len, &done);
    if (done.head != NULL) {
        pthread_mutex_lock(&call->mu);
        if (call->finished || call->error != NULL) {
            call_msgs_free(done.head); /* the handler is gone or failing: nobody takes them */
        } else {
            if (call->q_tail)
                call->q_tail->next = done.head;
            else
                call->q_head = done.head;
            call->q_tail = done.tail;
            call->queued += done.bytes;
            pthread_cond_broadcast(&call->cv);
        }
        pthread_mutex_unlock(&call->mu);
    }
    if (why != NULL) {
        call_fail(call, why);
        free(s->asm_msg);
        s->asm_msg = NULL;
        s->pfx_len = 0;
    }
    return 0;
}

/* The client half-closed an incremental call. */
static void call_end_of_request(stream *s)
{
    tu_grpc_call *call = s->call;
    if (s->asm_msg != NULL || s->pfx_len > 0) {
        call_fail(call, "request ends inside a gRPC message");
        return;
    }
    pthread_mutex_lock(&call->mu);
    call->eof = true;
    pthread_cond_broadcast(&call->cv);
    pthread_mutex_unlock(&call->mu);
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id, const uint8_t *data,
                         size_t len, void *user_data)
{
    (void)flags;
    conn *c = user_data;
    stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (s != NULL && s->call != NULL && !s->answered)
        return call_data_chunk(c, s, data, len);
    /* Window updates are manual (incremental calls): give it back at once. */
    if (nghttp2_session_consume(session, stream_id, len) != 0)
        nghttp2_session_consume_connection(session, len);
    if (s == NULL || s->too_large || s->answered)
        return 0; /* already refused: the rest of the body is dropped */
    size_t total;
    if (tu_add_overflows(s->in.len, len, &total) || total > stream_limit(c, s)) {
        s->too_large = true;
        stream_drop_input(s);
        s->dispatched = true;
        stream_refuse(c, s, TU_GRPC_RESOURCE_EXHAUSTED,
                      "request exceeds the server's maximum message size of %zu bytes", c->srv->cfg.max_message);
        return 0;
    }
    /* A global bound, so many streams on many connections cannot exhaust memory. */
    if (c->srv->buffered + len > c->srv->cfg.max_buffered) {
        s->too_large = true;
        stream_drop_input(s);
        s->dispatched = true;
        stream_refuse(c, s, TU_GRPC_RESOURCE_EXHAUSTED, "server is busy (request memory bound reached); retry later");
        return 0;
    }
    if (tu_buf_append(&s->in, data, len) != TEEU_OK) {
        s->too_large = true;
        stream_drop_input(s);
        s->dispatched = true;
        stream_refuse(c, s, TU_GRPC_RESOURCE_EXHAUSTED, "out of memory buffering the request");
        return 0;
    }
    c->srv->buffered += len;
    return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    conn *c = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (s == NULL)
        return 0;
    bool end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    /* An incremental call starts with its request headers. */
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST && !s->dispatched &&
        !s->path_too_long) {
        const method_entry *m = find_method(c->srv, s->path);
        if (m != NULL && m->stream_fn != NULL)
            stream_dispatch(c, s);
    }
    if (!end)
        return 0;
    if (s->call != NULL)
        call_end_of_request(s);
    else
        stream_dispatch(c, s);
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code, void *user_data)
{
    (void)error_code;
    conn *c = user_data;
    stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (s == NULL)
        return 0;
    if (s->call != NULL) {
        /* Window held back for this stream still counts on the connection. */
        pthread_mutex_lock(&s->call->mu);
        size_t give_back = s->call->deferred + s->call->to_consume;
        s->call->deferred = s->call->to_consume = 0;
        pthread_mutex_unlock(&s->call->mu);
        if (give_back)
            nghttp2_session_consume_connection(session, give_back);
    }
    nghttp2_session_set_stream_user_data(session, stream_id, NULL);
    if (s->prev)
        s->prev->next = s->next;
    else
        c->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    c->n_streams--;
    stream_free(s);
    return 0;
}

/* ---- libevent callbacks ------------------------------------------------- */

/*
 * Hands received bytes to nghttp2 (which copies what it keeps: DATA goes to
 * on_data_chunk, so nothing points into data afterwards). On a protocol
 * error: tell a confused HTTP/2 peer why (a GOAWAY, when the session can
 * still speak), read nothing more, close once it is written; returns false.
 */
static void track_frames(frame_track *t, const uint8_t *p, size_t n)
{
    while (n > 0) {
        size_t k;
        if (t->preface_left > 0) {
            k = t->preface_left < n ? t->preface_left : n;
            t->preface_left -= (uint32_t)k;
        } else if (t->payload_left > 0) {
            k = t->payload_left < n ? t->payload_left : n;
            t->payload_left -= (uint32_t)k;
        } else {
            k = (size_t)(FRAME_HD_LEN - t->hd_len) < n ? (size_t)(FRAME_HD_LEN - t->hd_len) : n;
            memcpy(t->hd + t->hd_len, p, k);
            t->hd_len = (uint8_t)(t->hd_len + k);
            if (t->hd_len == FRAME_HD_LEN) {
                t->hd_len = 0;
                t->payload_left = ((uint32_t)t->hd[0] << 16) | ((uint32_t)t->hd[1] << 8) | t->hd[2];
                t->type = t->hd[3];
                t->flags = t->hd[4];
                t->stream_id = (int32_t)((((uint32_t)t->hd[5] & 0x7f) << 24) | ((uint32_t)t->hd[6] << 16) |
                                         ((uint32_t)t->hd[7] << 8) | t->hd[8]);
                if (t->type == NGHTTP2_DATA)
                    t->bulk = t->payload_left >= DIRECT_MIN;
            }
        }
        p += k;
        n -= k;
    }
}

static bool conn_feed(conn *c, const uint8_t *data, size_t len)
{
    if (c->srv->ssl_ctx == NULL)
        track_frames(&c->tr, data, len);
    ssize_t rv = nghttp2_session_mem_recv(c->session, data, len);
    if (rv >= 0)
        return true;
    tu_log(TEEU_LOG_WARN, "%s: dropping connection from %s: %s", c->srv->cfg.name, c->peer,
           nghttp2_strerror((int)rv));
    bufferevent_disable(c->bev, EV_READ);
    c->close_after_write = true;
    struct timeval linger = {5, 0};
    bufferevent_set_timeouts(c->bev, NULL, &linger);
    nghttp2_session_terminate_session(c->session, NGHTTP2_PROTOCOL_ERROR);
    return false;
}

/*
 * Where the next recv() goes (plain h2c): *dst and the most to read. In a
 * client's large DATA frames: the next frame header alone, then the
 * message prefix alone, then the rest of the payload straight into the
 * message being assembled; otherwise up to RECV_CHUNK into the read buffer.
 */
static size_t recv_target(conn *c, uint8_t **dst)
{
    const frame_track *t = &c->tr;
    *dst = c->srv->rbuf;
    if (t->preface_left > 0 || !t->bulk)
        return RECV_CHUNK;
    if (t->payload_left == 0)
        return (size_t)(FRAME_HD_LEN - t->hd_len);
    if (t->type != NGHTTP2_DATA || (t->flags & NGHTTP2_FLAG_PADDED) != 0)
        return RECV_CHUNK;
    stream *s = nghttp2_session_get_stream_user_data(c->session, t->stream_id);
    if (s == NULL || s->call == NULL || s->answered)
        return RECV_CHUNK;
    if (s->asm_msg == NULL) {
        size_t want = GRPC_PREFIX_LEN - s->pfx_len;
        return want < t->payload_left ? want : t->payload_left;
    }
    size_t left = s->asm_msg->len - s->asm_msg->filled;
    size_t n = left < t->payload_left ? left : t->payload_left;
    if (!call_msg_grow(s, s->asm_msg->filled + n))
        return RECV_CHUNK;
    *dst = s->asm_msg->data + s->asm_msg->filled;
    return n;
}

/*
 * Plain h2c: reads what the socket holds beyond libevent's 4 KiB (see
 * RECV_CHUNK), up to RECV_BUDGET bytes. EOF and errors are left in the
 * socket for libevent's next read, which reports them through on_event.
 * The caller holds a reference on c; c may be closed on return.
 */
static void conn_recv_more(conn *c)
{
    tu_grpc_server *srv = c->srv;
    if (srv->rbuf == NULL && (srv->rbuf = malloc(RECV_CHUNK)) == NULL)
        return; /* libevent keeps reading 4 KiB at a time */
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    size_t total = 0;
    for (int calls = 0; calls < RECV_MAX_CALLS && total < RECV_BUDGET; calls++) {
        uint8_t *dst;
        size_t want = recv_target(c, &dst);
        ssize_t n = recv(fd, dst, want, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        if (!conn_feed(c, dst, (size_t)n))
            return;
        total += (size_t)n;
        if ((size_t)n < want)
            break; /* the socket is drained (for now) */
    }
}

/*
 * TLS: libevent's OpenSSL bufferevent hands over one TLS record (16 KiB)
 * per wakeup; read the records already in the socket here, up to
 * RECV_BUDGET bytes. It stops only at a record boundary (SSL_pending 0), so
 * no plaintext is left inside OpenSSL while the socket is not readable.
 * A close_notify or a TLS error ends the connection as libevent would
 * (on_event). The caller holds a reference on c; c may be closed on return.
 */
static void conn_tls_read_more(conn *c)
{
    tu_grpc_server *srv = c->srv;
    SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
    if (ssl == NULL || !SSL_is_init_finished(ssl))
        return;
    if (srv->rbuf == NULL && (srv->rbuf = malloc(RECV_CHUNK)) == NULL)
        return;
    size_t total = 0;
    while (total < RECV_BUDGET || SSL_pending(ssl) > 0) {
        ERR_clear_error();
        int n = SSL_read(ssl, srv->rbuf, (int)RECV_CHUNK);
        if (n <= 0) {
            int e = SSL_get_error(ssl, n);
            if (e == SSL_ERROR_WANT_READ)
                return;
            if (e != SSL_ERROR_ZERO_RETURN) {
                unsigned long err = ERR_peek_error();
                tu_log(TEEU_LOG_WARN, "%s: TLS error with %s: %s", srv->cfg.name, c->peer,
                       err ? ERR_reason_error_string(err) : "connection lost");
            }
            ERR_clear_error();
            conn_close(c);
            return;
        }
        if (!conn_feed(c, srv->rbuf, (size_t)n))
            return;
        total += (size_t)n;
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    struct evbuffer *input = bufferevent_get_input(bev);
    if (c->draining) {
        evbuffer_drain(input, evbuffer_get_length(input));
        return;
    }
    /* Feed each buffer chain as it is, without linearising it. */
    while (evbuffer_get_length(input) > 0) {
        struct evbuffer_iovec v[8];
        int n = evbuffer_peek(input, -1, NULL, v, TU_ARRAY_LEN(v));
        size_t fed = 0;
        for (int i = 0; i < n && i < (int)TU_ARRAY_LEN(v); i++) {
            if (!conn_feed(c, v[i].iov_base, v[i].iov_len)) {
                evbuffer_drain(input, evbuffer_get_length(input));
                conn_flush(c);
                return;
            }
            fed += v[i].iov_len;
        }
        evbuffer_drain(input, fed);
    }
    c->refs++; /* conn_recv_more / conn_tls_read_more may close c */
    if (c->srv->ssl_ctx == NULL)
        conn_recv_more(c);
    else
        conn_tls_read_more(c);
    conn_flush(c);
    conn_unref(c);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    (void)bev;
    conn_flush(arg);
}

static void on_event(struct bufferevent *bev, short events, void *arg)
{
    conn *c = arg;
    if (events & BEV_EVENT_CONNECTED) {
        /* TLS handshake done: insist on h2 through ALPN. */
        SSL *ssl = bufferevent_openssl_get_ssl(bev);
        const unsigned char *alpn = NULL;
        unsigned alpn_len = 0;
        if (ssl)
            SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
        if (ssl && (alpn_len != 2 || memcmp(alpn, "h2", 2) != 0)) {
            tu_log(TEEU_LOG_WARN, "%s: %s did not negotiate h2 through ALPN", c->srv->cfg.name, c->peer);
            conn_close(c);
            return;
        }
        if (ssl) {
            X509 *peer = SSL_get1_peer_certificate(ssl);
            if (peer) {
                c->peer_subject = X509_NAME_oneline(X509_get_subject_name(peer), NULL, 0);
                X509_free(peer);
            }
        }
        return;
    }
    if ((c->draining || c->close_after_write) && (events & (BEV_EVENT_TIMEOUT | BEV_EVENT_EOF | BEV_EVENT_ERROR))) {
        conn_close(c); /* the peer does not take our GOAWAY */
        return;
    }
    if ((events & BEV_EVENT_TIMEOUT) && !(events & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) && c->n_streams > 0) {
        /* Quiet, but a call is still running or being answered: keep waiting. */
        bufferevent_enable(bev, EV_READ);
        return;
    }
    if ((events & BEV_EVENT_TIMEOUT) && !(events & (BEV_EVENT_EOF | BEV_EVENT_ERROR))) {
        /*
         * Idle: a graceful GOAWAY naming the last stream we processed, and
         * keep reading, so a request already on its way is refused cleanly
         * (the client retries it elsewhere) rather than lost in a reset; the
         * client closes on the GOAWAY, or the next timeout closes hard.
         */
        bufferevent_enable(bev, EV_READ);
        if (!c->idle_closing &&
            nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->session),
                                  NGHTTP2_NO_ERROR, NULL, 0) == 0) {
            tu_log(TEEU_LOG_DEBUG, "%s: idle connection from %s: GOAWAY", c->srv->cfg.name, c->peer);
            c->idle_closing = true;
            conn_flush(c);
            return;
        }
    }
    if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        if (events & BEV_EVENT_ERROR) {
            unsigned long e = bufferevent_get_openssl_error(bev);
            if (e)
                tu_log(TEEU_LOG_WARN, "%s: TLS error with %s: %s", c->srv->cfg.name, c->peer,
                       ERR_reason_error_string(e));
        }
        conn_close(c);
    }
}

static teeu_status conn_session_init(conn *c)
{
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return tu_error(TEEU_ERR_NOMEM, "nghttp2 callbacks");
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_option *opt;
    if (nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cbs);
        return tu_error(TEEU_ERR_NOMEM, "nghttp2 options");
    }
    /* Refuse peers that flood SETTINGS; our own stream bound (on_begin_headers)
     * applies even before the client ACKs our SETTINGS. */
    nghttp2_option_set_max_settings(opt, 32);
    /* Incremental calls give back flow-control window only as their handler
     * takes the messages; every other stream gives it back on receipt. */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    int rv = nghttp2_session_server_new2(&c->session, cbs, c, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0)
        return tu_error(TEEU_ERR_NOMEM, "nghttp2 session: %s", nghttp2_strerror(rv));
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, c->srv->cfg.max_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, MAX_FRAME},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 64 * 1024},
    };
    if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, TU_ARRAY_LEN(iv)) != 0 ||
        nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW) != 0)
        return tu_error(TEEU_ERR_NOMEM, "nghttp2 settings");
    return TEEU_OK;
}

static void on_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *addr, int socklen,
                      void *arg)
{
    (void)listener;
    (void)socklen;
    tu_grpc_server *srv = arg;
    if (srv->stopping || srv->n_conns >= srv->cfg.max_connections) {
        tu_log(TEEU_LOG_WARN, "%s: refusing a connection (%s)", srv->cfg.name,
               srv->stopping ? "shutting down" : "too many connections");
        evutil_closesocket(fd);
        return;
    }
    conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        evutil_closesocket(fd);
        return;
    }
    c->srv = srv;
    c->refs = 1;
    c->tr.preface_left = NGHTTP2_CLIENT_MAGIC_LEN;
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)addr;
        inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip);
        port = ntohs(sin->sin_port);
    } else if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)addr;
        inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof ip);
        port = ntohs(sin6->sin6_port);
    }
    snprintf(c->peer, sizeof c->peer, "%s:%u", ip, port);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (srv->ssl_ctx) {
        SSL *ssl = SSL_new(srv->ssl_ctx);
        if (ssl == NULL) {
            evutil_closesocket(fd);
            free(c);
            return;
        }
        c->bev = bufferevent_openssl_socket_new(srv->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                BEV_OPT_CLOSE_ON_FREE);
    } else {
        c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    if (c->bev == NULL || conn_session_init(c) != TEEU_OK) {
        tu_log(TEEU_LOG_ERROR, "%s: cannot set up a connection: %s", srv->cfg.name, teeu_last_error());
        if (c->bev)
            bufferevent_free(c->bev);
        else
            evutil_closesocket(fd);
        if (c->session)
            nghttp2_session_del(c->session);
        free(c);
        return;
    }
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->n_conns++;
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    if (srv->cfg.idle_timeout_ms > 0) {
        struct timeval idle = {(time_t)(srv->cfg.idle_timeout_ms / 1000),
                               (suseconds_t)(srv->cfg.idle_timeout_ms % 1000) * 1000};
        bufferevent_set_timeouts(c->bev, &idle, NULL);
    }
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    tu_log(TEEU_LOG_DEBUG, "%s: connection from %s", srv->cfg.name, c->peer);
    conn_flush(c);
}

static void begin_stop(tu_grpc_server *srv)
{
    if (!srv->stopping) {
        srv->stopping = true;
        if (srv->listener)
            evconnlistener_disable(srv->listener);
        tu_log(TEEU_LOG_INFO, "%s: stopping (%zu call(s) in flight)", srv->cfg.name, srv->in_flight);
        /* Tell clients no new streams will be served. */
        for (conn *c = srv->conns; c; c = c->next) {
            /* Uploads still arriving are abandoned (their handler cleans up). */
            for (stream *s = c->streams; s; s = s->next) {
                if (s->call == NULL)
                    continue;
                pthread_mutex_lock(&s->call->mu);
                bool receiving = !s->call->eof;
                pthread_mutex_unlock(&s->call->mu);
                if (receiving)
                    call_fail(s->call, "the server is shutting down");
            }
        }
        for (conn *c = srv->conns; c;) {
            conn *next = c->next;
            nghttp2_submit_shutdown_notice(c->session);
            conn_flush(c);
            c = next;
        }
    }
    if (srv->in_flight == 0)
        finish_stop(srv);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    begin_stop(arg);
}

/* ---- TLS ---------------------------------------------------------------- */

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    for (unsigned i = 0; i < inlen;) {
        unsigned n = in[i];
        if (i + 1 + n > inlen)
            break;
        if (n == 2 && memcmp(in + i + 1, "h2", 2) == 0) {
            *out = in + i + 1;
            *outlen = 2;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + n;
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static teeu_status tls_init(tu_grpc_server *srv)
{
    const tu_grpc_server_config *cfg = &srv->cfg;
    if (cfg->tls_cert == NULL && cfg->tls_key == NULL) {
        if (cfg->client_ca)
            return tu_error(TEEU_ERR_CONFIG, "a client CA needs TLS: give a server certificate and key too");
        return TEEU_OK;
    }
    if (cfg->tls_cert == NULL || cfg->tls_key == NULL)
        return tu_error(TEEU_ERR_CONFIG, "TLS needs both a certificate file and a key file");
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return tu_error(TEEU_ERR_TLS, "cannot create a TLS context");
    srv->ssl_ctx = ctx;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1)
        return tu_error(TEEU_ERR_TLS, "cannot load TLS certificate chain %s: %s", cfg->tls_cert,
                        ERR_reason_error_string(ERR_get_error()));
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1)
        return tu_error(TEEU_ERR_TLS, "cannot load TLS key %s (or it does not match the certificate): %s",
                        cfg->tls_key, ERR_reason_error_string(ERR_get_error()));
    if (cfg->client_ca) {
        if (SSL_CTX_load_verify_locations(ctx, cfg->client_ca, NULL) != 1)
            return tu_error(TEEU_ERR_TLS, "cannot load client CA %s: %s", cfg->client_ca,
                            ERR_reason_error_string(ERR_get_error()));
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->client_ca);
        if (names)
            SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    return TEEU_OK;
}

/* ---- lifecycle ---------------------------------------------------------- */

static teeu_status listen_on(tu_grpc_server *srv)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    int sslen;
    const char *host = srv->cfg.host;
    char addr[300];
    snprintf(addr, sizeof addr, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, srv->cfg.port);
    struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)&ss;
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(srv->cfg.port);
        sslen = sizeof *sin;
    } else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(srv->cfg.port);
        sslen = sizeof *sin6;
    } else {
        return tu_error(TEEU_ERR_CONFIG, "cannot parse listen address %s (give a numeric IP, e.g. 127.0.0.1)", addr);
    }
    srv->listener = evconnlistener_new_bind(srv->base, on_accept, srv,
                                            LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 128,
                                            (struct sockaddr *)&ss, sslen);
    if (srv->listener == NULL)
        return tu_error(TEEU_ERR_CONNECT, "cannot listen on %s: %s", addr, strerror(errno));
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (getsockname(evconnlistener_get_fd(srv->listener), (struct sockaddr *)&bound, &blen) != 0)
        return tu_error(TEEU_ERR_CONNECT, "getsockname: %s", strerror(errno));
    if (bound.ss_family == AF_INET)
        srv->port = ntohs(((struct sockaddr_in *)(void *)&bound)->sin_port);
    else
        srv->port = ntohs(((struct sockaddr_in6 *)(void *)&bound)->sin6_port);
    return TEEU_OK;
}

static teeu_status start_workers(tu_grpc_server *srv)
{
    size_t n = srv->cfg.workers ? srv->cfg.workers : 1;
    srv->threads = calloc(n, sizeof *srv->threads);
    if (srv->threads == NULL)
        return tu_error(TEEU_ERR_NOMEM, "worker threads");
    for (size_t i = 0; i < n; i++) {
        int rv = pthread_create(&srv->threads[i], NULL, worker_main, srv);
        if (rv != 0)
            return tu_error(TEEU_ERR_NOMEM, "cannot start a worker thread: %s", strerror(rv));
        srv->n_threads++;
    }
    return TEEU_OK;
}

teeu_status tu_grpc_server_new(const tu_grpc_server_config *cfg, tu_grpc_server **out)
{
    *out = NULL;
    if (cfg->n_methods + cfg->n_stream_methods == 0)
        return tu_error(TEEU_ERR_CONFIG, "gRPC server without methods");
    if (cfg->max_message == 0 || cfg->max_message > (1u << 30) || cfg->max_streams == 0 ||
        cfg->max_buffered < cfg->max_message)
        return tu_error(TEEU_ERR_CONFIG, "gRPC server limits out of range");
    tu_grpc_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return tu_error(TEEU_ERR_NOMEM, "gRPC server");
    srv->cfg = *cfg;
    srv->entries = calloc(cfg->n_methods + cfg->n_stream_methods, sizeof *srv->entries);
    if (srv->entries == NULL) {
        free(srv);
        return tu_error(TEEU_ERR_NOMEM, "gRPC server");
    }
    for (size_t i = 0; i < cfg->n_methods; i++)
        srv->entries[srv->n_entries++] = (method_entry){cfg->methods[i].path, cfg->methods[i].fn,
                                                        cfg->methods[i].client_streaming, NULL};
    for (size_t i = 0; i < cfg->n_stream_methods; i++)
        srv->entries[srv->n_entries++] = (method_entry){cfg->stream_methods[i].path, NULL, true,
                                                        cfg->stream_methods[i].fn};
    if (srv->cfg.host == NULL)
        srv->cfg.host = "127.0.0.1";
    if (srv->cfg.name == NULL)
        srv->cfg.name = "grpc";
    pthread_mutex_init(&srv->lock, NULL);
    pthread_cond_init(&srv->cond, NULL);
    teeu_status st = TEEU_OK;
    if (evthread_use_pthreads() != 0) {
        st = tu_error(TEEU_ERR_INTERNAL_BUG, "libevent has no pthreads support");
        goto fail;
    }
    /* Writes to a client that went away must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    srv->base = event_base_new();
    if (srv->base == NULL) {
        st = tu_error(TEEU_ERR_NOMEM, "cannot create the event loop");
        goto fail;
    }
    srv->done_ev = event_new(srv->base, -1, 0, on_jobs_done, srv);
    srv->stop_ev = event_new(srv->base, -1, 0, on_stop, srv);
    srv->wake_ev = event_new(srv->base, -1, 0, on_wake, srv);
    if (srv->done_ev == NULL || srv->stop_ev == NULL || srv->wake_ev == NULL) {
        st = tu_error(TEEU_ERR_NOMEM, "event loop events");
        goto fail;
    }
    if (cfg->stop_on_signals) {
        srv->sig_term = evsignal_new(srv->base, SIGTERM, on_stop, srv);
        srv->sig_int = evsignal_new(srv->base, SIGINT, on_stop, srv);
        if (srv->sig_term == NULL || srv->sig_int == NULL || evsignal_add(srv->sig_term, NULL) != 0 ||
            evsignal_add(srv->sig_int, NULL) != 0) {
            st = tu_error(TEEU_ERR_INTERNAL_BUG, "cannot install signal handlers");
            goto fail;
        }
    }
    if ((st = tls_init(srv)) != TEEU_OK || (st = listen_on(srv)) != TEEU_OK || (st = start_workers(srv)) != TEEU_OK)
        goto fail;
    /* Wait until every worker initialised (or one failed). */
    pthread_mutex_lock(&srv->lock);
    while (srv->n_ready < srv->n_threads)
        pthread_cond_wait(&srv->cond, &srv->lock);
    bool failed = srv->worker_failed;
    pthread_mutex_unlock(&srv->lock);
    if (failed) {
        st = tu_error(TEEU_ERR_CONFIG, "a worker thread could not initialise its state");
        goto fail;
    }
    *out = srv;
    return TEEU_OK;
fail:;
    /* keep the message of the first failure */
    tu_grpc_server_free(srv);
    return st;
}

uint16_t tu_grpc_server_port(const tu_grpc_server *srv)
{
    return srv->port;
}

teeu_status tu_grpc_server_run(tu_grpc_server *srv)
{
    if (event_base_dispatch(srv->base) < 0)
        return tu_error(TEEU_ERR_INTERNAL_BUG, "event loop failed");
    /* Flush the last answers, then drop every connection. */
    while (srv->conns)
        conn_close(srv->conns);
    return TEEU_OK;
}

void tu_grpc_server_stop(tu_grpc_server *srv)
{
    event_active(srv->stop_ev, EV_READ, 0);
}

void tu_grpc_server_free(tu_grpc_server *srv)
{
    if (srv == NULL)
        return;
    pthread_mutex_lock(&srv->lock);
    srv->quit = true;
    pthread_cond_broadcast(&srv->cond);
    pthread_mutex_unlock(&srv->lock);
    for (size_t i = 0; i < srv->n_threads; i++)
        pthread_join(srv->threads[i], NULL);
    free(srv->threads);
    while (srv->conns)
        conn_close(srv->conns);
    /* Jobs answered after the loop ended: release them. */
    for (job *j = srv->done; j;) {
        job *next = j->next;
        conn_unref(j->c);
        job_free(j);
        j = next;
    }
    for (job *j = srv->queue_head; j;) {
        job *next = j->next;
        conn_unref(j->c);
        job_free(j);
        j = next;
    }
    if (srv->listener)
        evconnlistener_free(srv->listener);
    if (srv->done_ev)
        event_free(srv->done_ev);
    if (srv->stop_ev)
        event_free(srv->stop_ev);
    if (srv->wake_ev)
        event_free(srv->wake_ev);
    if (srv->sig_term)
        event_free(srv->sig_term);
    if (srv->sig_int)
        event_free(srv->sig_int);
    if (srv->base)
        event_base_free(srv->base);
    SSL_CTX_free(srv->ssl_ctx);
    pthread_mutex_destroy(&srv->lock);
    pthread_cond_destroy(&srv->cond);
    free(srv->entries);
    free(srv->rbuf);
    free(srv);
}
