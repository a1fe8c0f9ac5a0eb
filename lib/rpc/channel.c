/*
 * gRPC transport on libcurl's HTTP/2 (unary and server-streaming calls;
 * calls with a request producer run on nghttp2 directly, h2stream.c).
 *
 * A channel owns a pool of easy handles guarded by a mutex. An easy handle
 * keeps its connection open after a call, so a single-threaded user makes
 * every call on one HTTP/2 connection; concurrent callers take separate
 * handles (libcurl's easy interface does not multiplex streams of different
 * handles). A share object spreads the DNS cache and TLS sessions over the
 * pool, so extra connections resume TLS cheaply.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>

#include <teeu/version.h>

#include "rpc/rpc_internal.h"

#define TU_RPC_POOL_MAX 8
#define TU_RPC_DEFAULT_TIMEOUT_MS 30000u
#define TU_RPC_DEFAULT_CONNECT_TIMEOUT_MS 10000u
#define TU_RPC_DEFAULT_RETRIES 2u
#define TU_RPC_DEFAULT_BACKOFF_MS 100u

/* A pooled easy handle and what we know of its cached connection. */
typedef struct tu_rpc_handle {
    CURL *h;
    /* The last call on h ended on a live h2c connection it may reuse. */
    bool h2c_live;
} tu_rpc_handle;

struct tu_rpc_channel {
    char *endpoint;
    char *base_url;
    bool plaintext;
    char *ca_file;
    char *cert_file;
    char *key_file;
    uint32_t default_timeout_ms;
    uint32_t connect_timeout_ms;
    size_t max_message;
    unsigned max_retries;
    uint32_t retry_backoff_ms;

    pthread_mutex_t pool_lock;
    tu_rpc_handle idle[TU_RPC_POOL_MAX];
    size_t n_idle;
    /* libcurl before 8.0 breaks when a prior-knowledge h2c connection is
     * reused (curl PR #10643); see select_http_version. */
    bool h2c_reuse_bug;

    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    atomic_ulong connections;
    /* Idle nghttp2 connections of client-streaming calls. */
    tu_h2_pool *h2;
};

/* ---- process-wide libcurl initialisation --------------------------------- */

static pthread_once_t tu_curl_once = PTHREAD_ONCE_INIT;
static CURLcode tu_curl_init_rc = CURLE_OK;

static void curl_init_once(void)
{
    tu_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static teeu_status curl_ready(void)
{
    pthread_once(&tu_curl_once, curl_init_once);
    if (tu_curl_init_rc != CURLE_OK)
        return tu_error(TEEU_ERR_INTERNAL_BUG, "libcurl failed to initialise: %s",
                        curl_easy_strerror(tu_curl_init_rc));
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    if (!(v->features & CURL_VERSION_HTTP2))
        return tu_error(TEEU_ERR_UNSUPPORTED,
                        "libcurl %s was built without HTTP/2, which gRPC needs; install a libcurl with nghttp2",
                        v->version);
    return TEEU_OK;
}

/* ---- options and channel lifetime --------------------------------------- */

void tu_rpc_options_init(tu_rpc_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->default_timeout_ms = TU_RPC_DEFAULT_TIMEOUT_MS;
    opts->connect_timeout_ms = TU_RPC_DEFAULT_CONNECT_TIMEOUT_MS;
    opts->max_message = TU_RPC_DEFAULT_MAX_MESSAGE;
    opts->max_retries = TU_RPC_DEFAULT_RETRIES;
    opts->retry_backoff_ms = TU_RPC_DEFAULT_BACKOFF_MS;
}

/* "host:port" or "[v6]:port": no scheme, path, credentials or spaces. */
static teeu_status check_endpoint(const char *ep)
{
    size_t n = strlen(ep);
    if (n == 0 || n > 255)
        return tu_error(TEEU_ERR_CONFIG, "gRPC endpoint must be \"host:port\" (got %zu characters)", n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)ep[i];
        if (c <= 0x20 || c >= 0x7f || strchr("/?#@\\%", c))
            return tu_error(TEEU_ERR_CONFIG,
                            "gRPC endpoint \"%s\" must be \"host:port\" without scheme, path or spaces", ep);
    }
    const char *colon = strrchr(ep, ':');
    if (!colon || colon == ep || colon[1] == '\0')
        return tu_error(TEEU_ERR_CONFIG, "gRPC endpoint \"%s\" lacks a port (write \"host:port\")", ep);
    if (ep[0] == '[' && colon[-1] != ']')
        return tu_error(TEEU_ERR_CONFIG, "gRPC endpoint \"%s\": write an IPv6 address as \"[addr]:port\"", ep);
    if (ep[0] != '[' && memchr(ep, ':', (size_t)(colon - ep)))
        return tu_error(TEEU_ERR_CONFIG, "gRPC endpoint \"%s\": write an IPv6 address as \"[addr]:port\"", ep);
    char *end = NULL;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || *end != '\0' || port < 1 || port > 65535)
        return tu_error(TEEU_ERR_CONFIG, "gRPC endpoint \"%s\": port must be 1..65535", ep);
    return TEEU_OK;
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
    (void)h;
    (void)access;
    tu_rpc_channel *ch = ud;
    pthread_mutex_lock(&ch->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
    (void)h;
    tu_rpc_channel *ch = ud;
    pthread_mutex_unlock(&ch->share_locks[data]);
}

