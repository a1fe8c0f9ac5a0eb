/*
 * rpc_tool — drives libteeu's gRPC transport for the Python tests.
 *
 *   rpc_tool [options] unary HEX
 *   rpc_tool [options] client-stream HEX...
 *   rpc_tool [options] server-stream HEX
 *   rpc_tool [options] client-stream-gen COUNT SIZE
 * A HEX argument "@path" reads the hex from a file.
 *
 * Options: --endpoint H:P (required) --method /pkg.Svc/M (required)
 *          --plaintext --ca F --cert F --key F --timeout MS --connect-timeout MS
 *          --max-message N --retries N --backoff MS --retry-unavailable
 *          --repeat N --pause MS (between repeats) --threads T --decode-status
 *
 * Output (stdout), one item per line:
 *   msg=<hex>            each response message (unary: one per call)
 *   connections=<n>      TCP connections the channel opened
 *   status=<int> name=<teeu_status_str>
 *   error=<teeu_last_error()>   only when status != 0
 * Exit code 0 on success, 1 on a call failure, 2 on bad usage.
 * client-stream-gen sends COUNT messages of SIZE bytes from ONE buffer that
 * is overwritten for each message (byte i of message k is (k*31 + i*7) mod
 * 256), so a transport that sends message bytes after the producer's next
 * call corrupts the stream visibly.
 * --decode-status decodes each unary response as secretflowapis.v1.Status
 * (through tu_rpc_unary_pb) and prints "code=<n> message=<text>".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rpc/rpc_internal.h"
#include "secretflowapis/v1/common.pb-c.h"

typedef struct tool {
    tu_rpc_options opts;
    tu_rpc_call_opts call;
    const char *method;
    const char *mode;
    char **hex;
    int n_hex;
    int repeat;
    int threads;
    int pause_ms;
    bool decode_status;
    tu_rpc_channel *ch;
    pthread_mutex_t out_lock;
} tool;

typedef struct worker {
    tool *t;
    teeu_status st;
    char err[1024];
} worker;

static void print_msg(tool *t, const uint8_t *msg, size_t len)
{
    pthread_mutex_lock(&t->out_lock);
    printf("msg=");
    for (size_t i = 0; i < len; i++)
        printf("%02x", msg[i]);
    printf("\n");
    pthread_mutex_unlock(&t->out_lock);
}

static teeu_status print_cb(void *ud, const uint8_t *msg, size_t len)
{
    print_msg(ud, msg, len);
    return TEEU_OK;
}

typedef struct hex_list {
    char **hex;
    int n;
    int next;
    uint8_t *cur;
} hex_list;

/* A hex argument, or "@path" of a file holding the hex (for big messages). */
static teeu_status load_hex(const char *arg, uint8_t **out, size_t *len)
{
    if (arg[0] != '@')
        return tu_hex_decode(arg, strlen(arg), out, len);
    uint8_t *text = NULL;
    size_t text_len = 0;
    teeu_status st = tu_read_file(arg + 1, (size_t)1 << 30, &text, &text_len);
    if (st != TEEU_OK)
        return st;
    while (text_len && (text[text_len - 1] == '\n' || text[text_len - 1] == '\r'))
        text_len--;
    st = tu_hex_decode((const char *)text, text_len, out, len);
    free(text);
    return st;
}

static teeu_status hex_produce(void *ud, const uint8_t **msg, size_t *len, bool *done)
{
    hex_list *l = ud;
    free(l->cur);
    l->cur = NULL;
    if (l->next >= l->n) {
        *done = true;
        return TEEU_OK;
    }
    const char *h = l->hex[l->next++];
    teeu_status st = load_hex(h, &l->cur, len);
    *msg = l->cur;
    return st;
}

typedef struct gen_stream {
    unsigned long count;
    unsigned long next;
    size_t size;
    uint8_t *buf;
} gen_stream;

