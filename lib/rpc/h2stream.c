/*
 * Client-streaming gRPC calls directly on nghttp2's client session.
 *
 * Why: libcurl 7.88 writes one 16 KiB HTTP/2 DATA frame per send() whatever
 * CURLOPT_UPLOAD_BUFFERSIZE says, so a 256 MiB put made ~16,400 sendto()
 * and ~12,800 poll() calls and cost several times its AES-GCM in CPU. Here:
 *  - DATA frames are as large as the peer allows (its SETTINGS_MAX_FRAME_SIZE
 *    and windows, through the read-length callback);
 *  - the messages are never copied: NGHTTP2_DATA_FLAG_NO_COPY hands each
 *    frame to send_data_cb, which queues the 9-byte frame header (and the
 *    5-byte gRPC prefix) as copies and the message bytes as references;
 *  - the queue leaves in one sendmsg() of up to IOV_MAX iovecs (plain h2c)
 *    or 256 KiB SSL_write()s whose records collect in a memory BIO and leave
 *    in one send() (TLS), so even 16 KiB frames go many per system call.
 * The producer's message is borrowed only until its next call: the data
 * source defers (NGHTTP2_ERR_DEFERRED) instead of producing the next message
 * until the queue holding references to the current one has been written.
 *
 * A channel keeps idle connections (tu_h2_pool) for the next call; a call
 * owns its connection exclusively while it runs.
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <teeu/version.h>

#include "rpc/rpc_internal.h"

#define H2_POOL_MAX 8
#define H2_READ_BUF (256u << 10)
/* Plaintext gathered per SSL_write (16 records), sent in one send(). */
#define H2_TLS_STAGE (256u << 10)
/* Bound on one DATA frame we build, whatever the peer allows: nghttp2 sizes
 * a buffer to it even though NO_COPY never fills it. */
#define H2_MAX_DATA_FRAME (4u << 20)
/* Our receive windows: the answer never waits for WINDOW_UPDATE. */
#define H2_STREAM_WINDOW (16u << 20)
#define H2_CONN_WINDOW (64u << 20)
#define H2_MAX_READS_PER_WAKE 32

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

struct tu_h2_pool {
    tu_h2_target t;
    pthread_mutex_t lock;
    struct h2_conn *idle[H2_POOL_MAX];
    size_t n_idle;
    SSL_CTX *ssl_ctx;
    /* The newest TLS session the server gave us: a new connection resumes
     * it instead of a full handshake. */
    SSL_SESSION *tls_session;
    atomic_ulong connections;
};

typedef struct h2_stream h2_stream;

typedef struct h2_conn {
    tu_h2_pool *pool;
    int fd;
    SSL *ssl;
    BIO *wbio;       /* TLS: ciphertext waiting for the socket (memory BIO) */
    size_t wbio_off; /* bytes of it already sent */
    uint8_t *stage;  /* TLS: plaintext gathered for one SSL_write */
    nghttp2_session *session;
    tu_h2_outq outq;
    uint8_t *rbuf;
    h2_stream *st; /* the call in flight, or NULL while idle */
    bool broken;   /* I/O or session failure: never reuse */
    bool eof;
    bool goaway;
    uint32_t goaway_code;
    bool sent_goaway; /* nghttp2 ended the connection for a protocol error */
    uint32_t sent_goaway_code;
    teeu_status io_status;
    char io_err[256];
} h2_conn;

struct h2_stream {
    tu_h2_call *call;
    int32_t id;
    /* request: the current message and how much of prefix+message went into
     * frames (read_off) and into the output queue (send_off) */
    const uint8_t *msg;
    size_t msg_total; /* prefix + message */
    size_t read_off;
    size_t send_off;
    uint8_t prefix[TU_GRPC_FRAME_HEADER_LEN];
    bool have_msg;
    bool deferred;
    bool upload_done;
    /* response */
    bool got_headers;
    bool remote_done;
    bool closed;
    uint32_t close_code;
    bool local_reset;
    teeu_status cb_status;
};

int64_t tu_rpc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int poll_ms(int64_t deadline)
{
    int64_t left = deadline - tu_rpc_now_ms();
    if (left <= 0)
        return 0;
    return left > INT_MAX ? INT_MAX : (int)left;
}

/* ---- connection I/O -------------------------------------------------------- */

static void conn_fail(h2_conn *c, teeu_status st, const char *fmt, ...) TU_PRINTF(3, 4);

static void conn_fail(h2_conn *c, teeu_status st, const char *fmt, ...)
{
    if (c->broken)
        return;
    c->broken = true;
    c->io_status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->io_err, sizeof c->io_err, fmt, ap);
    va_end(ap);
}

static void tls_detail(char *out, size_t cap)
{
    unsigned long e = ERR_peek_last_error();
    if (e == 0) {
        snprintf(out, cap, "the connection ended during TLS");
        return;
    }
    ERR_error_string_n(e, out, cap);
    ERR_clear_error();
}

