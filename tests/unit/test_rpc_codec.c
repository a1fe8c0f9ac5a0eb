/* Unit tests of the pure gRPC codec, channel option checks and wire helpers. */
#include <string.h>

#include "tu_check.h"

#include "rpc/rpc_internal.h"
#include "wire/wire_internal.h"

typedef struct collected {
    tu_buf all;
    size_t count;
    size_t lens[16];
} collected;

static teeu_status collect(void *ud, const uint8_t *msg, size_t len)
{
    collected *c = ud;
    if (c->count < 16)
        c->lens[c->count] = len;
    c->count++;
    return tu_buf_append(&c->all, msg, len);
}

START_TEST(frame_header_is_flag_and_be32)
{
    uint8_t h[5];
    ck_assert_ok(tu_grpc_frame_header(0x01020304, h));
    const uint8_t want[5] = {0, 1, 2, 3, 4};
    ck_assert_mem_eq(h, want, 5);
    ck_assert_ok(tu_grpc_frame_header(0, h));
    ck_assert_mem_eq(h, (uint8_t[5]){0}, 5);
}
END_TEST

START_TEST(deframer_any_split)
{
    /* three messages: "ab", "", "xyz" */
    const uint8_t body[] = {0, 0, 0, 0, 2, 'a', 'b', 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 'x', 'y', 'z'};
    for (size_t step = 1; step <= sizeof body; step++) {
        collected c = {0};
        tu_grpc_deframer d;
        tu_grpc_deframer_init(&d, 100, collect, &c);
        for (size_t off = 0; off < sizeof body; off += step) {
            size_t n = sizeof body - off < step ? sizeof body - off : step;
            ck_assert_ok(tu_grpc_deframer_feed(&d, body + off, n));
        }
        ck_assert_ok(tu_grpc_deframer_finish(&d));
        ck_assert_uint_eq(c.count, 3);
        ck_assert_uint_eq(c.lens[0], 2);
        ck_assert_uint_eq(c.lens[1], 0);
        ck_assert_uint_eq(c.lens[2], 3);
        ck_assert_mem_eq(c.all.data, "abxyz", 5);
        tu_grpc_deframer_free(&d);
        tu_buf_free(&c.all);
    }
}
END_TEST

START_TEST(deframer_rejects_bad_frames)
{
    collected c = {0};
    tu_grpc_deframer d;
    const uint8_t compressed[] = {1, 0, 0, 0, 1, 'x'};
    tu_grpc_deframer_init(&d, 100, collect, &c);
    ck_assert_status(tu_grpc_deframer_feed(&d, compressed, sizeof compressed), TEEU_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "compressed"));
    tu_grpc_deframer_free(&d);

    const uint8_t flag[] = {2, 0, 0, 0, 1, 'x'};
    tu_grpc_deframer_init(&d, 100, collect, &c);
    ck_assert_status(tu_grpc_deframer_feed(&d, flag, sizeof flag), TEEU_ERR_PROTOCOL);
    tu_grpc_deframer_free(&d);

    /* the bound is checked from the header alone, before buffering */
    const uint8_t big[] = {0, 0xff, 0xff, 0xff, 0xff};
    tu_grpc_deframer_init(&d, 100, collect, &c);
    ck_assert_status(tu_grpc_deframer_feed(&d, big, sizeof big), TEEU_ERR_RESPONSE_TOO_LARGE);
    ck_assert_ptr_null(d.payload.data);
    tu_grpc_deframer_free(&d);

    const uint8_t just_over[] = {0, 0, 0, 0, 101};
    tu_grpc_deframer_init(&d, 100, collect, &c);
    ck_assert_status(tu_grpc_deframer_feed(&d, just_over, sizeof just_over), TEEU_ERR_RESPONSE_TOO_LARGE);
    tu_grpc_deframer_free(&d);

    const uint8_t truncated[] = {0, 0, 0, 0, 4, 'a'};
    tu_grpc_deframer_init(&d, 100, collect, &c);
    ck_assert_ok(tu_grpc_deframer_feed(&d, truncated, sizeof truncated));
    ck_assert_status(tu_grpc_deframer_finish(&d), TEEU_ERR_PROTOCOL);
    tu_grpc_deframer_free(&d);

    tu_grpc_deframer_init(&d, 100, collect, &c);
    ck_assert_ok(tu_grpc_deframer_feed(&d, truncated, 3));
    ck_assert_status(tu_grpc_deframer_finish(&d), TEEU_ERR_PROTOCOL);
    tu_grpc_deframer_free(&d);
    ck_assert_uint_eq(c.count, 0);
    tu_buf_free(&c.all);
}
END_TEST