static teeu_status dup_opt(const char *in, char **out)
{
    *out = NULL;
    if (!in || !*in)
        return TEEU_OK;
    *out = tu_strdup(in);
    return *out ? TEEU_OK : tu_error(TEEU_ERR_NOMEM, "out of memory copying gRPC channel options");
}

static void channel_destroy(tu_rpc_channel *ch, bool locks_ready)
{
    for (size_t i = 0; i < ch->n_idle; i++)
        curl_easy_cleanup(ch->idle[i].h);
    tu_h2_pool_free(ch->h2);
    if (ch->share)
        curl_share_cleanup(ch->share);
    if (locks_ready) {
        pthread_mutex_destroy(&ch->pool_lock);
        for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
            pthread_mutex_destroy(&ch->share_locks[i]);
    }
    free(ch->endpoint);
    free(ch->base_url);
    free(ch->ca_file);
    free(ch->cert_file);
    free(ch->key_file);
    free(ch);
}

teeu_status tu_rpc_channel_new(const tu_rpc_options *opts, tu_rpc_channel **out)
{
    if (!opts || !out || !opts->endpoint)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "tu_rpc_channel_new: options and endpoint are required");
    *out = NULL;
    teeu_status st = curl_ready();
    if (st != TEEU_OK)
        return st;
    st = check_endpoint(opts->endpoint);
    if (st != TEEU_OK)
        return st;
    if ((opts->cert_file && *opts->cert_file) != (opts->key_file && *opts->key_file))
        return tu_error(TEEU_ERR_CONFIG, "mutual TLS to %s needs both a client certificate and its key file",
                        opts->endpoint);
    if (opts->plaintext && (opts->ca_file || opts->cert_file))
        return tu_error(TEEU_ERR_CONFIG, "gRPC channel to %s is plain-text but TLS files were given; choose one",
                        opts->endpoint);

    tu_rpc_channel *ch = calloc(1, sizeof *ch);
    if (!ch)
        return tu_error(TEEU_ERR_NOMEM, "out of memory creating a gRPC channel");
    ch->plaintext = opts->plaintext;
    ch->default_timeout_ms = opts->default_timeout_ms ? opts->default_timeout_ms : TU_RPC_DEFAULT_TIMEOUT_MS;
    ch->connect_timeout_ms = opts->connect_timeout_ms ? opts->connect_timeout_ms : TU_RPC_DEFAULT_CONNECT_TIMEOUT_MS;
    ch->max_message = opts->max_message ? opts->max_message : TU_RPC_DEFAULT_MAX_MESSAGE;
    ch->max_retries = opts->max_retries;
    ch->retry_backoff_ms = opts->retry_backoff_ms ? opts->retry_backoff_ms : TU_RPC_DEFAULT_BACKOFF_MS;
    ch->h2c_reuse_bug = curl_version_info(CURLVERSION_NOW)->version_num < 0x080000;
    pthread_mutex_init(&ch->pool_lock, NULL);
    for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&ch->share_locks[i], NULL);

    tu_buf url = {0};
    st = dup_opt(opts->endpoint, &ch->endpoint);
    if (st == TEEU_OK)
        st = dup_opt(opts->ca_file, &ch->ca_file);
    if (st == TEEU_OK)
        st = dup_opt(opts->cert_file, &ch->cert_file);
    if (st == TEEU_OK)
        st = dup_opt(opts->key_file, &ch->key_file);
    if (st == TEEU_OK)
        st = tu_buf_printf(&url, "%s://%s", ch->plaintext ? "http" : "https", ch->endpoint);
    if (st != TEEU_OK) {
        tu_buf_free(&url);
        channel_destroy(ch, true);
        return st;
    }
    ch->base_url = (char *)tu_buf_release(&url, NULL);

    ch->share = curl_share_init();
    if (!ch->share) {
        channel_destroy(ch, true);
        return tu_error(TEEU_ERR_NOMEM, "out of memory creating a libcurl share for %s", opts->endpoint);
    }
    curl_share_setopt(ch->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(ch->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(ch->share, CURLSHOPT_USERDATA, ch);
    curl_share_setopt(ch->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(ch->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    tu_h2_target target = {
        .endpoint = ch->endpoint,
        .plaintext = ch->plaintext,
        .ca_file = ch->ca_file,
        .cert_file = ch->cert_file,
        .key_file = ch->key_file,
        .connect_timeout_ms = ch->connect_timeout_ms,
    };
    st = tu_h2_pool_new(&target, &ch->h2);
    if (st != TEEU_OK) {
        channel_destroy(ch, true);
        return st;
    }
    *out = ch;
    return TEEU_OK;
}

void tu_rpc_channel_free(tu_rpc_channel *ch)
{
    if (ch)
        channel_destroy(ch, true);
}

const char *tu_rpc_channel_endpoint(const tu_rpc_channel *ch)
{
    return ch->endpoint;
}

bool tu_rpc_channel_plaintext(const tu_rpc_channel *ch)
{
    return ch->plaintext;
}

unsigned long tu_rpc_channel_connections(const tu_rpc_channel *ch)
{
    return atomic_load(&((tu_rpc_channel *)ch)->connections) + tu_h2_pool_connections(ch->h2);
}

/* Takes a pooled handle (every option is set again by the call) or makes one. */
static bool pool_take(tu_rpc_channel *ch, tu_rpc_handle *out)
{
    bool found = false;
    pthread_mutex_lock(&ch->pool_lock);
    if (ch->n_idle > 0) {
        *out = ch->idle[--ch->n_idle];
        found = true;
    }
    pthread_mutex_unlock(&ch->pool_lock);
    if (found)
        return true;
    out->h = curl_easy_init();
    out->h2c_live = false;
    return out->h != NULL;
}

static void pool_give(tu_rpc_channel *ch, tu_rpc_handle *hd)
{
    bool kept = false;
    pthread_mutex_lock(&ch->pool_lock);
    if (ch->n_idle < TU_RPC_POOL_MAX) {
        ch->idle[ch->n_idle++] = *hd;
        kept = true;
    }
    pthread_mutex_unlock(&ch->pool_lock);
    if (!kept)
        curl_easy_cleanup(hd->h);
}

/* True if the handle's last (h2c) connection is open and not closing. */
static bool connection_alive(CURL *h)
{
    curl_socket_t fd = CURL_SOCKET_BAD;
    if (curl_easy_getinfo(h, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK || fd == CURL_SOCKET_BAD)
        return false;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, 0);
    if (n < 0 || (p.revents & (POLLERR | POLLHUP | POLLNVAL)))
        return false;
    if (n == 0)
        return true;
    /* Readable: EOF, or pending HTTP/2 frames (for h2c they are plain
     * text): a GOAWAY among them means the peer is closing. */
    uint8_t buf[1024];
    ssize_t got = recv(fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    if (got <= 0)
        return false;
    size_t off = 0;
    while (off + 9 <= (size_t)got) {
        size_t flen = ((size_t)buf[off] << 16) | ((size_t)buf[off + 1] << 8) | buf[off + 2];
        if (buf[off + 3] == 0x7) /* GOAWAY */
            return false;
        off += 9 + flen;
    }
    return true;
}

/*
 * The HTTP version to ask for. TLS negotiates h2 by ALPN. For h2c, a new
 * connection needs prior knowledge; but libcurl before 8.0 fails with
 * "Error in the HTTP2 framing layer" when a prior-knowledge request reuses
 * an h2c connection, while plain CURL_HTTP_VERSION_2_0 reuses it correctly.
 * So a handle whose connection is known alive asks for 2_0; should that
 * connection die meanwhile, libcurl falls back to HTTP/1.1, which no gRPC
 * server processes, and call_once retries on a fresh prior-knowledge
 * connection (*fallback_possible tells it so).
 */
static long select_http_version(const tu_rpc_channel *ch, const tu_rpc_handle *hd, bool *fallback_possible)
{
    *fallback_possible = false;
    if (!ch->plaintext)
        return CURL_HTTP_VERSION_2TLS;
    if (ch->h2c_reuse_bug && hd->h2c_live && connection_alive(hd->h)) {
        *fallback_possible = true;
        return CURL_HTTP_VERSION_2_0;
    }
    return CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
}

/* ---- one call attempt ------------------------------------------------------ */

typedef struct call_ctx {
    tu_rpc_channel *ch;
    const char *method;
    /* The whole framed request of a single-message call, else NULL. */
    const uint8_t *body;
    size_t body_len;

    /* request side */
    tu_rpc_produce_fn produce;
    void *produce_ctx;
    bool producer_started;
    bool produce_done;
    bool have_cur;
    const uint8_t *cur;
    size_t cur_len;
    size_t cur_off;
    uint8_t hdr[TU_GRPC_FRAME_HEADER_LEN];
    size_t hdr_off;

    /* response side */
    tu_grpc_msg_fn consume;
    void *consume_ctx;
    tu_grpc_answer resp;

    /* the first error raised inside a callback (its message is already set) */
    teeu_status cb_status;
    char curl_err[CURL_ERROR_SIZE];
} call_ctx;

static size_t read_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    call_ctx *c = ud;
    size_t cap = size * nitems;
    size_t out = 0;
    while (out < cap) {
        if (!c->have_cur) {
            if (c->produce_done)
                break;
            const uint8_t *msg = NULL;
            size_t len = 0;
            bool done = false;
            c->producer_started = true;
            teeu_status st = c->produce(c->produce_ctx, &msg, &len, &done);
            if (st == TEEU_OK && !done && !msg && len)
                st = tu_error(TEEU_ERR_INTERNAL_BUG, "gRPC request producer returned no message");
            if (st == TEEU_OK && !done)
                st = tu_grpc_frame_header(len, c->hdr);
            if (st != TEEU_OK) {
                c->cb_status = st;
                return CURL_READFUNC_ABORT;
            }
            if (done) {
                c->produce_done = true;
                break;
            }
            c->cur = msg;
            c->cur_len = len;
            c->cur_off = 0;
            c->hdr_off = 0;
            c->have_cur = true;
        }
        if (c->hdr_off < TU_GRPC_FRAME_HEADER_LEN) {
            size_t take = TU_GRPC_FRAME_HEADER_LEN - c->hdr_off;
            if (take > cap - out)
                take = cap - out;
            memcpy(buf + out, c->hdr + c->hdr_off, take);
            c->hdr_off += take;
            out += take;
            continue;
        }
        size_t take = c->cur_len - c->cur_off;
        if (take > cap - out)
            take = cap - out;
        if (take)
            memcpy(buf + out, c->cur + c->cur_off, take);
        c->cur_off += take;
        out += take;
        if (c->cur_off == c->cur_len)
            c->have_cur = false;
    }
    return out;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    call_ctx *c = ud;
    size_t n = size * nmemb;
    if (c->cb_status != TEEU_OK)
        return 0;
    teeu_status st = tu_grpc_answer_body(&c->resp, (const uint8_t *)ptr, n);
    if (st != TEEU_OK) {
        c->cb_status = st;
        return 0;
    }
    return n;
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    call_ctx *c = ud;
    size_t n = size * nitems;
    if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        /* A status line starts a new header block. */
        const char *sp = memchr(buf, ' ', n);
        long code = 0;
        if (sp) {
            for (const char *p = sp + 1; p < buf + n && *p >= '0' && *p <= '9' && code < 1000; p++)
                code = code * 10 + (*p - '0');
        }
        c->resp.http_status = code;
        return n;
    }
    const char *colon = memchr(buf, ':', n);
    if (!colon)
        return n;
    size_t name_len = (size_t)(colon - buf);
    const char *v = colon + 1;
    const char *end = buf + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    /* (HTTP/2 pseudo-headers never reach here: the status line stands for :status.) */
    if (name_len > 0)
        tu_grpc_answer_header(&c->resp, buf, name_len, v, (size_t)(end - v));
    return n;
}

static int64_t now_ms(void)
{
    return tu_rpc_now_ms();
}

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static bool is_tls_failure(CURLcode rc)
{
    switch (rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
        return true;
    default:
        return false;
    }
}

/* A TLS alert after the handshake (e.g. the server refusing our client
 * certificate under TLS 1.3) surfaces as a receive error. */
static bool mentions_tls(const char *msg)
{
    return strstr(msg, "SSL") || strstr(msg, "TLS") || strstr(msg, "alert") || strstr(msg, "certificate");
}

/*
 * Under TLS 1.3 the server checks our client certificate after the client
 * has finished its handshake, so a refused (or missing) client certificate
 * shows up as a fresh connection dropped before any HTTP/2 response.
 */
static bool dropped_after_handshake(const call_ctx *c, CURLcode rc, long new_connections)
{
    if (c->ch->plaintext || new_connections <= 0 || c->resp.http_status != 0)
        return false;
    switch (rc) {
    case CURLE_HTTP2_STREAM:
        /* Only when the connection ended under the stream, not a reset of
         * the stream alone (which an early gRPC error answer may bring). */
        return strstr(c->curl_err, "underlying") != NULL;
    case CURLE_HTTP2:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return true;
    default:
        return false;
    }
}

static teeu_status map_curl_error(const call_ctx *c, CURLcode rc, long new_connections)
{
    const tu_rpc_channel *ch = c->ch;
    const char *detail = c->curl_err[0] ? c->curl_err : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return tu_error(TEEU_ERR_CONNECT, "cannot resolve the host of %s (gRPC %s): %s; check the endpoint",
                        ch->endpoint, c->method, detail);
    case CURLE_COULDNT_CONNECT:
        return tu_error(TEEU_ERR_CONNECT,
                        "cannot connect to %s (gRPC %s): %s; check that the server runs and the endpoint is right",
                        ch->endpoint, c->method, detail);
    case CURLE_OPERATION_TIMEDOUT:
        return tu_error(TEEU_ERR_TIMEOUT, "gRPC %s to %s: no complete answer before the deadline: %s", c->method,
                        ch->endpoint, detail);
    case CURLE_OUT_OF_MEMORY:
        return tu_error(TEEU_ERR_NOMEM, "out of memory during gRPC %s to %s", c->method, ch->endpoint);
    default:
        break;
    }
    if (dropped_after_handshake(c, rc, new_connections))
        return tu_error(TEEU_ERR_TLS,
                        "TLS with %s: the server closed the new connection before any response (gRPC %s: %s); it "
                        "most likely refused the client certificate: check the client certificate/key and that "
                        "the server trusts their CA",
                        ch->endpoint, c->method, detail);
    if (!ch->plaintext && (is_tls_failure(rc) || mentions_tls(detail)))
        return tu_error(TEEU_ERR_TLS,
                        "TLS with %s failed (gRPC %s): %s; check the CA file, the server certificate and the "
                        "client certificate/key",
                        ch->endpoint, c->method, detail);
    if (rc == CURLE_HTTP2_STREAM && c->resp.http_status == 0)
        return tu_error(TEEU_ERR_PROTOCOL,
                        "gRPC %s to %s: the server reset the call before any answer arrived (%s); servers do this "
                        "after an early error such as UNIMPLEMENTED, whose status libcurl before 8.0 may drop: "
                        "check that the server implements %s",
                        c->method, ch->endpoint, detail, c->method);
    return tu_error(TEEU_ERR_PROTOCOL, "gRPC %s to %s failed at the HTTP/2 level: %s", c->method, ch->endpoint,
                    detail);
}

static teeu_status set_options(CURL *h, call_ctx *c, struct curl_slist *headers, int64_t remaining_ms,
                               long http_version)
{
    const tu_rpc_channel *ch = c->ch;
    tu_buf url = {0};
    teeu_status st = tu_buf_printf(&url, "%s%s", ch->base_url, c->method);
    if (st != TEEU_OK)
        return st;
    long connect_ms = (long)ch->connect_timeout_ms;
    if (connect_ms > remaining_ms)
        connect_ms = (long)remaining_ms;
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                \
    do {                                             \
        if (rc == CURLE_OK)                          \
            rc = curl_easy_setopt(h, (opt), (val));  \
    } while (0)
    SET(CURLOPT_URL, (const char *)url.data);
    SET(CURLOPT_PROTOCOLS_STR, ch->plaintext ? "http" : "https");
    SET(CURLOPT_HTTP_VERSION, http_version);
    SET(CURLOPT_FRESH_CONNECT, http_version == CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE && ch->h2c_reuse_bug ? 1L : 0L);
    SET(CURLOPT_PROXY, ""); /* environment proxies cannot carry h2c */
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_SHARE, ch->share);
    SET(CURLOPT_POST, 1L);
    if (c->body) {
        /* The whole request in memory goes out with its headers, so the
         * upload is over before the server can answer: servers may answer a
         * unary call before the half-close, and libcurl 7.88 loses response
         * headers that arrive while it is still uploading. */
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
        SET(CURLOPT_POSTFIELDS, (const char *)c->body);
    } else {
        SET(CURLOPT_POSTFIELDS, (const char *)NULL);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
    }
    SET(CURLOPT_READFUNCTION, read_cb);
    SET(CURLOPT_READDATA, c);
    SET(CURLOPT_WRITEFUNCTION, write_cb);
    SET(CURLOPT_WRITEDATA, c);
    SET(CURLOPT_HEADERFUNCTION, header_cb);
    SET(CURLOPT_HEADERDATA, c);
    SET(CURLOPT_HTTPHEADER, headers);
    SET(CURLOPT_USERAGENT, "grpc-c-libteeu/" TEEU_VERSION_STRING);
    SET(CURLOPT_ERRORBUFFER, c->curl_err);
    SET(CURLOPT_TIMEOUT_MS, (long)remaining_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    if (!ch->plaintext) {
        SET(CURLOPT_SSL_VERIFYPEER, 1L);
        SET(CURLOPT_SSL_VERIFYHOST, 2L);
        SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
        if (ch->ca_file)
            SET(CURLOPT_CAINFO, ch->ca_file);
        if (ch->cert_file) {
            SET(CURLOPT_SSLCERT, ch->cert_file);
            SET(CURLOPT_SSLCERTTYPE, "PEM");
            SET(CURLOPT_SSLKEY, ch->key_file);
            SET(CURLOPT_SSLKEYTYPE, "PEM");
        }
    }
#undef SET
    tu_buf_free(&url); /* libcurl copies string options */
    if (rc != CURLE_OK)
        return tu_error(TEEU_ERR_UNSUPPORTED, "libcurl refused an option for gRPC to %s: %s", ch->endpoint,
                        curl_easy_strerror(rc));
    return TEEU_OK;
}

static teeu_status build_headers(int64_t remaining_ms, struct curl_slist **out)
{
    char timeout[16];
    char line[48];
    tu_grpc_timeout_format((uint64_t)remaining_ms, timeout);
    snprintf(line, sizeof line, "grpc-timeout: %s", timeout);
    static const char *const fixed[] = {
        "content-type: application/grpc",
        "te: trailers",
        "grpc-accept-encoding: identity",
        "Expect:", /* no 100-continue round trip */
        "Accept:",
    };
    struct curl_slist *list = NULL;
    for (size_t i = 0; i < TU_ARRAY_LEN(fixed); i++) {
        struct curl_slist *next = curl_slist_append(list, fixed[i]);
        if (!next) {
            curl_slist_free_all(list);
            return tu_error(TEEU_ERR_NOMEM, "out of memory building gRPC headers");
        }
        list = next;
    }
    struct curl_slist *next = curl_slist_append(list, line);
    if (!next) {
        curl_slist_free_all(list);
        return tu_error(TEEU_ERR_NOMEM, "out of memory building gRPC headers");
    }
    *out = next;
    return TEEU_OK;
}

/* The outcome of a finished transfer (curl said OK). */
static teeu_status call_outcome(call_ctx *c, CURL *h)
{
    const tu_rpc_channel *ch = c->ch;
    long version = 0;
    curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &version);
    if (version != CURL_HTTP_VERSION_2_0)
        return tu_error(TEEU_ERR_PROTOCOL,
                        "gRPC %s to %s: the server did not speak HTTP/2 (check that it is a gRPC server%s)",
                        c->method, ch->endpoint, ch->plaintext ? " accepting plain-text h2c" : " offering h2 by ALPN");
    return tu_grpc_answer_outcome(&c->resp, c->method, ch->endpoint);
}