static size_t wbio_pending(const h2_conn *c)
{
    if (!c->wbio)
        return 0;
    char *p = NULL;
    long n = BIO_get_mem_data(c->wbio, &p);
    return n > 0 ? (size_t)n - c->wbio_off : 0;
}

static bool conn_has_output(const h2_conn *c)
{
    return !tu_h2_outq_empty(&c->outq) || wbio_pending(c) > 0;
}

/* Sends TLS ciphertext waiting in the memory BIO. 1: all sent, 0: would block, -1: failed. */
static int flush_wbio(h2_conn *c)
{
    char *p = NULL;
    long n = BIO_get_mem_data(c->wbio, &p);
    while (n > 0 && c->wbio_off < (size_t)n) {
        ssize_t w = send(c->fd, p + c->wbio_off, (size_t)n - c->wbio_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            conn_fail(c, TEEU_ERR_PROTOCOL, "sending failed: %s", strerror(errno));
            return -1;
        }
        c->wbio_off += (size_t)w;
    }
    if (n > 0) {
        (void)BIO_reset(c->wbio);
        c->wbio_off = 0;
    }
    return 1;
}

/* Writes as much queued output as the socket takes. 0: done or would block, -1: failed. */
static int conn_flush(h2_conn *c)
{
    struct iovec iov[IOV_MAX];
    if (!c->ssl) {
        while (!tu_h2_outq_empty(&c->outq)) {
            struct msghdr mh;
            memset(&mh, 0, sizeof mh);
            mh.msg_iov = iov;
            mh.msg_iovlen = tu_h2_outq_iov(&c->outq, iov, IOV_MAX, SSIZE_MAX);
            ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    return 0;
                conn_fail(c, TEEU_ERR_PROTOCOL, "sending failed: %s", strerror(errno));
                return -1;
            }
            tu_h2_outq_consume(&c->outq, (size_t)w);
        }
        return 0;
    }
    for (;;) {
        int r = flush_wbio(c);
        if (r <= 0)
            return r;
        if (tu_h2_outq_empty(&c->outq))
            return 0;
        size_t k = tu_h2_outq_iov(&c->outq, iov, IOV_MAX, H2_TLS_STAGE);
        size_t total = 0;
        for (size_t i = 0; i < k; i++) {
            memcpy(c->stage + total, iov[i].iov_base, iov[i].iov_len);
            total += iov[i].iov_len;
        }
        ERR_clear_error();
        int w = SSL_write(c->ssl, c->stage, (int)total);
        if (w <= 0 || (size_t)w != total) {
            char detail[160];
            tls_detail(detail, sizeof detail);
            conn_fail(c, TEEU_ERR_TLS, "TLS write failed: %s", detail);
            return -1;
        }
        tu_h2_outq_consume(&c->outq, total);
    }
}