static teeu_status refuse(void *ud, const uint8_t *msg, size_t len)
{
    (void)ud;
    (void)msg;
    (void)len;
    return tu_error(TEEU_ERR_LIMIT, "consumer says stop");
}

START_TEST(deframer_consumer_error_stops)
{
    tu_grpc_deframer d;
    const uint8_t two[] = {0, 0, 0, 0, 1, 'a', 0, 0, 0, 0, 1, 'b'};
    tu_grpc_deframer_init(&d, 0, refuse, NULL);
    ck_assert_uint_eq(d.max_message, TU_RPC_DEFAULT_MAX_MESSAGE);
    ck_assert_status(tu_grpc_deframer_feed(&d, two, sizeof two), TEEU_ERR_LIMIT);
    ck_assert_uint_eq(d.messages, 1);
    tu_grpc_deframer_free(&d);
}
END_TEST

START_TEST(timeout_header)
{
    char out[16];
    tu_grpc_timeout_format(1500, out);
    ck_assert_str_eq(out, "1500m");
    tu_grpc_timeout_format(99999999, out);
    ck_assert_str_eq(out, "99999999m");
    tu_grpc_timeout_format(100000000, out);
    ck_assert_str_eq(out, "100000S");
    tu_grpc_timeout_format(100000001, out);
    ck_assert_str_eq(out, "100001S"); /* rounded up, never shorter */
    tu_grpc_timeout_format(UINT64_MAX, out);
    ck_assert_str_eq(out, "99999999H");
}
END_TEST

START_TEST(grpc_message_decode)
{
    char out[32];
    const char *in = "a%20b%0Ac%zz%4";
    ck_assert_uint_eq(tu_grpc_message_decode(in, strlen(in), out, sizeof out), 10);
    ck_assert_str_eq(out, "a b?c?zz?4");
    const char *utf8 = "caf%C3%A9";
    tu_grpc_message_decode(utf8, strlen(utf8), out, sizeof out);
    ck_assert_str_eq(out, "caf\xc3\xa9");
    char small[4];
    ck_assert_uint_eq(tu_grpc_message_decode("abcdef", 6, small, sizeof small), 3);
    ck_assert_str_eq(small, "abc");
}
END_TEST

START_TEST(grpc_status_and_codes)
{
    int code = -1;
    ck_assert(tu_grpc_status_parse("0", 1, &code) && code == 0);
    ck_assert(tu_grpc_status_parse("16", 2, &code) && code == 16);
    ck_assert(!tu_grpc_status_parse("", 0, &code));
    ck_assert(!tu_grpc_status_parse("-1", 2, &code));
    ck_assert(!tu_grpc_status_parse("1 ", 2, &code));
    ck_assert(!tu_grpc_status_parse("1234", 4, &code));
    ck_assert_int_eq(tu_grpc_code_status(0), TEEU_OK);
    ck_assert_int_eq(tu_grpc_code_status(1), TEEU_ERR_RPC_CANCELLED);
    ck_assert_int_eq(tu_grpc_code_status(7), TEEU_ERR_RPC_PERMISSION_DENIED);
    ck_assert_int_eq(tu_grpc_code_status(16), TEEU_ERR_RPC_UNAUTHENTICATED);
    ck_assert_int_eq(tu_grpc_code_status(17), TEEU_ERR_RPC_UNKNOWN);
    ck_assert_int_eq(tu_grpc_code_status(-3), TEEU_ERR_RPC_UNKNOWN);
    ck_assert_str_eq(tu_grpc_code_name(14), "UNAVAILABLE");
    ck_assert_str_eq(tu_grpc_code_name(99), "UNKNOWN_CODE");
    ck_assert_int_eq(tu_grpc_code_from_http(404), 12);
    ck_assert_int_eq(tu_grpc_code_from_http(503), 14);
    ck_assert_int_eq(tu_grpc_code_from_http(500), 2);
}
END_TEST