static teeu_status deliver(void *ud, const uint8_t *msg, size_t len)
{
    call_ctx *c = ud;
    return c->consume ? c->consume(c->consume_ctx, msg, len) : TEEU_OK;
}

/*
 * One attempt. *retryable tells whether repeating it is safe and useful;
 * *redo that the attempt never reached a gRPC server because a cached h2c
 * connection died (see select_http_version) and should be repeated at once.
 */
static teeu_status call_once(call_ctx *c, int64_t remaining_ms, bool retry_unavailable, bool *retryable, bool *redo)
{
    *retryable = false;
    *redo = false;
    tu_rpc_handle hd;
    if (!pool_take(c->ch, &hd))
        return tu_error(TEEU_ERR_NOMEM, "out of memory creating a libcurl handle for %s", c->ch->endpoint);
    bool fallback_possible = false;
    long version = select_http_version(c->ch, &hd, &fallback_possible);
    struct curl_slist *headers = NULL;
    teeu_status st = build_headers(remaining_ms, &headers);
    if (st == TEEU_OK)
        st = set_options(hd.h, c, headers, remaining_ms, version);
    if (st != TEEU_OK) {
        curl_slist_free_all(headers);
        pool_give(c->ch, &hd);
        return st;
    }
    CURLcode rc = curl_easy_perform(hd.h);
    long connects = 0;
    if (curl_easy_getinfo(hd.h, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0)
        atomic_fetch_add(&c->ch->connections, (unsigned long)connects);
    long used = 0;
    curl_easy_getinfo(hd.h, CURLINFO_HTTP_VERSION, &used);
    hd.h2c_live = c->ch->plaintext && used == CURL_HTTP_VERSION_2_0 && connection_alive(hd.h);
    if (fallback_possible && connects > 0 && used != CURL_HTTP_VERSION_2_0) {
        *redo = true;
        hd.h2c_live = false;
        st = tu_error(TEEU_ERR_PROTOCOL, "gRPC %s to %s: the cached HTTP/2 connection closed", c->method,
                      c->ch->endpoint);
    } else if (c->cb_status != TEEU_OK) {
        st = tu_error_context(c->cb_status, "gRPC %s to %s", c->method, c->ch->endpoint);
    } else if (rc != CURLE_OK && !tu_grpc_answer_failed(&c->resp)) {
        /* (A server that fails a call early may reset the stream after its
         * trailers-only answer; libcurl 7.88 reports that reset as an
         * error, but the call's outcome is the status it already sent.) */
        st = map_curl_error(c, rc, connects);
        /* libcurl 7.88 occasionally fails a request on a reused HTTP/2
         * connection with a framing error before any answer; a call that is
         * safe to repeat then goes again (libcurl drops that connection). */
        bool reused_h2_broke = (rc == CURLE_HTTP2 || rc == CURLE_HTTP2_STREAM) && connects == 0 &&
                               c->resp.deframer.messages == 0 && retry_unavailable;
        *retryable = ((rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) && !c->producer_started) ||
                     reused_h2_broke;
    } else {
        st = call_outcome(c, hd.h);
        *retryable = st == TEEU_ERR_RPC_UNAVAILABLE && retry_unavailable && c->resp.deframer.messages == 0;
    }
    curl_slist_free_all(headers);
    pool_give(c->ch, &hd);
    return st;
}

static void call_reset(call_ctx *c)
{
    c->producer_started = false;
    c->produce_done = false;
    c->have_cur = false;
    c->cb_status = TEEU_OK;
    c->curl_err[0] = '\0';
    tu_grpc_answer_reset(&c->resp);
}

/*
 * Runs a call with request messages from produce, or (produce NULL) the
 * already framed request body. A body can always be sent again; a producer
 * only if it was never called.
 */
static teeu_status call_impl(tu_rpc_channel *ch, const char *method, tu_rpc_produce_fn produce, void *produce_ctx,
                             const uint8_t *body, size_t body_len, tu_grpc_msg_fn consume,
                             void *consume_ctx, const tu_rpc_call_opts *opts)
{
    if (!ch || !method || method[0] != '/' || (!produce && !body))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "gRPC call needs a channel, a \"/pkg.Service/Method\" path and a producer");
    uint32_t timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms : ch->default_timeout_ms;
    bool retry_unavailable = opts && opts->retry_unavailable;
    int64_t deadline = now_ms() + timeout_ms;

    call_ctx c;
    memset(&c, 0, sizeof c);
    c.ch = ch;
    c.method = method;
    c.body = body;
    c.body_len = body_len;
    c.produce = produce;
    c.produce_ctx = produce_ctx;
    c.consume = consume;
    c.consume_ctx = consume_ctx;
    tu_grpc_answer_init(&c.resp, ch->max_message, deliver, &c);

    teeu_status st = TEEU_OK;
    bool redone = false;
    for (unsigned attempt = 0;; attempt++) {
        int64_t remaining = deadline - now_ms();
        if (remaining <= 0) {
            if (attempt == 0)
                st = tu_error(TEEU_ERR_TIMEOUT, "gRPC %s to %s: deadline passed before the call", method,
                              ch->endpoint);
            break;
        }
        bool retryable = false;
        bool redo = false;
        if (produce) {
            /* Client streaming runs on nghttp2 directly (h2stream.c): large
             * DATA frames, many per system call, messages never copied. */
            tu_h2_call hc = {.method = method, .produce = produce, .produce_ctx = produce_ctx, .resp = &c.resp};
            st = tu_h2_call_run(ch->h2, &hc, deadline, retry_unavailable, &retryable, &redo);
            c.producer_started = c.producer_started || hc.producer_started;
        } else {
            st = call_once(&c, remaining, retry_unavailable, &retryable, &redo);
        }
        bool replayable = c.body || !c.producer_started;
        if (redo && !redone && replayable) {
            /* Not an attempt: the request reached no gRPC server. */
            redone = true;
            attempt--;
            call_reset(&c);
            continue;
        }
        if (st == TEEU_OK || !retryable || attempt >= ch->max_retries)
            break;
        if (!replayable)
            break;
        uint64_t backoff = (uint64_t)ch->retry_backoff_ms << (attempt < 16 ? attempt : 16);
        if ((int64_t)backoff >= deadline - now_ms())
            break;
        tu_log(TEEU_LOG_INFO, "gRPC %s to %s failed (%s); retrying in %llu ms", method, ch->endpoint,
               teeu_status_str(st), (unsigned long long)backoff);
        sleep_ms((uint32_t)backoff);
        call_reset(&c);
    }
    tu_grpc_answer_free(&c.resp);
    if (st == TEEU_OK)
        tu_error_clear();
    return st;
}

