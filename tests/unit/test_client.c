/* Unit tests of the client layer: config file parsing, object handles, function identity. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <teeu/teeu.h>

#include "client/client_internal.h"
#include "tu_check.h"

/* ---- function identity ------------------------------------------------------------ */

/* base64(SHA-256(s)) computed here independently of lib/func. */
static void expected_identity(const char *s, char out[45])
{
    unsigned char md[32];
    unsigned int n = 0;
    ck_assert_int_eq(EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL), 1);
    ck_assert_int_eq(EVP_EncodeBlock((unsigned char *)out, md, 32), 44);
}

START_TEST(func_canonical_descriptor_and_identity)
{
    static const char *spellings[] = {"{\"axis\":1}", "{ \"axis\" : 1 }", "\n{\"axis\":\n1}\t"};
    for (size_t i = 0; i < 3; i++) {
        teeu_func *f = NULL;
        ck_assert_ok(teeu_func_new("average", spellings[i], &f));
        ck_assert_str_eq(teeu_func_descriptor(f), "average@1{\"axis\":1}");
        char want[45];
        expected_identity("average@1{\"axis\":1}", want);
        ck_assert_str_eq(teeu_func_identity(f), want);
        teeu_func_free(f);
    }
    teeu_func *f = NULL;
    ck_assert_ok(teeu_func_new_version("var", 2, "{\"ddof\":1,\"axis\":[1,0]}", &f));
    ck_assert_str_eq(teeu_func_descriptor(f), "var@2{\"axis\":[1,0],\"ddof\":1}");
    teeu_func_free(f);
    ck_assert_ok(teeu_func_new("sum", NULL, &f));
    ck_assert_str_eq(teeu_func_descriptor(f), "sum@1{}");
    teeu_func_free(f);
    ck_assert_ok(teeu_func_new("sum", "", &f));
    ck_assert_str_eq(teeu_func_descriptor(f), "sum@1{}");
    teeu_func_free(f);
}
END_TEST