/* One read: >0 bytes, 0 end of stream, -1 would block, -2 failed (c->broken set). */
static ssize_t conn_read(h2_conn *c, uint8_t *buf, size_t cap)
{
    if (!c->ssl) {
        for (;;) {
            ssize_t n = recv(c->fd, buf, cap, 0);
            if (n >= 0)
                return n;
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return -1;
            conn_fail(c, TEEU_ERR_PROTOCOL, "receiving failed: %s", strerror(errno));
            return -2;
        }
    }
    ERR_clear_error();
    int n = SSL_read(c->ssl, buf, (int)(cap > INT_MAX ? INT_MAX : cap));
    if (n > 0)
        return n;
    int err = SSL_get_error(c->ssl, n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
        return -1;
    if (err == SSL_ERROR_ZERO_RETURN)
        return 0;
    if (err == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0) {
        if (errno == 0 || errno == ECONNRESET)
            return 0;
        conn_fail(c, TEEU_ERR_PROTOCOL, "receiving failed: %s", strerror(errno));
        return -2;
    }
    char detail[160];
    tls_detail(detail, sizeof detail);
    conn_fail(c, TEEU_ERR_TLS, "TLS failed: %s", detail);
    return -2;
}

/* Reads what is there and feeds it to the session. */
static void conn_receive(h2_conn *c)
{
    for (int i = 0; i < H2_MAX_READS_PER_WAKE && !c->broken && !c->eof; i++) {
        ssize_t n = conn_read(c, c->rbuf, H2_READ_BUF);
        if (n == -1 || n == -2)
            return;
        if (n == 0) {
            c->eof = true;
            return;
        }
        ssize_t rv = nghttp2_session_mem_recv(c->session, c->rbuf, (size_t)n);
        if (rv < 0) {
            conn_fail(c, TEEU_ERR_PROTOCOL, "HTTP/2 input refused: %s", nghttp2_strerror((int)rv));
            return;
        }
        /* A short read drained the socket: spare the recv() that would say
         * EAGAIN (TLS reads return one record at a time, so keep going). */
        if (!c->ssl && (size_t)n < H2_READ_BUF)
            return;
    }
}

/* ---- nghttp2 callbacks ------------------------------------------------------- */

static ssize_t send_cb(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
    (void)s;
    (void)flags;
    h2_conn *c = ud;
    if (tu_h2_outq_copy(&c->outq, data, len) != TEEU_OK)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    return (ssize_t)len;
}

static int send_data_cb(nghttp2_session *s, nghttp2_frame *frame, const uint8_t *framehd, size_t length,
                        nghttp2_data_source *src, void *ud)
{
    (void)s;
    (void)src;
    h2_conn *c = ud;
    h2_stream *st = c->st;
    if (!st || frame->hd.stream_id != st->id || frame->data.padlen != 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (tu_h2_outq_copy(&c->outq, framehd, 9) != TEEU_OK)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (length > st->msg_total - st->send_off)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (st->send_off < TU_GRPC_FRAME_HEADER_LEN && length > 0) {
        size_t k = TU_GRPC_FRAME_HEADER_LEN - st->send_off;
        if (k > length)
            k = length;
        if (tu_h2_outq_copy(&c->outq, st->prefix + st->send_off, k) != TEEU_OK)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        st->send_off += k;
        length -= k;
    }
    if (length > 0) {
        if (tu_h2_outq_ref(&c->outq, st->msg + (st->send_off - TU_GRPC_FRAME_HEADER_LEN), length) != TEEU_OK)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        st->send_off += length;
    }
    return 0;
}

static ssize_t data_read_cb(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t length, uint32_t *flags,
                            nghttp2_data_source *src, void *ud)
{
    (void)s;
    (void)buf;
    (void)src;
    h2_conn *c = ud;
    h2_stream *st = c->st;
    if (!st || sid != st->id)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (!st->have_msg) {
        /* The queue may still point into the current message, which the
         * producer may reuse on its next call: write the queue first. */
        if (!tu_h2_outq_empty(&c->outq) || wbio_pending(c) > 0) {
            st->deferred = true;
            return NGHTTP2_ERR_DEFERRED;
        }
        const uint8_t *msg = NULL;
        size_t len = 0;
        bool done = false;
        st->call->producer_started = true;
        teeu_status rc = st->call->produce(st->call->produce_ctx, &msg, &len, &done);
        if (rc == TEEU_OK && !done && !msg && len)
            rc = tu_error(TEEU_ERR_INTERNAL_BUG, "gRPC request producer returned no message");
        if (rc == TEEU_OK && !done)
            rc = tu_grpc_frame_header(len, st->prefix);
        if (rc != TEEU_OK) {
            st->cb_status = rc;
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
        if (done) {
            st->upload_done = true;
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            return 0;
        }
        st->msg = msg;
        st->msg_total = TU_GRPC_FRAME_HEADER_LEN + len;
        st->read_off = 0;
        st->send_off = 0;
        st->have_msg = true;
    }
    size_t n = st->msg_total - st->read_off;
    if (n > length)
        n = length;
    st->read_off += n;
    if (st->read_off == st->msg_total)
        st->have_msg = false;
    *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    return (ssize_t)n;
}

static ssize_t read_length_cb(nghttp2_session *s, uint8_t frame_type, int32_t sid, int32_t session_window,
                              int32_t stream_window, uint32_t max_frame, void *ud)
{
    (void)s;
    (void)frame_type;
    (void)sid;
    (void)ud;
    size_t n = tu_h2_data_frame_len(H2_MAX_DATA_FRAME, session_window, stream_window, max_frame);
    return n ? (ssize_t)n : 1;
}

static int on_header_cb(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                        const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    (void)s;
    (void)flags;
    h2_conn *c = ud;
    h2_stream *st = c->st;
    if (!st || frame->hd.type != NGHTTP2_HEADERS || frame->hd.stream_id != st->id)
        return 0;
    st->got_headers = true;
    tu_grpc_answer_header(st->call->resp, (const char *)name, namelen, (const char *)value, valuelen);
    return 0;
}

static int on_data_chunk_cb(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data, size_t len,
                            void *ud)
{
    (void)flags;
    h2_conn *c = ud;
    h2_stream *st = c->st;
    if (!st || sid != st->id || st->cb_status != TEEU_OK)
        return 0;
    teeu_status rc = tu_grpc_answer_body(st->call->resp, data, len);
    if (rc != TEEU_OK) {
        st->cb_status = rc;
        st->local_reset = true;
        (void)nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, sid, NGHTTP2_CANCEL);
    }
    return 0;
}

static int on_frame_recv_cb(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
    (void)s;
    h2_conn *c = ud;
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        c->goaway = true;
        c->goaway_code = frame->goaway.error_code;
        return 0;
    }
    h2_stream *st = c->st;
    if (st && frame->hd.stream_id == st->id && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
        (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA))
        st->remote_done = true;
    return 0;
}

static int on_frame_send_cb(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
    (void)s;
    h2_conn *c = ud;
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        c->sent_goaway = true;
        c->sent_goaway_code = frame->goaway.error_code;
    }
    return 0;
}

static int on_stream_close_cb(nghttp2_session *s, int32_t sid, uint32_t code, void *ud)
{
    (void)s;
    h2_conn *c = ud;
    h2_stream *st = c->st;
    if (st && sid == st->id) {
        st->closed = true;
        st->close_code = code;
    }
    return 0;
}