teeu_status tu_rpc_call(tu_rpc_channel *ch, const char *method, tu_rpc_produce_fn produce, void *produce_ctx,
                        tu_grpc_msg_fn consume, void *consume_ctx, const tu_rpc_call_opts *opts)
{
    return call_impl(ch, method, produce, produce_ctx, NULL, 0, consume, consume_ctx, opts);
}

/* ---- unary and single-request helpers ------------------------------------ */

/* Frames one request message into a fresh buffer (free with free()). */
static teeu_status frame_single(const uint8_t *req, size_t req_len, uint8_t **out, size_t *out_len)
{
    size_t total = 0;
    if (tu_add_overflows(req_len, TU_GRPC_FRAME_HEADER_LEN, &total))
        return tu_error(TEEU_ERR_OVERFLOW, "gRPC request of %zu bytes is too large", req_len);
    uint8_t *buf = malloc(total);
    if (!buf)
        return tu_error(TEEU_ERR_NOMEM, "out of memory framing a %zu-byte gRPC request", req_len);
    teeu_status st = tu_grpc_frame_header(req_len, buf);
    if (st != TEEU_OK) {
        free(buf);
        return st;
    }
    if (req_len)
        memcpy(buf + TU_GRPC_FRAME_HEADER_LEN, req, req_len);
    *out = buf;
    *out_len = total;
    return TEEU_OK;
}

