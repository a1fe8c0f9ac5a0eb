/* The presign pool (lib/client/presign.c): credentials that check, speculation on the policy, counters, clean stop. */
#include <sched.h>
#include <string.h>
#include <time.h>

#include "client/client_internal.h"
#include "crypto/crypto_internal.h"
#include "tu_check.h"

static teeu_key *party, *am;

static void keys_setup(void)
{
    ck_assert_ok(teeu_key_generate(3072, &party));
    ck_assert_ok(teeu_key_generate(3072, &am));
}

static void keys_teardown(void)
{
    teeu_key_free(party);
    teeu_key_free(am);
}

static void wait_ready(tu_presigner *p, size_t n, uint64_t ops)
{
    for (int i = 0; i < 60000; i++) {
        if (tu_presigner_ready(p) == n && tu_presigner_rsa_ops(p) >= ops)
            return;
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
    ck_abort_msg("the pool did not reach %zu credentials / %llu operations (has %zu / %llu)", n,
                 (unsigned long long)ops, tu_presigner_ready(p), (unsigned long long)tu_presigner_rsa_ops(p));
}

static const char *mr = "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF";

/* Steps 3-5 of WIRE.md hold for the credential's uuid and key. */
static void check_segment(const tu_put_cred *cr)
{
    static const uint8_t le0[4] = {0};
    ck_assert_uint_eq(strlen(cr->uuid), 32);
    uint8_t *key = NULL;
    size_t key_len = 0;
    ck_assert_ok(tu_rsa_oaep_decrypt(am, cr->enc_key, cr->enc_key_len, &key, &key_len));
    ck_assert_uint_eq(key_len, 32);
    ck_assert_mem_eq(key, cr->key, 32);
    tu_free_secret(key, key_len);
    uint8_t mac[32];
    tu_bytes mac_parts[4] = {TU_STR(cr->uuid), TU_STR("default"), TU_BYTES(le0, 4), TU_BYTES(le0, 4)};
    ck_assert_ok(tu_hmac_sha256_sep(cr->key, 32, mac_parts, 4, mac));
    ck_assert_mem_eq(mac, cr->mac, 32);
    tu_bytes sig_parts[5] = {TU_STR(cr->uuid), TU_STR("default"), TU_BYTES(le0, 4), TU_BYTES(le0, 4),
                             TU_BYTES(cr->key, 32)};
    ck_assert_ok(tu_rsa_verify(party, sig_parts, 5, cr->seg_sig, cr->seg_sig_len));
}

/* The precomputed DataAuth signature equals the one signed inline (PKCS#1 v1.5 is deterministic). */
static void check_auth(const tu_put_cred *cr, const tu_put_policy *pol)
{
    ck_assert_ptr_nonnull(cr->auth_sig);
    tu_wire_data_auth a = {.data_uuid = cr->uuid, .allowed_ins_ids = pol->ins, .n_allowed_ins_ids = pol->n_ins,
                           .allowed_mrenclaves = &mr, .n_allowed_mrenclaves = 1, .function_ids = pol->funcs,
                           .n_function_ids = pol->n_funcs};
    uint8_t *sig = NULL;
    size_t len = 0;
    ck_assert_ok(tu_wire_sign_data_auth(party, &a, &sig, &len));
    ck_assert_uint_eq(len, cr->auth_sig_len);
    ck_assert_mem_eq(sig, cr->auth_sig, len);
    free(sig);
    /* And a request built from the precomputed parts carries them. */
    tu_wire_presigned pre = {.enc_key = cr->enc_key, .enc_key_len = cr->enc_key_len, .mac = cr->mac,
                             .seg_sig = cr->seg_sig, .seg_sig_len = cr->seg_sig_len, .auth_sig = cr->auth_sig,
                             .auth_sig_len = cr->auth_sig_len};
    a.data_key = cr->key;
    a.data_key_len = 32;
    a.presigned = &pre;
    tu_buf req = {0}, auth = {0};
    ck_assert_ok(tu_wire_build_create_data_with_auth(party, am, &a, &req));
    ck_assert_ok(tu_wire_data_auth_of_request(req.data, req.len, &auth));
    Secretflowapis__V1__Sdc__DataAuth *da = secretflowapis__v1__sdc__data_auth__unpack(NULL, auth.len, auth.data);
    ck_assert_ptr_nonnull(da);
    ck_assert_ok(tu_wire_verify_data_auth(party, da));
    secretflowapis__v1__sdc__data_auth__free_unpacked(da, NULL);
    tu_buf_free(&req);
    tu_buf_free(&auth);
}

START_TEST(pool_fills_speculates_and_counts)
{
    tu_presigner *p = NULL;
    ck_assert_ok(tu_presigner_new(party, am, mr, 2, &p));
    /* No put yet: credentials without a DataAuth signature, 1 operation each. */
    wait_ready(p, 2, 2);
    ck_assert_uint_eq(tu_presigner_rsa_ops(p), 2);
    const char *funcs_p[] = {"aaaa", "bbbb"};
    tu_put_policy pol_p = {.funcs = funcs_p, .n_funcs = 2};
    tu_put_cred cr;
    bool hit = true;
    ck_assert(tu_presigner_take(p, &pol_p, &cr, &hit));
    ck_assert(!hit);
    ck_assert_ptr_null(cr.auth_sig);
    check_segment(&cr);
    char first_uuid[33];
    memcpy(first_uuid, cr.uuid, 33);
    tu_put_cred_clear(&cr);
    /* Taking does not wake the thread (the put in progress keeps the CPU); the refill after the put does. */
    nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL);
    ck_assert_uint_eq(tu_presigner_ready(p), 1);
    ck_assert_uint_eq(tu_presigner_rsa_ops(p), 2);
    ck_assert_int_eq(sched_getscheduler(0), SCHED_OTHER); /* the caller's own priority is untouched */
    tu_presigner_refill(p);
    /* The replacement is signed for the policy just seen: 2 operations. */
    wait_ready(p, 2, 4);
    ck_assert_uint_eq(tu_presigner_rsa_ops(p), 4);
    ck_assert(tu_presigner_take(p, &pol_p, &cr, &hit));
    ck_assert(hit);
    check_segment(&cr);
    check_auth(&cr, &pol_p);
    ck_assert_str_ne(cr.uuid, first_uuid);
    tu_put_cred_clear(&cr);
    tu_presigner_refill(p);
    wait_ready(p, 2, 6);
    /* Another policy (an allowed party added): no hit, and the next credential follows it. */
    const char *ins_q[] = {"someone"};
    tu_put_policy pol_q = {.ins = ins_q, .n_ins = 1, .funcs = funcs_p, .n_funcs = 2};
    ck_assert(tu_presigner_take(p, &pol_q, &cr, &hit));
    ck_assert(!hit);
    check_segment(&cr);
    tu_put_cred_clear(&cr);
    tu_presigner_refill(p);
    wait_ready(p, 2, 8);
    ck_assert(tu_presigner_take(p, &pol_q, &cr, &hit));
    ck_assert(hit);
    check_auth(&cr, &pol_q);
    tu_put_cred_clear(&cr);
    tu_presigner_refill(p);
    wait_ready(p, 2, 10);
    ck_assert_uint_eq(tu_presigner_rsa_ops(p), 10);
    /* Freed with credentials in the pool (ASan checks they are released). */
    tu_presigner_free(p);
}
END_TEST

