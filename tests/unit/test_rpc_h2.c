/*
 * Unit tests of the pure parts of the nghttp2 client-streaming transport:
 * the output queue (copies and references, iovecs, partial writes), the
 * DATA frame length, the gRPC answer state shared by both transports, and
 * endpoint splitting.
 */
#include <string.h>

#include "tu_check.h"

#include "rpc/rpc_internal.h"

/* Concatenates what tu_h2_outq_iov hands out. */
static size_t gather(const tu_h2_outq *q, size_t max_iov, size_t max_bytes, uint8_t *out, size_t *n_iov)
{
    struct iovec iov[64];
    size_t k = tu_h2_outq_iov(q, iov, max_iov < 64 ? max_iov : 64, max_bytes);
    size_t total = 0;
    for (size_t i = 0; i < k; i++) {
        memcpy(out + total, iov[i].iov_base, iov[i].iov_len);
        total += iov[i].iov_len;
    }
    if (n_iov)
        *n_iov = k;
    return total;
}

START_TEST(outq_copies_and_references_in_order)
{
    tu_h2_outq q;
    memset(&q, 0, sizeof q);
    ck_assert(tu_h2_outq_empty(&q));
    uint8_t msg[100];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i + 1);
    ck_assert_ok(tu_h2_outq_copy(&q, "HDR123456", 9));
    ck_assert_ok(tu_h2_outq_copy(&q, "\0\0\0\0d", 5)); /* merges with the frame header */
    ck_assert_ok(tu_h2_outq_ref(&q, msg, sizeof msg));
    ck_assert_ok(tu_h2_outq_copy(&q, "tail", 4));
    ck_assert_ok(tu_h2_outq_ref(&q, msg, 0)); /* nothing */
    ck_assert_uint_eq(q.pending, 9 + 5 + 100 + 4);
    uint8_t out[256];
    size_t n_iov = 0;
    size_t got = gather(&q, 64, SIZE_MAX, out, &n_iov);
    ck_assert_uint_eq(got, 118);
    ck_assert_uint_eq(n_iov, 3);
    ck_assert_int_eq(memcmp(out, "HDR123456\0\0\0\0d", 14), 0);
    ck_assert_int_eq(memcmp(out + 14, msg, 100), 0);
    ck_assert_int_eq(memcmp(out + 114, "tail", 4), 0);

    /* The reference is not copied: the iovec points into msg. */
    struct iovec iov[4];
    ck_assert_uint_eq(tu_h2_outq_iov(&q, iov, 4, SIZE_MAX), 3);
    ck_assert_ptr_eq(iov[1].iov_base, msg);
    tu_h2_outq_free(&q);
}
END_TEST

START_TEST(outq_partial_writes_at_every_offset)
{
    uint8_t msg[300];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 7);
    uint8_t want[9 + 300 + 9 + 3];
    memcpy(want, "123456789", 9);
    memcpy(want + 9, msg, 300);
    memcpy(want + 309, "abcdefghi", 9);
    memcpy(want + 318, "xyz", 3);
    for (size_t step = 1; step <= sizeof want; step += 13) {
        tu_h2_outq q;
        memset(&q, 0, sizeof q);
        ck_assert_ok(tu_h2_outq_copy(&q, "123456789", 9));
        ck_assert_ok(tu_h2_outq_ref(&q, msg, 300));
        ck_assert_ok(tu_h2_outq_copy(&q, "abcdefghi", 9));
        ck_assert_ok(tu_h2_outq_copy(&q, "xyz", 3));
        uint8_t out[sizeof want];
        size_t done = 0;
        while (!tu_h2_outq_empty(&q)) {
            uint8_t chunk[sizeof want];
            size_t avail = gather(&q, 64, SIZE_MAX, chunk, NULL);
            ck_assert_uint_eq(avail, sizeof want - done);
            size_t w = step < avail ? step : avail;
            memcpy(out + done, chunk, w);
            tu_h2_outq_consume(&q, w);
            done += w;
        }
        ck_assert_uint_eq(done, sizeof want);
        ck_assert_int_eq(memcmp(out, want, sizeof want), 0);
        /* Emptied: the storage starts over. */
        ck_assert_uint_eq(q.n, 0);
        ck_assert_uint_eq(q.arena_len, 0);
        ck_assert_ok(tu_h2_outq_copy(&q, "again", 5));
        ck_assert_uint_eq(gather(&q, 64, SIZE_MAX, out, NULL), 5);
        tu_h2_outq_free(&q);
    }
}
END_TEST