typedef struct single_resp {
    tu_buf *out;
    size_t count;
} single_resp;

static teeu_status single_consume(void *ud, const uint8_t *msg, size_t len)
{
    single_resp *r = ud;
    if (++r->count > 1)
        return tu_error(TEEU_ERR_PROTOCOL, "unary call answered with more than one message");
    return tu_buf_append(r->out, msg, len);
}

teeu_status tu_rpc_unary(tu_rpc_channel *ch, const char *method, const uint8_t *req, size_t req_len, tu_buf *resp,
                         const tu_rpc_call_opts *opts)
{
    if (!resp || (!req && req_len))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "tu_rpc_unary: request and response buffers are required");
    single_resp out = {resp, 0};
    size_t start = resp->len;
    uint8_t *body = NULL;
    size_t body_len = 0;
    teeu_status st = frame_single(req, req_len, &body, &body_len);
    if (st == TEEU_OK)
        st = call_impl(ch, method, NULL, NULL, body, body_len, single_consume, &out, opts);
    free(body);
    if (st == TEEU_OK && out.count != 1)
        st = tu_error(TEEU_ERR_PROTOCOL, "gRPC %s to %s: unary call succeeded without a response message", method,
                      ch->endpoint);
    if (st != TEEU_OK)
        resp->len = start;
    return st;
}