START_TEST(take_from_an_empty_pool_and_stop_at_once)
{
    tu_presigner *p = NULL;
    ck_assert_ok(tu_presigner_new(party, am, NULL, 1, &p));
    const char *funcs[] = {"aaaa"};
    tu_put_policy pol = {.funcs = funcs, .n_funcs = 1};
    tu_put_cred cr;
    bool hit = true;
    /* Most likely still signing the first one: an empty pool is a plain miss. */
    bool got = tu_presigner_take(p, &pol, &cr, &hit);
    if (got)
        tu_put_cred_clear(&cr);
    else
        ck_assert(!hit);
    tu_presigner_free(p); /* joins the thread even mid-signature */
    ck_assert(!tu_presigner_take(NULL, &pol, &cr, &hit));
    tu_presigner_free(NULL);
    tu_presigner_refill(NULL);
    ck_assert_status(tu_presigner_new(party, am, "short", 1, &p), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(tu_presigner_new(party, am, NULL, 0, &p), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(tu_presigner_new(NULL, am, NULL, 1, &p), TEEU_ERR_INVALID_ARGUMENT);
}
END_TEST

START_TEST(config_presign_setting)
{
    teeu_config cfg;
    teeu_config_init(&cfg);
    ck_assert_int_eq(cfg.presign, TEEU_PRESIGN_DEFAULT);
    static const char *base = "{\"party\": \"a\", \"party_key_pair\": {\"a\": {\"private_key\": \"k\"}},"
                              " \"auth_manager_config\": {\"host\": \"h:1\"}, \"teeu\": {\"address\": \"h:2\"}";
    char json[512];
    tu_client_config c;
    snprintf(json, sizeof json, "%s}", base);
    ck_assert_ok(tu_client_config_parse(json, strlen(json), NULL, "t.json", &c));
    ck_assert_int_eq(c.cfg.presign, TEEU_PRESIGN_DEFAULT);
    tu_client_config_clear(&c);
    snprintf(json, sizeof json, "%s, \"presign\": 0}", base);
    ck_assert_ok(tu_client_config_parse(json, strlen(json), NULL, "t.json", &c));
    ck_assert_int_eq(c.cfg.presign, 0);
    tu_client_config_clear(&c);
    snprintf(json, sizeof json, "%s, \"presign\": 64}", base);
    ck_assert_ok(tu_client_config_parse(json, strlen(json), NULL, "t.json", &c));
    ck_assert_int_eq(c.cfg.presign, 64);
    tu_client_config_clear(&c);
    static const char *bad[] = {"65", "-1", "\"2\"", "1.5"};
    for (size_t i = 0; i < TU_ARRAY_LEN(bad); i++) {
        snprintf(json, sizeof json, "%s, \"presign\": %s}", base, bad[i]);
        ck_assert_status(tu_client_config_parse(json, strlen(json), NULL, "t.json", &c), TEEU_ERR_CONFIG);
        ck_assert_ptr_nonnull(strstr(teeu_last_error(), "presign"));
    }
}
END_TEST

static Suite *presign_suite(void)
{
    Suite *s = suite_create("client_presign");
    TCase *t = tcase_create("pool");
    tcase_set_timeout(t, 300);
    tcase_add_unchecked_fixture(t, keys_setup, keys_teardown);
    tcase_add_test(t, pool_fills_speculates_and_counts);
    tcase_add_test(t, take_from_an_empty_pool_and_stop_at_once);
    tcase_add_test(t, config_presign_setting);
    suite_add_tcase(s, t);
    return s;
}

TU_CHECK_MAIN(presign_suite)