/* ---- connection lifetime ------------------------------------------------------ */

static void conn_close(h2_conn *c)
{
    if (!c)
        return;
    if (c->session)
        nghttp2_session_del(c->session);
    /* OpenSSL marks the session of a connection freed without a shutdown as
     * not resumable; unless TLS itself failed, the session stays good. */
    if (c->ssl && !(c->broken && c->io_status == TEEU_ERR_TLS))
        SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    if (c->ssl)
        SSL_free(c->ssl); /* frees both BIOs */
    if (c->fd >= 0)
        close(c->fd);
    tu_h2_outq_free(&c->outq);
    free(c->stage);
    free(c->rbuf);
    free(c);
}

/* Closes an idle connection politely: GOAWAY (and TLS close_notify) if the
 * socket takes them at once. Only for connections with no call in flight,
 * whose queue holds whole frames. */
static void conn_goodbye(h2_conn *c)
{
    if (c && !c->broken && !c->eof && c->session &&
        nghttp2_session_terminate_session(c->session, NGHTTP2_NO_ERROR) == 0 &&
        nghttp2_session_send(c->session) == 0 && conn_flush(c) == 0 && c->ssl && tu_h2_outq_empty(&c->outq)) {
        (void)SSL_shutdown(c->ssl);
        (void)flush_wbio(c);
    }
    conn_close(c);
}

static teeu_status session_start(h2_conn *c)
{
    nghttp2_session_callbacks *cbs = NULL;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return tu_error(TEEU_ERR_NOMEM, "out of memory creating an HTTP/2 session");
    nghttp2_session_callbacks_set_send_callback(cbs, send_cb);
    nghttp2_session_callbacks_set_send_data_callback(cbs, send_data_cb);
    nghttp2_session_callbacks_set_data_source_read_length_callback(cbs, read_length_cb);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv_cb);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close_cb);
    nghttp2_option *opt = NULL;
    if (nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cbs);
        return tu_error(TEEU_ERR_NOMEM, "out of memory creating an HTTP/2 session");
    }
    /* Bound what a hostile server can make us hold. */
    nghttp2_option_set_max_settings(opt, 32);
    int rv = nghttp2_session_client_new2(&c->session, cbs, c, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0)
        return tu_error(TEEU_ERR_NOMEM, "cannot create an HTTP/2 session: %s", nghttp2_strerror(rv));
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 64u << 10},
    };
    if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, TU_ARRAY_LEN(iv)) != 0 ||
        nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, H2_CONN_WINDOW) != 0)
        return tu_error(TEEU_ERR_NOMEM, "cannot set up the HTTP/2 session");
    return TEEU_OK;
}

/* Waits until fd is ready for events or the deadline; false on timeout. */
static bool wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int ms = poll_ms(deadline);
        if (ms == 0)
            return false;
        int n = poll(&p, 1, ms);
        if (n > 0)
            return true;
        if (n < 0 && errno != EINTR)
            return true; /* let the next I/O call report the error */
    }
}

static teeu_status tcp_connect(tu_h2_pool *p, const char *method, int64_t deadline, int *out_fd)
{
    const tu_h2_target *t = &p->t;
    char host[256];
    char port[8];
    teeu_status st = tu_rpc_endpoint_split(t->endpoint, host, sizeof host, port, sizeof port);
    if (st != TEEU_OK)
        return st;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0)
        return tu_error(TEEU_ERR_CONNECT, "cannot resolve the host of %s (gRPC %s): %s; check the endpoint",
                        t->endpoint, method, gai_strerror(gai));
    int64_t connect_deadline = tu_rpc_now_ms() + t->connect_timeout_ms;
    if (connect_deadline > deadline)
        connect_deadline = deadline;
    int last_err = ECONNREFUSED;
    bool timed_out = false;
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        int s = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s < 0) {
            last_err = errno;
            continue;
        }
        int rc = connect(s, ai->ai_addr, ai->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            if (!wait_fd(s, POLLOUT, connect_deadline)) {
                timed_out = true;
                close(s);
                break;
            }
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
                soerr = errno;
            rc = soerr ? -1 : 0;
            errno = soerr;
        }
        if (rc != 0) {
            last_err = errno;
            close(s);
            continue;
        }
        fd = s;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        if (timed_out && tu_rpc_now_ms() >= deadline)
            return tu_error(TEEU_ERR_TIMEOUT, "gRPC %s to %s: no connection before the deadline", method,
                            t->endpoint);
        if (timed_out)
            return tu_error(TEEU_ERR_CONNECT,
                            "cannot connect to %s (gRPC %s): no answer within %u ms; check that the server runs and "
                            "the endpoint is right",
                            t->endpoint, method, t->connect_timeout_ms);
        return tu_error(TEEU_ERR_CONNECT,
                        "cannot connect to %s (gRPC %s): %s; check that the server runs and the endpoint is right",
                        t->endpoint, method, strerror(last_err));
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    atomic_fetch_add(&p->connections, 1);
    *out_fd = fd;
    return TEEU_OK;
}