START_TEST(outq_iov_bounds)
{
    tu_h2_outq q;
    memset(&q, 0, sizeof q);
    uint8_t a[50], b[50], c[50];
    memset(a, 'a', sizeof a);
    memset(b, 'b', sizeof b);
    memset(c, 'c', sizeof c);
    ck_assert_ok(tu_h2_outq_ref(&q, a, 50));
    ck_assert_ok(tu_h2_outq_ref(&q, b, 50));
    ck_assert_ok(tu_h2_outq_ref(&q, c, 50));
    uint8_t out[150];
    size_t n_iov = 0;
    ck_assert_uint_eq(gather(&q, 2, SIZE_MAX, out, &n_iov), 100); /* at most 2 iovecs */
    ck_assert_uint_eq(n_iov, 2);
    ck_assert_uint_eq(gather(&q, 64, 70, out, &n_iov), 70); /* at most 70 bytes */
    ck_assert_uint_eq(n_iov, 2);
    ck_assert_int_eq(out[69], 'b');
    tu_h2_outq_consume(&q, 75);
    ck_assert_uint_eq(gather(&q, 64, SIZE_MAX, out, &n_iov), 75);
    ck_assert_int_eq(out[0], 'b');
    ck_assert_int_eq(out[25], 'c');
    tu_h2_outq_consume(&q, 1000); /* more than pending: clamps */
    ck_assert(tu_h2_outq_empty(&q));
    ck_assert_status(tu_h2_outq_ref(&q, NULL, 3), TEEU_ERR_INTERNAL_BUG);
    ck_assert_ok(tu_h2_outq_ref(&q, a, 10));
    tu_h2_outq_clear(&q);
    ck_assert(tu_h2_outq_empty(&q));
    ck_assert_uint_eq(tu_h2_outq_iov(&q, (struct iovec[1]){{0}}, 1, SIZE_MAX), 0);
    tu_h2_outq_free(&q);
}
END_TEST

START_TEST(outq_many_items_grow)
{
    tu_h2_outq q;
    memset(&q, 0, sizeof q);
    static uint8_t big[5000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)i;
    size_t expect = 0;
    for (size_t i = 0; i < 1000; i++) {
        uint8_t hdr[9];
        memset(hdr, (int)(i & 0xff), sizeof hdr);
        ck_assert_ok(tu_h2_outq_copy(&q, hdr, sizeof hdr));
        ck_assert_ok(tu_h2_outq_ref(&q, big + i, 4000));
        expect += 9 + 4000;
    }
    ck_assert_uint_eq(q.pending, expect);
    size_t total = 0;
    while (!tu_h2_outq_empty(&q)) {
        struct iovec iov[64];
        size_t k = tu_h2_outq_iov(&q, iov, 64, SIZE_MAX);
        ck_assert_uint_gt(k, 0);
        size_t n = 0;
        for (size_t i = 0; i < k; i++)
            n += iov[i].iov_len;
        tu_h2_outq_consume(&q, n);
        total += n;
    }
    ck_assert_uint_eq(total, expect);
    tu_h2_outq_free(&q);
}
END_TEST

START_TEST(data_frame_len_follows_peer)
{
    /* As large as the peer's frame size and windows allow. */
    ck_assert_uint_eq(tu_h2_data_frame_len(4u << 20, 64 << 20, 64 << 20, 1u << 20), 1u << 20);
    ck_assert_uint_eq(tu_h2_data_frame_len(4u << 20, 64 << 20, 64 << 20, 16384), 16384);
    ck_assert_uint_eq(tu_h2_data_frame_len(4u << 20, 64 << 20, 64 << 20, (1u << 24) - 1), 4u << 20);
    ck_assert_uint_eq(tu_h2_data_frame_len(4u << 20, 1000, 64 << 20, 1u << 20), 1000);
    ck_assert_uint_eq(tu_h2_data_frame_len(4u << 20, 64 << 20, 700, 1u << 20), 700);
    ck_assert_uint_eq(tu_h2_data_frame_len(4u << 20, 0, 700, 1u << 20), 0);
    ck_assert_uint_eq(tu_h2_data_frame_len(4u << 20, 700, -5, 1u << 20), 0);
    /* A frame size below the RFC's minimum is read as 16384. */
    ck_assert_uint_eq(tu_h2_data_frame_len(4u << 20, 64 << 20, 64 << 20, 100), 16384);
}
END_TEST