static teeu_status gen_produce(void *ud, const uint8_t **msg, size_t *len, bool *done)
{
    gen_stream *g = ud;
    if (g->next == g->count) {
        *done = true;
        return TEEU_OK;
    }
    for (size_t i = 0; i < g->size; i++)
        g->buf[i] = (uint8_t)(g->next * 31u + i * 7u);
    g->next++;
    *msg = g->buf;
    *len = g->size;
    return TEEU_OK;
}

static teeu_status one_call(tool *t)
{
    if (strcmp(t->mode, "client-stream-gen") == 0) {
        gen_stream g = {strtoul(t->hex[0], NULL, 10), 0, (size_t)strtoull(t->hex[1], NULL, 10), NULL};
        g.buf = malloc(g.size ? g.size : 1);
        if (!g.buf)
            return tu_error(TEEU_ERR_NOMEM, "out of memory");
        tu_buf resp = {0};
        teeu_status st = tu_rpc_client_stream(t->ch, t->method, gen_produce, &g, &resp, &t->call);
        free(g.buf);
        if (st == TEEU_OK)
            print_msg(t, resp.data, resp.len);
        tu_buf_free(&resp);
        return st;
    }
    if (strcmp(t->mode, "unary") == 0) {
        uint8_t *req = NULL;
        size_t req_len = 0;
        teeu_status st = load_hex(t->hex[0], &req, &req_len);
        if (st != TEEU_OK)
            return st;
        if (t->decode_status) {
            ProtobufCMessage *resp = NULL;
            Secretflowapis__V1__Status req_msg = SECRETFLOWAPIS__V1__STATUS__INIT;
            req_msg.code = (int32_t)req_len;
            free(req);
            st = tu_rpc_unary_pb(t->ch, t->method, &req_msg.base, &secretflowapis__v1__status__descriptor, &resp,
                                 &t->call);
            if (st == TEEU_OK) {
                Secretflowapis__V1__Status *s = (Secretflowapis__V1__Status *)resp;
                pthread_mutex_lock(&t->out_lock);
                printf("code=%d message=%s\n", (int)s->code, s->message);
                pthread_mutex_unlock(&t->out_lock);
                protobuf_c_message_free_unpacked(resp, NULL);
            }
            return st;
        }
        tu_buf resp = {0};
        st = tu_rpc_unary(t->ch, t->method, req, req_len, &resp, &t->call);
        free(req);
        if (st == TEEU_OK)
            print_msg(t, resp.data, resp.len);
        tu_buf_free(&resp);
        return st;
    }
    if (strcmp(t->mode, "server-stream") == 0) {
        uint8_t *req = NULL;
        size_t req_len = 0;
        teeu_status st = load_hex(t->hex[0], &req, &req_len);
        if (st != TEEU_OK)
            return st;
        st = tu_rpc_server_stream(t->ch, t->method, req, req_len, print_cb, t, &t->call);
        free(req);
        return st;
    }
    hex_list l = {t->hex, t->n_hex, 0, NULL};
    tu_buf resp = {0};
    teeu_status st = tu_rpc_client_stream(t->ch, t->method, hex_produce, &l, &resp, &t->call);
    free(l.cur);
    if (st == TEEU_OK)
        print_msg(t, resp.data, resp.len);
    tu_buf_free(&resp);
    return st;
}