/* OpenSSL hands over each session (ticket) the server issues. */
static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
    h2_conn *c = SSL_get_app_data(ssl);
    if (!c)
        return 0;
    tu_h2_pool *p = c->pool;
    pthread_mutex_lock(&p->lock);
    SSL_SESSION *old = p->tls_session;
    p->tls_session = sess;
    pthread_mutex_unlock(&p->lock);
    SSL_SESSION_free(old);
    return 1; /* we keep the reference */
}

/* The channel's TLS settings, built once: CA, client identity, TLS 1.2+. */
static teeu_status pool_ssl_ctx(tu_h2_pool *p, SSL_CTX **out)
{
    pthread_mutex_lock(&p->lock);
    if (p->ssl_ctx) {
        *out = p->ssl_ctx;
        pthread_mutex_unlock(&p->lock);
        return TEEU_OK;
    }
    const tu_h2_target *t = &p->t;
    char detail[160];
    teeu_status st = TEEU_OK;
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        st = tu_error(TEEU_ERR_NOMEM, "cannot create a TLS context for %s", t->endpoint);
        goto out;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
    if (t->ca_file ? SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL) != 1
                   : SSL_CTX_set_default_verify_paths(ctx) != 1) {
        tls_detail(detail, sizeof detail);
        st = tu_error(TEEU_ERR_TLS, "TLS with %s: cannot load the CA %s%s: %s; check the CA file", t->endpoint,
                      t->ca_file ? "file " : "store", t->ca_file ? t->ca_file : "", detail);
        goto out;
    }
    if (t->cert_file) {
        if (SSL_CTX_use_certificate_chain_file(ctx, t->cert_file) != 1) {
            tls_detail(detail, sizeof detail);
            st = tu_error(TEEU_ERR_TLS, "TLS with %s: cannot load the client certificate %s: %s", t->endpoint,
                          t->cert_file, detail);
            goto out;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, t->key_file, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            tls_detail(detail, sizeof detail);
            st = tu_error(TEEU_ERR_TLS,
                          "TLS with %s: cannot use the client key %s with certificate %s: %s; check the client "
                          "certificate/key",
                          t->endpoint, t->key_file, t->cert_file, detail);
            goto out;
        }
    }
    p->ssl_ctx = ctx;
    ctx = NULL;
    *out = p->ssl_ctx;
out:
    SSL_CTX_free(ctx);
    pthread_mutex_unlock(&p->lock);
    return st;
}

static bool is_ip_literal(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Sends the whole ciphertext waiting in the memory BIO (handshake). */
static bool flush_wbio_blocking(h2_conn *c, int64_t deadline)
{
    for (;;) {
        int r = flush_wbio(c);
        if (r == 1)
            return true;
        if (r < 0 || !wait_fd(c->fd, POLLOUT, deadline))
            return false;
    }
}

static teeu_status tls_handshake(h2_conn *c, const char *method, int64_t deadline)
{
    const tu_h2_target *t = &c->pool->t;
    SSL_CTX *ctx = NULL;
    teeu_status st = pool_ssl_ctx(c->pool, &ctx);
    if (st != TEEU_OK)
        return st;
    char host[256];
    char port[8];
    st = tu_rpc_endpoint_split(t->endpoint, host, sizeof host, port, sizeof port);
    if (st != TEEU_OK)
        return st;
    c->ssl = SSL_new(ctx);
    BIO *rbio = BIO_new_socket(c->fd, BIO_NOCLOSE);
    BIO *wbio = BIO_new(BIO_s_mem());
    c->stage = malloc(H2_TLS_STAGE);
    if (!c->ssl || !rbio || !wbio || !c->stage) {
        BIO_free(rbio);
        BIO_free(wbio);
        return tu_error(TEEU_ERR_NOMEM, "out of memory setting up TLS with %s", t->endpoint);
    }
    SSL_set_bio(c->ssl, rbio, wbio);
    c->wbio = wbio;
    SSL_set_app_data(c->ssl, c);
    pthread_mutex_lock(&c->pool->lock);
    if (c->pool->tls_session)
        (void)SSL_set_session(c->ssl, c->pool->tls_session);
    pthread_mutex_unlock(&c->pool->lock);
    bool ip = is_ip_literal(host);
    int ok = 1;
    if (ip) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host);
    } else {
        ok = SSL_set_tlsext_host_name(c->ssl, host) == 1 && SSL_set1_host(c->ssl, host) == 1;
    }
    static const unsigned char alpn[] = {2, 'h', '2'};
    if (!ok || SSL_set_alpn_protos(c->ssl, alpn, sizeof alpn) != 0)
        return tu_error(TEEU_ERR_TLS, "TLS with %s: cannot set the expected server name %s", t->endpoint, host);
    for (;;) {
        ERR_clear_error();
        int r = SSL_connect(c->ssl);
        int err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
        if (!flush_wbio_blocking(c, deadline) && tu_rpc_now_ms() >= deadline)
            return tu_error(TEEU_ERR_TIMEOUT, "gRPC %s to %s: TLS handshake not done before the deadline", method,
                            t->endpoint);
        if (r == 1)
            break;
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            if (!wait_fd(c->fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline))
                return tu_error(TEEU_ERR_TIMEOUT, "gRPC %s to %s: TLS handshake not done before the deadline",
                                method, t->endpoint);
            continue;
        }
        char detail[200];
        long vr = SSL_get_verify_result(c->ssl);
        if (vr != X509_V_OK)
            snprintf(detail, sizeof detail, "certificate verify failed: %s", X509_verify_cert_error_string(vr));
        else
            tls_detail(detail, sizeof detail);
        return tu_error(TEEU_ERR_TLS,
                        "TLS with %s failed (gRPC %s): %s; check the CA file, the server certificate and the "
                        "client certificate/key",
                        t->endpoint, method, detail);
    }
    const unsigned char *proto = NULL;
    unsigned int proto_len = 0;
    SSL_get0_alpn_selected(c->ssl, &proto, &proto_len);
    if (proto_len != 2 || memcmp(proto, "h2", 2) != 0)
        return tu_error(TEEU_ERR_PROTOCOL,
                        "gRPC %s to %s: the server did not speak HTTP/2 (check that it is a gRPC server offering h2 "
                        "by ALPN)",
                        method, t->endpoint);
    return TEEU_OK;
}