static void hdr(tu_grpc_answer *r, const char *name, const char *value)
{
    tu_grpc_answer_header(r, name, strlen(name), value, strlen(value));
}

typedef struct count_ctx {
    size_t n;
    size_t bytes;
} count_ctx;

static teeu_status count_msg(void *ud, const uint8_t *msg, size_t len)
{
    (void)msg;
    count_ctx *c = ud;
    c->n++;
    c->bytes += len;
    return TEEU_OK;
}

START_TEST(answer_ok_and_statuses)
{
    count_ctx cc = {0, 0};
    tu_grpc_answer r;
    tu_grpc_answer_init(&r, 1000, count_msg, &cc);
    hdr(&r, ":status", "200");
    hdr(&r, "content-type", "application/grpc+proto");
    const uint8_t body[] = {0, 0, 0, 0, 3, 'a', 'b', 'c'};
    ck_assert_ok(tu_grpc_answer_body(&r, body, sizeof body));
    ck_assert_uint_eq(cc.n, 1);
    /* No trailers yet: not a success. */
    ck_assert_status(tu_grpc_answer_outcome(&r, "/p.S/M", "h:1"), TEEU_ERR_PROTOCOL);
    ck_assert(strstr(teeu_last_error(), "grpc-status") != NULL);
    hdr(&r, "grpc-status", "0");
    ck_assert_ok(tu_grpc_answer_outcome(&r, "/p.S/M", "h:1"));
    ck_assert(!tu_grpc_answer_failed(&r));

    hdr(&r, "Grpc-Status", "7");
    hdr(&r, "grpc-message", "not%20you");
    ck_assert(tu_grpc_answer_failed(&r));
    ck_assert_status(tu_grpc_answer_outcome(&r, "/p.S/M", "h:1"), TEEU_ERR_RPC_PERMISSION_DENIED);
    ck_assert(strstr(teeu_last_error(), "not you") != NULL);
    ck_assert(strstr(teeu_last_error(), "/p.S/M") != NULL);
    ck_assert(strstr(teeu_last_error(), "h:1") != NULL);

    hdr(&r, "grpc-status", "x1"); /* malformed: no status at all */
    ck_assert(!r.have_grpc_status);
    ck_assert_status(tu_grpc_answer_outcome(&r, "/p.S/M", "h:1"), TEEU_ERR_PROTOCOL);

    tu_grpc_answer_reset(&r);
    ck_assert_int_eq(r.http_status, 0);
    ck_assert_uint_eq(r.deframer.max_message, 1000);
    ck_assert_ptr_eq(r.deframer.ctx, &cc);
    tu_grpc_answer_free(&r);
}
END_TEST

START_TEST(answer_http_and_content_type)
{
    tu_grpc_answer r;
    tu_grpc_answer_init(&r, 0, NULL, NULL);
    ck_assert_uint_eq(r.deframer.max_message, TU_RPC_DEFAULT_MAX_MESSAGE);
    hdr(&r, ":status", "503");
    ck_assert_status(tu_grpc_answer_outcome(&r, "/p.S/M", "h:1"), TEEU_ERR_RPC_UNAVAILABLE);
    ck_assert(strstr(teeu_last_error(), "503") != NULL);
    hdr(&r, ":status", "2000"); /* not 3 digits */
    ck_assert_int_eq(r.http_status, 0);
    hdr(&r, ":status", "404");
    ck_assert_status(tu_grpc_answer_outcome(&r, "/p.S/M", "h:1"), TEEU_ERR_RPC_UNIMPLEMENTED);

    /* An error page is dropped up to a bound, never deframed. */
    hdr(&r, "content-type", "text/html");
    uint8_t page[4096];
    memset(page, 'x', sizeof page);
    for (size_t i = 0; i < TU_RPC_DISCARD_MAX / sizeof page; i++)
        ck_assert_ok(tu_grpc_answer_body(&r, page, sizeof page));
    ck_assert_status(tu_grpc_answer_body(&r, page, 1), TEEU_ERR_PROTOCOL);

    /* Success with a non-gRPC content-type is refused. */
    tu_grpc_answer_reset(&r);
    hdr(&r, ":status", "200");
    hdr(&r, "content-type", "text/plain");
    hdr(&r, "grpc-status", "0");
    ck_assert_status(tu_grpc_answer_outcome(&r, "/p.S/M", "h:1"), TEEU_ERR_PROTOCOL);
    ck_assert(strstr(teeu_last_error(), "content-type") != NULL);
    tu_grpc_answer_free(&r);

    ck_assert(tu_grpc_content_type_ok("application/grpc", 16));
    ck_assert(tu_grpc_content_type_ok("Application/GRPC;charset=x", 26));
    ck_assert(tu_grpc_content_type_ok("application/grpc+proto", 22));
    ck_assert(!tu_grpc_content_type_ok("application/grpcx", 17));
    ck_assert(!tu_grpc_content_type_ok("application/grp", 15));
    ck_assert(!tu_grpc_content_type_ok("text/html", 9));
}
END_TEST