teeu_status tu_rpc_server_stream(tu_rpc_channel *ch, const char *method, const uint8_t *req, size_t req_len,
                                 tu_grpc_msg_fn consume, void *ctx, const tu_rpc_call_opts *opts)
{
    if (!req && req_len)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "tu_rpc_server_stream: request is NULL");
    uint8_t *body = NULL;
    size_t body_len = 0;
    teeu_status st = frame_single(req, req_len, &body, &body_len);
    if (st == TEEU_OK)
        st = call_impl(ch, method, NULL, NULL, body, body_len, consume, ctx, opts);
    free(body);
    return st;
}

teeu_status tu_rpc_client_stream(tu_rpc_channel *ch, const char *method, tu_rpc_produce_fn produce, void *ctx,
                                 tu_buf *resp, const tu_rpc_call_opts *opts)
{
    if (!resp)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "tu_rpc_client_stream: response buffer is required");
    single_resp out = {resp, 0};
    size_t start = resp->len;
    teeu_status st = call_impl(ch, method, produce, ctx, NULL, 0, single_consume, &out, opts);
    if (st == TEEU_OK && out.count != 1)
        st = tu_error(TEEU_ERR_PROTOCOL, "gRPC %s to %s: call succeeded without a response message", method,
                      ch->endpoint);
    if (st != TEEU_OK)
        resp->len = start;
    return st;
}

teeu_status tu_rpc_unary_pb(tu_rpc_channel *ch, const char *method, const ProtobufCMessage *req,
                            const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                            const tu_rpc_call_opts *opts)
{
    if (!req || !resp_desc || !resp)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "tu_rpc_unary_pb: request, descriptor and output are required");
    *resp = NULL;
    size_t len = protobuf_c_message_get_packed_size(req);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return tu_error(TEEU_ERR_NOMEM, "out of memory packing a %zu-byte gRPC request", len);
    protobuf_c_message_pack(req, buf);
    tu_buf out = {0};
    teeu_status st = tu_rpc_unary(ch, method, buf, len, &out, opts);
    free(buf);
    if (st != TEEU_OK)
        return st;
    *resp = protobuf_c_message_unpack(resp_desc, NULL, out.len, out.data);
    tu_buf_free(&out);
    if (!*resp)
        return tu_error(TEEU_ERR_PROTOBUF, "gRPC %s to %s: the response is not a valid %s message", method,
                        ch->endpoint, resp_desc->name);
    return TEEU_OK;
}