START_TEST(channel_endpoint_checks)
{
    const char *bad[] = {"", "host", "host:", ":80", "http://h:1", "h:0", "h:65536", "h:1x", "::1:80", "[::1:80",
                         "a b:1", "h:1/p", "user@h:1"};
    for (size_t i = 0; i < TU_ARRAY_LEN(bad); i++) {
        tu_rpc_options o;
        tu_rpc_options_init(&o);
        o.endpoint = bad[i];
        o.plaintext = true;
        tu_rpc_channel *ch = NULL;
        ck_assert_status(tu_rpc_channel_new(&o, &ch), TEEU_ERR_CONFIG);
        ck_assert_ptr_null(ch);
    }
    const char *good[] = {"127.0.0.1:8835", "[::1]:8835", "authmanager.example:443"};
    for (size_t i = 0; i < TU_ARRAY_LEN(good); i++) {
        tu_rpc_options o;
        tu_rpc_options_init(&o);
        o.endpoint = good[i];
        tu_rpc_channel *ch = NULL;
        ck_assert_ok(tu_rpc_channel_new(&o, &ch));
        ck_assert_str_eq(tu_rpc_channel_endpoint(ch), good[i]);
        ck_assert(!tu_rpc_channel_plaintext(ch));
        ck_assert_uint_eq(tu_rpc_channel_connections(ch), 0);
        tu_rpc_channel_free(ch);
    }
    tu_rpc_channel_free(NULL);
}
END_TEST

START_TEST(wire_nonce_and_limits)
{
    char a[TU_WIRE_NONCE_HEX_LEN + 1], b[TU_WIRE_NONCE_HEX_LEN + 1];
    ck_assert_ok(tu_wire_new_nonce(a));
    ck_assert_ok(tu_wire_new_nonce(b));
    ck_assert_uint_eq(strlen(a), 64);
    ck_assert_str_ne(a, b);
    for (const char *p = a; *p; p++)
        ck_assert((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'F'));
    char *json = NULL;
    const char *ids[] = {"YWJj+/==", "ZGVm"};
    ck_assert_ok(tu_wire_extra_limits(ids, 2, &json));
    ck_assert_str_eq(json, "{\"limit_functions\": [\"YWJj+/==\", \"ZGVm\"]}");
    free(json);
    ck_assert_ok(tu_wire_extra_limits(NULL, 0, &json));
    ck_assert_str_eq(json, "{\"limit_functions\": []}");
    free(json);
    const char *evil[] = {"a\",\"b"};
    ck_assert_status(tu_wire_extra_limits(evil, 1, &json), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(json);
}
END_TEST

START_TEST(wire_body_status)
{
    Secretflowapis__V1__Status s = SECRETFLOWAPIS__V1__STATUS__INIT;
    ck_assert_ok(tu_wire_check_status(NULL, "X", false));
    ck_assert_ok(tu_wire_check_status(&s, "X", false));
    s.code = 6;
    s.message = (char *)"exists\nalready";
    ck_assert_ok(tu_wire_check_status(&s, "X", true));
    ck_assert_status(tu_wire_check_status(&s, "X", false), TEEU_ERR_RPC_ALREADY_EXISTS);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "exists?already"));
    s.code = 1000;
    ck_assert_status(tu_wire_check_status(&s, "X", false), TEEU_ERR_RPC_UNKNOWN);
}
END_TEST