static teeu_status conn_open(tu_h2_pool *p, const char *method, int64_t deadline, h2_conn **out)
{
    *out = NULL;
    h2_conn *c = calloc(1, sizeof *c);
    if (!c)
        return tu_error(TEEU_ERR_NOMEM, "out of memory for a connection to %s", p->t.endpoint);
    c->pool = p;
    c->fd = -1;
    c->rbuf = malloc(H2_READ_BUF);
    teeu_status st = c->rbuf ? TEEU_OK : tu_error(TEEU_ERR_NOMEM, "out of memory for a connection to %s",
                                                  p->t.endpoint);
    SSL_CTX *ctx = NULL;
    /* TLS files first: a bad CA file or client key is not a connect failure. */
    if (st == TEEU_OK && !p->t.plaintext)
        st = pool_ssl_ctx(p, &ctx);
    if (st == TEEU_OK)
        st = tcp_connect(p, method, deadline, &c->fd);
    if (st == TEEU_OK && !p->t.plaintext)
        st = tls_handshake(c, method, deadline);
    if (st == TEEU_OK)
        st = session_start(c);
    if (st != TEEU_OK) {
        conn_close(c);
        return st;
    }
    *out = c;
    return TEEU_OK;
}

/* An idle connection is usable if the peer has not closed it or sent GOAWAY. */
static bool conn_still_good(h2_conn *c)
{
    struct pollfd pf = {.fd = c->fd, .events = POLLIN};
    int n = poll(&pf, 1, 0);
    if (n < 0 || (pf.revents & (POLLERR | POLLNVAL)))
        return false;
    if (n > 0)
        conn_receive(c);
    return !c->broken && !c->eof && !c->goaway && nghttp2_session_want_read(c->session);
}

static h2_conn *pool_take(tu_h2_pool *p)
{
    for (;;) {
        h2_conn *c = NULL;
        pthread_mutex_lock(&p->lock);
        if (p->n_idle > 0)
            c = p->idle[--p->n_idle];
        pthread_mutex_unlock(&p->lock);
        if (!c || conn_still_good(c))
            return c;
        conn_close(c);
    }
}