START_TEST(func_refuses_bad_names_and_params)
{
    teeu_func *f = (teeu_func *)1;
    ck_assert_status(teeu_func_new("Average", NULL, &f), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(f);
    ck_assert_status(teeu_func_new("", NULL, &f), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(teeu_func_new("av g", NULL, &f), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(teeu_func_new(NULL, NULL, &f), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(teeu_func_new_version("average", 0, NULL, &f), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(teeu_func_new("average", "{\"axis\":1.5}", &f), TEEU_ERR_JSON);
    ck_assert_status(teeu_func_new("average", "{\"axis\":1", &f), TEEU_ERR_JSON);
    ck_assert_status(teeu_func_new("average", "[1]", &f), TEEU_ERR_JSON);
    ck_assert_status(teeu_func_new("average", "{\"a\":1,\"a\":2}", &f), TEEU_ERR_JSON);
    ck_assert_ptr_null(f);
    teeu_func_free(NULL);
}
END_TEST

/* ---- handles --------------------------------------------------------------------- */

START_TEST(handle_round_trip)
{
    teeu_object *o = NULL, *p = NULL;
    ck_assert_ok(tu_object_make("127.0.0.1:8836", "0123456789abcdef0123456789abcdef", &o));
    ck_assert_str_eq(teeu_object_handle(o), "teeu://127.0.0.1:8836/0123456789abcdef0123456789abcdef");
    ck_assert_ok(teeu_object_from_string(teeu_object_handle(o), &p));
    ck_assert_str_eq(teeu_object_handle(p), teeu_object_handle(o));
    ck_assert_str_eq(teeu_object_uuid(p), "0123456789abcdef0123456789abcdef");
    teeu_object_free(p);
    /* A handle read from a file may end with a newline. */
    ck_assert_ok(teeu_object_from_string("teeu://[::1]:9/0123456789abcdef0123456789abcdef\n", &p));
    ck_assert_str_eq(teeu_object_handle(p), "teeu://[::1]:9/0123456789abcdef0123456789abcdef");
    teeu_object_free(p);
    teeu_object_free(o);
    teeu_object_free(NULL);
}
END_TEST

START_TEST(handle_malformed)
{
    static const char *bad[] = {
        "",
        "teeu://",
        "http://127.0.0.1:1/0123456789abcdef0123456789abcdef",
        "teeu://127.0.0.1:1/0123456789ABCDEF0123456789abcdef",  /* upper case */
        "teeu://127.0.0.1:1/0123456789abcdef0123456789abcde",   /* 31 digits */
        "teeu://127.0.0.1:1/0123456789abcdef0123456789abcdef0",  /* 33 digits */
        "teeu://127.0.0.1/0123456789abcdef0123456789abcdef",     /* no port */
        "teeu://127.0.0.1:0/0123456789abcdef0123456789abcdef",   /* port 0 */
        "teeu://127.0.0.1:70000/0123456789abcdef0123456789abcdef",
        "teeu://a b:1/0123456789abcdef0123456789abcdef",
        "teeu://h:1/x/0123456789abcdef0123456789abcdef",
        "teeu://:1/0123456789abcdef0123456789abcdef",
        "teeu://h:1/01234567-9abcdef0123456789abcdef0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        teeu_object *o = (teeu_object *)1;
        ck_assert_status(teeu_object_from_string(bad[i], &o), TEEU_ERR_BAD_HANDLE);
        ck_assert_ptr_null(o);
    }
    char longer[600];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    memcpy(longer, "teeu://", 7);
    teeu_object *o = NULL;
    ck_assert_status(teeu_object_from_string(longer, &o), TEEU_ERR_BAD_HANDLE);
    ck_assert_status(teeu_object_from_string(NULL, &o), TEEU_ERR_INVALID_ARGUMENT);
}
END_TEST

/* ---- config ----------------------------------------------------------------------- */

static const char *good_config =
    "{\"party\": \"alice\","
    " \"cluster_config\": {\"parties\": {\"alice\": {\"address\": \"127.0.0.1:1\"},"
    "                                   \"carol\": {\"address\": \"127.0.0.1:9100\"}},"
    "                      \"self_party\": \"alice\"},"
    " \"party_key_pair\": {\"alice\": {\"private_key\": \"alice.key\", \"public_key\": \"alice.pub\"}},"
    " \"auth_manager_config\": {\"host\": \"127.0.0.1:8835\", \"mr_enclave\": \"\", \"ca_cert\": \"/etc/ca.pem\"},"
    " \"teeu\": {\"party\": \"carol\", \"mr_enclave\": \"AB\"},"
    " \"tee_simulation\": true, \"sim_root\": \"sim/root_ca.pem\", \"timeout_ms\": 5000,"
    " \"segment_size\": 65536, \"zstd_level\": 3}";

START_TEST(config_parses_sf_init_keys)
{
    tu_client_config c;
    ck_assert_ok(tu_client_config_parse(good_config, strlen(good_config), "/cfg", "test", &c));
    ck_assert_str_eq(c.party, "alice");
    ck_assert_str_eq(c.cfg.private_key_file, "/cfg/alice.key");
    ck_assert_str_eq(c.cfg.auth_manager.address, "127.0.0.1:8835");
    ck_assert_str_eq(c.cfg.auth_manager.mr_enclave, "");
    ck_assert_str_eq(c.cfg.auth_manager.ca_file, "/etc/ca.pem"); /* absolute paths stay */
    ck_assert_str_eq(c.cfg.teeu.address, "127.0.0.1:9100");      /* from cluster_config.parties.carol */
    ck_assert_str_eq(c.cfg.teeu.mr_enclave, "AB");
    ck_assert_str_eq(c.cfg.sim_root_file, "/cfg/sim/root_ca.pem");
    ck_assert_int_eq(c.cfg.tee_simulation, 1);
    ck_assert_int_eq(c.cfg.timeout_ms, 5000);
    ck_assert_uint_eq(c.cfg.segment_size, 65536);
    ck_assert_int_eq(c.cfg.zstd_level, 3);
    tu_client_config_clear(&c);
    tu_client_config_clear(NULL);
}
END_TEST

static void refused(const char *json, teeu_status want, const char *needle)
{
    tu_client_config c;
    ck_assert_status(tu_client_config_parse(json, strlen(json), NULL, "t.json", &c), want);
    ck_assert_msg(strstr(teeu_last_error(), needle) != NULL, "message \"%s\" lacks \"%s\"", teeu_last_error(),
                  needle);
}

START_TEST(config_errors_name_the_fix)
{
    refused("{", TEEU_ERR_CONFIG, "not valid JSON");
    refused("[]", TEEU_ERR_CONFIG, "JSON object");
    refused("{\"party_key_pair\": {}}", TEEU_ERR_CONFIG, "\"party\"");
    refused("{\"party\": \"a\", \"tee_simulaton\": true}", TEEU_ERR_CONFIG, "tee_simulaton");
    refused("{\"party\": \"a\"}", TEEU_ERR_CONFIG, "party_key_pair");
    refused("{\"party\": \"a\", \"party_key_pair\": {\"a\": {}}}", TEEU_ERR_CONFIG, "openssl genrsa");
    refused("{\"party\": \"a\", \"party_key_pair\": {\"a\": {\"private_key\": \"k\"}}}", TEEU_ERR_CONFIG,
            "auth_manager_config");
    refused("{\"party\": \"a\", \"party_key_pair\": {\"a\": {\"private_key\": \"k\"}},"
            " \"auth_manager_config\": {\"host\": \"h:1\"}, \"teeu\": {}}",
            TEEU_ERR_CONFIG, "teeu.address");
    refused("{\"party\": \"a\", \"party_key_pair\": {\"a\": {\"private_key\": \"k\"}},"
            " \"auth_manager_config\": {\"host\": \"h:1\"}, \"teeu\": {\"party\": \"carol\"}}",
            TEEU_ERR_CONFIG, "cluster_config");
    refused("{\"party\": \"a\", \"party_key_pair\": {\"a\": {\"private_key\": \"k\"}},"
            " \"auth_manager_config\": {\"host\": \"h:1\", \"mrenclave\": \"\"}, \"teeu\": {\"address\": \"h:2\"}}",
            TEEU_ERR_CONFIG, "mrenclave");
    refused("{\"party\": \"a\", \"party_key_pair\": {\"a\": {\"private_key\": \"k\"}},"
            " \"auth_manager_config\": {\"host\": 5}, \"teeu\": {\"address\": \"h:2\"}}",
            TEEU_ERR_CONFIG, "must be a string");
    refused("{\"party\": \"a\", \"party_key_pair\": {\"a\": {\"private_key\": \"k\"}},"
            " \"auth_manager_config\": {\"host\": \"h:1\"}, \"teeu\": {\"address\": \"h:2\"}, \"timeout_ms\": 0}",
            TEEU_ERR_CONFIG, "timeout_ms");
    refused("{\"party\": \"a\", \"party_key_pair\": {\"a\": {\"private_key\": \"k\"}},"
            " \"auth_manager_config\": {\"host\": \"h:1\"}, \"teeu\": {\"address\": \"h:2\"}, \"tee_simulation\": 1}",
            TEEU_ERR_CONFIG, "true or false");
}
END_TEST

/* A client needs a key file; the checks below run before any network traffic. */
static char key_path[64];

static void write_key(void)
{
    teeu_key *k = NULL;
    char *pem = NULL;
    size_t len = 0;
    ck_assert_ok(teeu_key_generate(3072, &k));
    ck_assert_ok(teeu_key_private_pem(k, NULL, &pem, &len));
    snprintf(key_path, sizeof key_path, "/tmp/test_client_key_XXXXXX");
    int fd = mkstemp(key_path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, pem, len), (ssize_t)len);
    close(fd);
    teeu_free_secret(pem, len);
    teeu_key_free(k);
}

START_TEST(client_new_security_settings)
{
    write_key();
    teeu_config cfg;
    teeu_config_init(&cfg);
    cfg.private_key_file = key_path;
    cfg.auth_manager.address = "127.0.0.1:1";
    cfg.teeu.address = "127.0.0.1:2";
    teeu_client *c = (teeu_client *)1;
    /* No MRENCLAVE outside simulation: a configuration error naming the key to set. */
    ck_assert_status(teeu_client_new(&cfg, &c), TEEU_ERR_CONFIG);
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "auth_manager.mr_enclave"));
    const char *mr = "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF";
    cfg.auth_manager.mr_enclave = mr;
    cfg.teeu.mr_enclave = mr;
    /* Plain text outside simulation: insecure, asks for a CA file. */
    ck_assert_status(teeu_client_new(&cfg, &c), TEEU_ERR_INSECURE);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "ca_file"));
    /* Simulation accepts both (with warnings) and sends nothing yet. */
    cfg.tee_simulation = 1;
    cfg.auth_manager.mr_enclave = "";
    /* presign: 0..TEEU_PRESIGN_MAX. */
    cfg.presign = TEEU_PRESIGN_MAX + 1;
    ck_assert_status(teeu_client_new(&cfg, &c), TEEU_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "presign"));
    cfg.presign = -1;
    ck_assert_status(teeu_client_new(&cfg, &c), TEEU_ERR_CONFIG);
    cfg.presign = TEEU_PRESIGN_DEFAULT;
    ck_assert_ok(teeu_client_new(&cfg, &c));
    ck_assert_uint_eq(strlen(teeu_client_owner_id(c)), TEEU_OWNER_ID_LEN);
    teeu_client_stats st;
    ck_assert_ok(teeu_client_get_stats(c, &st));
    ck_assert_uint_eq(st.rpc_calls, 0);
    /* teeu_put without an allowed function is refused before any traffic. */
    double v[12] = {0};
    const size_t shape[2] = {4, 3};
    teeu_ndarray *arr = NULL;
    teeu_object *obj = NULL;
    ck_assert_ok(teeu_ndarray_view(TEEU_DTYPE_FLOAT64, 2, shape, v, sizeof v, &arr));
    ck_assert_status(teeu_put(c, arr, NULL, 0, &obj), TEEU_ERR_INVALID_ARGUMENT);
    /* An object on another TEEU is refused before any traffic. */
    teeu_object *other = NULL;
    teeu_func *f = NULL;
    ck_assert_ok(teeu_func_new("average", "{\"axis\":1}", &f));
    ck_assert_ok(teeu_object_from_string("teeu://127.0.0.1:3/0123456789abcdef0123456789abcdef", &other));
    const teeu_object *objs[] = {other};
    ck_assert_status(teeu_call(c, f, objs, 1, &obj), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "127.0.0.1:3"));
    ck_assert_ok(teeu_client_get_stats(c, &st));
    ck_assert_uint_eq(st.rpc_calls, 0);
    teeu_object_free(other);
    teeu_func_free(f);
    teeu_ndarray_free(arr);
    teeu_client_free(c);
    /* A simulation root is never accepted outside simulation. */
    cfg.tee_simulation = 0;
    cfg.auth_manager.mr_enclave = mr;
    cfg.sim_root_file = "/nonexistent/root_ca.pem";
    ck_assert_status(teeu_client_new(&cfg, &c), TEEU_ERR_INSECURE);
    teeu_client_free(NULL);
    unlink(key_path);
}
END_TEST

static Suite *client_suite(void)
{
    Suite *s = suite_create("client");
    TCase *tc = tcase_create("client");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, func_canonical_descriptor_and_identity);
    tcase_add_test(tc, func_refuses_bad_names_and_params);
    tcase_add_test(tc, handle_round_trip);
    tcase_add_test(tc, handle_malformed);
    tcase_add_test(tc, config_parses_sf_init_keys);
    tcase_add_test(tc, config_errors_name_the_fix);
    tcase_add_test(tc, client_new_security_settings);
    suite_add_tcase(s, tc);
    return s;
}

TU_CHECK_MAIN(client_suite)