START_TEST(answer_body_bounded_and_truncation)
{
    tu_grpc_answer r;
    tu_grpc_answer_init(&r, 10, NULL, NULL);
    hdr(&r, ":status", "200");
    hdr(&r, "content-type", "application/grpc");
    const uint8_t big[] = {0, 0, 0, 0, 11};
    ck_assert_status(tu_grpc_answer_body(&r, big, sizeof big), TEEU_ERR_RESPONSE_TOO_LARGE);
    tu_grpc_answer_reset(&r);
    hdr(&r, ":status", "200");
    hdr(&r, "content-type", "application/grpc");
    const uint8_t part[] = {0, 0, 0, 0, 4, 'a'};
    ck_assert_ok(tu_grpc_answer_body(&r, part, sizeof part));
    hdr(&r, "grpc-status", "0");
    ck_assert_status(tu_grpc_answer_outcome(&r, "/p.S/M", "h:1"), TEEU_ERR_PROTOCOL);
    ck_assert(strstr(teeu_last_error(), "ended inside") != NULL);
    tu_grpc_answer_free(&r);
}
END_TEST

START_TEST(endpoint_split)
{
    char host[64], port[8];
    ck_assert_ok(tu_rpc_endpoint_split("127.0.0.1:8835", host, sizeof host, port, sizeof port));
    ck_assert_str_eq(host, "127.0.0.1");
    ck_assert_str_eq(port, "8835");
    ck_assert_ok(tu_rpc_endpoint_split("[::1]:443", host, sizeof host, port, sizeof port));
    ck_assert_str_eq(host, "::1");
    ck_assert_str_eq(port, "443");
    ck_assert_ok(tu_rpc_endpoint_split("teeu.example:1", host, sizeof host, port, sizeof port));
    ck_assert_str_eq(host, "teeu.example");
    ck_assert_str_eq(port, "1");
    const char *bad[] = {"", "host", "host:", ":80", "h:0", "h:65536", "h:1x", "h:-1", "::1:80", "[::1:80",
                         "[]:80", "[::1]x:80", "a]:1", "h:+80"};
    for (size_t i = 0; i < TU_ARRAY_LEN(bad); i++)
        ck_assert_status(tu_rpc_endpoint_split(bad[i], host, sizeof host, port, sizeof port), TEEU_ERR_CONFIG);
    /* Too long for the buffers. */
    ck_assert_status(tu_rpc_endpoint_split("averyveryverylonghostname:1", host, 8, port, sizeof port),
                     TEEU_ERR_CONFIG);
    ck_assert_status(tu_rpc_endpoint_split("h:12345", host, sizeof host, port, 3), TEEU_ERR_CONFIG);
}
END_TEST

START_TEST(channel_counts_no_connections_before_a_call)
{
    tu_rpc_options o;
    tu_rpc_options_init(&o);
    o.endpoint = "127.0.0.1:1";
    o.plaintext = true;
    tu_rpc_channel *ch = NULL;
    ck_assert_ok(tu_rpc_channel_new(&o, &ch));
    ck_assert_uint_eq(tu_rpc_channel_connections(ch), 0);
    tu_rpc_channel_free(ch);
}
END_TEST

static Suite *rpc_h2_suite(void)
{
    Suite *s = suite_create("rpc_h2");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, outq_copies_and_references_in_order);
    tcase_add_test(tc, outq_partial_writes_at_every_offset);
    tcase_add_test(tc, outq_iov_bounds);
    tcase_add_test(tc, outq_many_items_grow);
    tcase_add_test(tc, data_frame_len_follows_peer);
    tcase_add_test(tc, answer_ok_and_statuses);
    tcase_add_test(tc, answer_http_and_content_type);
    tcase_add_test(tc, answer_body_bounded_and_truncation);
    tcase_add_test(tc, endpoint_split);
    tcase_add_test(tc, channel_counts_no_connections_before_a_call);
    suite_add_tcase(s, tc);
    return s;
}

TU_CHECK_MAIN(rpc_h2_suite)