START_TEST(wire_parsers_reject_garbage)
{
    const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f};
    ck_assert_status(tu_wire_parse_register_ins_pub_key(junk, sizeof junk), TEEU_ERR_PROTOBUF);
    ck_assert_status(tu_wire_parse_create_data_with_auth(junk, sizeof junk), TEEU_ERR_PROTOBUF);
    /* an empty body decodes as "status OK" for registration ... */
    ck_assert_ok(tu_wire_parse_register_ins_pub_key(NULL, 0));
    /* ... but an empty GetRaCertPems answer carries no key */
    Secretflowapis__V1__Sdc__Dataagent__GetRaCertPemsResponse *r = NULL;
    const Secretflowapis__V1__Sdc__Dataagent__ReportWithCertPem *pick = NULL;
    ck_assert_status(tu_wire_parse_get_ra_cert_pems(NULL, 0, "00", &r, &pick), TEEU_ERR_PROTOBUF);
    ck_assert_ptr_null(r);
}
END_TEST

/* xorshift: reproducible pseudo-random input for the robustness tests. */
static uint32_t next_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

START_TEST(deframer_random_input_never_overruns)
{
    uint32_t seed = 0x9e3779b9u;
    uint8_t buf[512];
    for (int round = 0; round < 2000; round++) {
        size_t n = next_rand(&seed) % sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)next_rand(&seed);
        /* bias towards plausible frames: flag 0 and small lengths */
        if (n > 5 && (round & 1)) {
            buf[0] = 0;
            buf[1] = buf[2] = buf[3] = 0;
        }
        collected c = {0};
        tu_grpc_deframer d;
        tu_grpc_deframer_init(&d, 300, collect, &c);
        teeu_status st = TEEU_OK;
        for (size_t off = 0; off < n && st == TEEU_OK;) {
            size_t step = 1 + next_rand(&seed) % 40;
            if (step > n - off)
                step = n - off;
            st = tu_grpc_deframer_feed(&d, buf + off, step);
            off += step;
        }
        if (st == TEEU_OK)
            st = tu_grpc_deframer_finish(&d);
        ck_assert(st == TEEU_OK || st == TEEU_ERR_PROTOCOL || st == TEEU_ERR_RESPONSE_TOO_LARGE);
        for (size_t i = 0; i < c.count && i < 16; i++)
            ck_assert_uint_le(c.lens[i], 300);
        tu_grpc_deframer_free(&d);
        tu_buf_free(&c.all);
    }
}
END_TEST

START_TEST(wire_parsers_random_input)
{
    uint32_t seed = 12345;
    uint8_t buf[256];
    for (int round = 0; round < 3000; round++) {
        size_t n = next_rand(&seed) % sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)next_rand(&seed);
        teeu_status st = tu_wire_parse_register_ins_pub_key(buf, n);
        ck_assert(st == TEEU_OK || st == TEEU_ERR_PROTOBUF || (st > 300 && st <= 316));
        st = tu_wire_parse_create_data_with_auth(buf, n);
        ck_assert(st == TEEU_OK || st == TEEU_ERR_PROTOBUF || (st > 300 && st <= 316));
        Secretflowapis__V1__Sdc__Dataagent__GetRaCertPemsResponse *r = NULL;
        const Secretflowapis__V1__Sdc__Dataagent__ReportWithCertPem *pick = NULL;
        st = tu_wire_parse_get_ra_cert_pems(buf, n, "AB", &r, &pick);
        if (st == TEEU_OK)
            protobuf_c_message_free_unpacked(&r->base, NULL);
    }
}
END_TEST

static Suite *rpc_suite(void)
{
    Suite *s = suite_create("rpc_codec");
    TCase *tc = tcase_create("codec");
    tcase_add_test(tc, frame_header_is_flag_and_be32);
    tcase_add_test(tc, deframer_any_split);
    tcase_add_test(tc, deframer_rejects_bad_frames);
    tcase_add_test(tc, deframer_consumer_error_stops);
    tcase_add_test(tc, timeout_header);
    tcase_add_test(tc, grpc_message_decode);
    tcase_add_test(tc, grpc_status_and_codes);
    tcase_add_test(tc, channel_endpoint_checks);
    tcase_add_test(tc, wire_nonce_and_limits);
    tcase_add_test(tc, wire_body_status);
    tcase_add_test(tc, wire_parsers_reject_garbage);
    tcase_add_test(tc, deframer_random_input_never_overruns);
    tcase_add_test(tc, wire_parsers_random_input);
    suite_add_tcase(s, tc);
    return s;
}

TU_CHECK_MAIN(rpc_suite)