static void *run_worker(void *ud)
{
    worker *w = ud;
    w->st = TEEU_OK;
    for (int i = 0; i < w->t->repeat && w->st == TEEU_OK; i++) {
        if (i > 0 && w->t->pause_ms > 0) {
            struct timespec ts = {w->t->pause_ms / 1000, (long)(w->t->pause_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
        w->st = one_call(w->t);
    }
    if (w->st != TEEU_OK)
        snprintf(w->err, sizeof w->err, "%s", teeu_last_error());
    return NULL;
}

static int usage(void)
{
    fprintf(stderr, "usage: rpc_tool --endpoint H:P --method /pkg.Svc/M [options] unary|client-stream|server-stream HEX...\n");
    return 2;
}

static int parse(tool *t, int argc, char **argv)
{
    tu_rpc_options_init(&t->opts);
    t->repeat = 1;
    t->threads = 1;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--plaintext") == 0) {
            t->opts.plaintext = true;
        } else if (strcmp(a, "--retry-unavailable") == 0) {
            t->call.retry_unavailable = true;
        } else if (strcmp(a, "--decode-status") == 0) {
            t->decode_status = true;
        } else if (!v) {
            return usage();
        } else {
            i++;
            if (strcmp(a, "--endpoint") == 0)
                t->opts.endpoint = v;
            else if (strcmp(a, "--method") == 0)
                t->method = v;
            else if (strcmp(a, "--ca") == 0)
                t->opts.ca_file = v;
            else if (strcmp(a, "--cert") == 0)
                t->opts.cert_file = v;
            else if (strcmp(a, "--key") == 0)
                t->opts.key_file = v;
            else if (strcmp(a, "--timeout") == 0)
                t->call.timeout_ms = (uint32_t)strtoul(v, NULL, 10);
            else if (strcmp(a, "--connect-timeout") == 0)
                t->opts.connect_timeout_ms = (uint32_t)strtoul(v, NULL, 10);
            else if (strcmp(a, "--max-message") == 0)
                t->opts.max_message = (size_t)strtoull(v, NULL, 10);
            else if (strcmp(a, "--retries") == 0)
                t->opts.max_retries = (unsigned)strtoul(v, NULL, 10);
            else if (strcmp(a, "--backoff") == 0)
                t->opts.retry_backoff_ms = (uint32_t)strtoul(v, NULL, 10);
            else if (strcmp(a, "--repeat") == 0)
                t->repeat = atoi(v);
            else if (strcmp(a, "--pause") == 0)
                t->pause_ms = atoi(v);
            else if (strcmp(a, "--threads") == 0)
                t->threads = atoi(v);
            else
                return usage();
        }
    }
    if (i >= argc || !t->method || t->repeat < 1 || t->threads < 1 || t->threads > 64)
        return usage();
    t->mode = argv[i++];
    t->hex = argv + i;
    t->n_hex = argc - i;
    bool gen = strcmp(t->mode, "client-stream-gen") == 0;
    if (gen ? t->n_hex != 2 : strcmp(t->mode, "client-stream") != 0 && t->n_hex != 1)
        return usage();
    if (strcmp(t->mode, "unary") && strcmp(t->mode, "client-stream") && strcmp(t->mode, "server-stream") && !gen)
        return usage();
    return 0;
}

int main(int argc, char **argv)
{
    tool t;
    memset(&t, 0, sizeof t);
    int rc = parse(&t, argc, argv);
    if (rc)
        return rc;
    pthread_mutex_init(&t.out_lock, NULL);
    teeu_status st = tu_rpc_channel_new(&t.opts, &t.ch);
    char err[1024] = "";
    if (st != TEEU_OK) {
        snprintf(err, sizeof err, "%s", teeu_last_error());
    } else {
        worker *w = calloc((size_t)t.threads, sizeof *w);
        pthread_t *tid = calloc((size_t)t.threads, sizeof *tid);
        if (!w || !tid)
            return 3;
        for (int k = 0; k < t.threads; k++) {
            w[k].t = &t;
            pthread_create(&tid[k], NULL, run_worker, &w[k]);
        }
        for (int k = 0; k < t.threads; k++) {
            pthread_join(tid[k], NULL);
            if (w[k].st != TEEU_OK && st == TEEU_OK) {
                st = w[k].st;
                snprintf(err, sizeof err, "%s", w[k].err);
            }
        }
        printf("connections=%lu\n", tu_rpc_channel_connections(t.ch));
        free(w);
        free(tid);
        tu_rpc_channel_free(t.ch);
    }
    printf("status=%d name=%s\n", (int)st, teeu_status_str(st));
    if (st != TEEU_OK)
        printf("error=%s\n", err);
    pthread_mutex_destroy(&t.out_lock);
    return st == TEEU_OK ? 0 : 1;
}