static void pool_give(tu_h2_pool *p, h2_conn *c)
{
    pthread_mutex_lock(&p->lock);
    if (p->n_idle < H2_POOL_MAX) {
        p->idle[p->n_idle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    conn_goodbye(c);
}

teeu_status tu_h2_pool_new(const tu_h2_target *target, tu_h2_pool **out)
{
    *out = NULL;
    tu_h2_pool *p = calloc(1, sizeof *p);
    if (!p)
        return tu_error(TEEU_ERR_NOMEM, "out of memory creating an HTTP/2 connection pool");
    p->t = *target;
    pthread_mutex_init(&p->lock, NULL);
    atomic_init(&p->connections, 0);
    *out = p;
    return TEEU_OK;
}

void tu_h2_pool_free(tu_h2_pool *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_idle; i++)
        conn_goodbye(p->idle[i]);
    SSL_SESSION_free(p->tls_session);
    SSL_CTX_free(p->ssl_ctx);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

unsigned long tu_h2_pool_connections(const tu_h2_pool *p)
{
    return atomic_load(&((tu_h2_pool *)p)->connections);
}

/* ---- one call ------------------------------------------------------------------- */

typedef enum { RUN_DONE, RUN_TIMEOUT, RUN_CONN_FAILED, RUN_CALLBACK_FAILED } run_result;

static run_result run_stream(h2_conn *c, h2_stream *st, int64_t deadline)
{
    for (;;) {
        if (st->cb_status != TEEU_OK)
            return RUN_CALLBACK_FAILED;
        if (st->remote_done || st->closed)
            return RUN_DONE;
        if (c->broken)
            return RUN_CONN_FAILED;
        if (tu_rpc_now_ms() >= deadline)
            return RUN_TIMEOUT;
        bool resumed = false;
        int rv = nghttp2_session_send(c->session);
        if (rv != 0) {
            conn_fail(c, TEEU_ERR_PROTOCOL, "HTTP/2 session failed: %s", nghttp2_strerror(rv));
            return RUN_CONN_FAILED;
        }
        if (st->cb_status != TEEU_OK)
            return RUN_CALLBACK_FAILED;
        if (conn_flush(c) < 0)
            return RUN_CONN_FAILED;
        if (st->closed)
            continue;
        if (st->deferred && !conn_has_output(c)) {
            /* The queue no longer points into the message: the producer may
             * be called again. Look at input without waiting, then go on. */
            st->deferred = false;
            if (nghttp2_session_resume_data(c->session, st->id) != 0) {
                conn_fail(c, TEEU_ERR_PROTOCOL, "HTTP/2 stream could not resume");
                return RUN_CONN_FAILED;
            }
            resumed = true;
        }
        if (c->eof)
            return RUN_CONN_FAILED;
        if (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session) &&
            !conn_has_output(c))
            return RUN_CONN_FAILED;
        struct pollfd pf = {.fd = c->fd, .events = POLLIN};
        if (conn_has_output(c))
            pf.events |= POLLOUT;
        int ms = resumed ? 0 : poll_ms(deadline);
        if (ms == 0 && !resumed)
            return RUN_TIMEOUT;
        int n = poll(&pf, 1, ms);
        if (n < 0 && errno != EINTR) {
            conn_fail(c, TEEU_ERR_PROTOCOL, "poll failed: %s", strerror(errno));
            return RUN_CONN_FAILED;
        }
        if (n > 0 && (pf.revents & (POLLIN | POLLHUP | POLLERR)))
            conn_receive(c);
    }
}

static teeu_status submit_request(h2_conn *c, h2_stream *st, const char *method, int64_t deadline)
{
    const tu_h2_target *t = &c->pool->t;
    char timeout[16];
    int64_t left = deadline - tu_rpc_now_ms();
    tu_grpc_timeout_format((uint64_t)(left > 0 ? left : 1), timeout);
#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE}
    nghttp2_nv nva[] = {
        NV(":method", "POST"),
        NV(":scheme", t->plaintext ? "http" : "https"),
        NV(":path", method),
        NV(":authority", t->endpoint),
        NV("content-type", "application/grpc"),
        NV("te", "trailers"),
        NV("grpc-accept-encoding", "identity"),
        NV("grpc-timeout", timeout),
        NV("user-agent", "grpc-c-libteeu/" TEEU_VERSION_STRING),
    };
#undef NV
    nghttp2_data_provider prd;
    memset(&prd, 0, sizeof prd);
    prd.read_callback = data_read_cb;
    int32_t id = nghttp2_submit_request(c->session, NULL, nva, TU_ARRAY_LEN(nva), &prd, NULL);
    if (id < 0)
        return tu_error(TEEU_ERR_PROTOCOL, "gRPC %s to %s: cannot start an HTTP/2 stream: %s", method, t->endpoint,
                        nghttp2_strerror(id));
    st->id = id;
    return TEEU_OK;
}

/* After the call: end our side of the stream and keep the connection if it is clean. */
static void call_finish(tu_h2_pool *p, h2_conn *c, h2_stream *st, run_result rr)
{
    if (rr == RUN_DONE || rr == RUN_CALLBACK_FAILED) {
        if (!st->closed && !st->local_reset) {
            /* The answer is complete (or refused) while our side is still
             * open: stop the upload. */
            st->local_reset = true;
            (void)nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
        }
        if (nghttp2_session_send(c->session) != 0)
            c->broken = true;
        else
            (void)conn_flush(c);
    }
    bool reuse = rr != RUN_TIMEOUT && rr != RUN_CONN_FAILED && !c->broken && !c->eof && !c->goaway &&
                 st->closed && !conn_has_output(c) && nghttp2_session_want_read(c->session);
    c->st = NULL;
    if (reuse) {
        pool_give(p, c);
        return;
    }
    /* Nothing may keep pointing into the producer's message. */
    tu_h2_outq_clear(&c->outq);
    conn_close(c);
}

static const char *h2_code_name(uint32_t code)
{
    return nghttp2_http2_strerror(code);
}

/* The status of a call whose connection or stream ended abnormally. */
static teeu_status call_failure(const tu_h2_pool *p, const h2_conn *c, const h2_stream *st, run_result rr,
                                bool fresh, const char *method)
{
    const tu_h2_target *t = &p->t;
    const tu_grpc_answer *r = st->call->resp;
    /* A server that failed the call early may reset or close after its
     * trailers-only answer: the call's outcome is the status it sent. */
    if (tu_grpc_answer_failed(r))
        return tu_grpc_answer_outcome(r, method, t->endpoint);
    if (rr == RUN_TIMEOUT)
        return tu_error(TEEU_ERR_TIMEOUT, "gRPC %s to %s: no complete answer before the deadline", method,
                        t->endpoint);
    if (rr == RUN_CONN_FAILED) {
        if (!t->plaintext && fresh && !st->got_headers && (c->eof || c->broken))
            return tu_error(TEEU_ERR_TLS,
                            "TLS with %s: the server closed the new connection before any response (gRPC %s: %s); "
                            "it most likely refused the client certificate: check the client certificate/key and "
                            "that the server trusts their CA",
                            t->endpoint, method, c->broken ? c->io_err : "connection closed");
        if (c->broken && c->io_status == TEEU_ERR_TLS)
            return tu_error(TEEU_ERR_TLS,
                            "TLS with %s failed (gRPC %s): %s; check the CA file, the server certificate and the "
                            "client certificate/key",
                            t->endpoint, method, c->io_err);
        if (c->sent_goaway)
            return tu_error(TEEU_ERR_PROTOCOL,
                            "gRPC %s to %s failed at the HTTP/2 level: the server broke the protocol (%s)%s",
                            method, t->endpoint, h2_code_name(c->sent_goaway_code),
                            st->got_headers ? "" : "; check that it is a gRPC server accepting plain-text h2c");
        if (c->broken)
            return tu_error(TEEU_ERR_PROTOCOL, "gRPC %s to %s failed at the HTTP/2 level: %s", method, t->endpoint,
                            c->io_err);
        if (c->goaway)
            return tu_error(TEEU_ERR_PROTOCOL,
                            "gRPC %s to %s: the server closed the connection (GOAWAY %s) before the call ended",
                            method, t->endpoint, h2_code_name(c->goaway_code));
        return tu_error(TEEU_ERR_PROTOCOL, "gRPC %s to %s: the server closed the connection before the call ended",
                        method, t->endpoint);
    }
    /* The stream closed without the server ending its answer. */
    if (st->close_code == NGHTTP2_REFUSED_STREAM)
        return tu_error(TEEU_ERR_PROTOCOL,
                        "gRPC %s to %s: the server refused the call (%s) without processing it; it may be shutting "
                        "down",
                        method, t->endpoint, c->goaway ? "GOAWAY" : "REFUSED_STREAM");
    if (!st->got_headers)
        return tu_error(TEEU_ERR_PROTOCOL,
                        "gRPC %s to %s: the server reset the call before any answer arrived (HTTP/2 %s): check that "
                        "the server implements %s",
                        method, t->endpoint, h2_code_name(st->close_code), method);
    return tu_error(TEEU_ERR_PROTOCOL, "gRPC %s to %s: the server reset the call (HTTP/2 %s) before its answer ended",
                    method, t->endpoint, h2_code_name(st->close_code));
}

teeu_status tu_h2_call_run(tu_h2_pool *p, tu_h2_call *call, int64_t deadline_ms, bool retry_unavailable,
                           bool *retryable, bool *redo)
{
    *retryable = false;
    *redo = false;
    const char *method = call->method;
    h2_conn *c = pool_take(p);
    bool fresh = c == NULL;
    teeu_status st = TEEU_OK;
    if (!c) {
        st = conn_open(p, method, deadline_ms, &c);
        if (st != TEEU_OK) {
            *retryable = st == TEEU_ERR_CONNECT;
            return st;
        }
    }
    h2_stream s;
    memset(&s, 0, sizeof s);
    s.call = call;
    c->st = &s;
    st = submit_request(c, &s, method, deadline_ms);
    if (st != TEEU_OK) {
        /* (Stream ids of a long-lived connection can run out.) */
        c->st = NULL;
        conn_close(c);
        *redo = !fresh;
        return st;
    }
    run_result rr = run_stream(c, &s, deadline_ms);
    if (rr == RUN_CALLBACK_FAILED) {
        st = tu_error_context(s.cb_status, "gRPC %s to %s", method, p->t.endpoint);
    } else if (rr == RUN_DONE && s.remote_done) {
        st = tu_grpc_answer_outcome(call->resp, method, p->t.endpoint);
        *retryable = st == TEEU_ERR_RPC_UNAVAILABLE && retry_unavailable && call->resp->deframer.messages == 0;
    } else {
        st = call_failure(p, c, &s, rr, fresh, method);
        bool no_answer = !s.got_headers && call->resp->deframer.messages == 0 && rr != RUN_TIMEOUT;
        bool refused = rr == RUN_DONE && s.close_code == NGHTTP2_REFUSED_STREAM;
        /* A reused connection that broke before any answer, or a refused
         * stream, never reached the method: go again at once when the
         * producer can be replayed, else retry if the caller allows. */
        *redo = ((!fresh && no_answer) || refused) && !call->producer_started;
        *retryable = (refused || (!fresh && no_answer)) && retry_unavailable;
    }
    call_finish(p, c, &s, rr);
    return st;
}
