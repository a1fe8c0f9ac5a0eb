/*
 * attest layer: the real DCAP sample (verdict, expiry, tampering), the
 * simulation authority end to end, revocation, foreign roots, policy rules,
 * unified attestation reports, and bounded parsing of truncated/oversized
 * quotes, certificate chains and collateral.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest/attest_internal.h"
#include "tu_check.h"

/* 2025-07-01T00:00:00Z: inside the sample collateral's validity window. */
#define SAMPLE_TIME INT64_C(1751328000)

static const char *const mrenclave_hex =
    "33D8736DB756ED4997E04BA358D27833188F1932FF7B1D156904D3F560452FBB";

static uint8_t *sample_quote;
static size_t sample_quote_len;
static char *sample_coll;
static size_t sample_coll_len;

static void load_sample(void)
{
    char path[1024];
    const char *dir = tu_test_env("TEEU_TESTDATA_DIR", "../shared/testdata");
    uint8_t *d;
    snprintf(path, sizeof path, "%s/dcap/sgx_quote.bin", dir);
    ck_assert_ok(tu_read_file(path, 1 << 20, &sample_quote, &sample_quote_len));
    snprintf(path, sizeof path, "%s/dcap/sgx_quote_collateral.json", dir);
    ck_assert_ok(tu_read_file(path, 1 << 20, &d, &sample_coll_len));
    sample_coll = (char *)d;
}

static void free_sample(void)
{
    free(sample_quote);
    free(sample_coll);
    sample_quote = NULL;
    sample_coll = NULL;
}

static teeu_collateral *sample_collateral(void)
{
    teeu_collateral *c = NULL;
    ck_assert_ok(teeu_collateral_parse(sample_coll, sample_coll_len, &c));
    return c;
}

/* Verifies with the pinned Intel root at time t; returns the status. */
static teeu_status verify_intel(const uint8_t *q, size_t len, const teeu_collateral *c, int64_t t,
                                tu_verdict *v)
{
    teeu_attest_options o;
    teeu_attest_options_init(&o);
    o.verify_time = t;
    tu_verifier ver;
    teeu_status st = tu_verifier_init(&ver, &o);
    ck_assert_int_eq(st, TEEU_OK);
    st = tu_dcap_verify(&ver, q, len, c, v);
    tu_verifier_clear(&ver);
    return st;
}

START_TEST(real_sample_verdict)
{
    teeu_collateral *c = sample_collateral();
    teeu_attest_options o;
    teeu_attest_options_init(&o);
    o.verify_time = SAMPLE_TIME;
    teeu_attest_policy p;
    teeu_attest_policy_init(&p);
    uint8_t mre[32];
    ck_assert_ok(tu_hex_decode_to(mrenclave_hex, 64, mre, 32));
    p.mr_enclave = mre;
    p.report_data = (const uint8_t *)"Hello, world!";
    p.report_data_len = 13;
    teeu_attest_result *r = NULL;
    ck_assert_ok(teeu_attest_verify_quote(sample_quote, sample_quote_len, c, &o, &p, &r));
    ck_assert_str_eq(teeu_attest_result_platform_status(r), "ConfigurationAndSWHardeningNeeded");
    ck_assert_str_eq(teeu_attest_result_qe_status(r), "UpToDate");
    ck_assert_uint_eq(teeu_attest_result_advisory_count(r), 2);
    ck_assert_str_eq(teeu_attest_result_advisory(r, 0), "INTEL-SA-00289");
    ck_assert_str_eq(teeu_attest_result_advisory(r, 1), "INTEL-SA-00615");
    ck_assert_ptr_null(teeu_attest_result_advisory(r, 2));
    ck_assert(memcmp(teeu_attest_result_mr_enclave(r), mre, 32) == 0);
    ck_assert(!teeu_attest_result_debug(r));
    ck_assert(!teeu_attest_result_simulated(r));
    ck_assert(memcmp(teeu_attest_result_report_data(r), "Hello, world!", 13) == 0);
    teeu_attest_result_free(r);
    teeu_collateral_free(c);
}
END_TEST

START_TEST(real_sample_expired_now)
{
    teeu_collateral *c = sample_collateral();
    teeu_attest_result *r = NULL;
    ck_assert_status(teeu_attest_verify_quote(sample_quote, sample_quote_len, c, NULL, NULL, &r),
                     TEEU_ERR_COLLATERAL_EXPIRED);
    ck_assert_ptr_null(r);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "collateral expired"));
    /* Just after the TCB info/QE identity window but with CRLs still valid. */
    tu_verdict v;
    ck_assert_status(verify_intel(sample_quote, sample_quote_len, c, INT64_C(1753000000), &v),
                     TEEU_ERR_COLLATERAL_EXPIRED);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "nextUpdate"));
    teeu_collateral_free(c);
}
END_TEST

START_TEST(real_sample_before_certificates)
{
    teeu_collateral *c = sample_collateral();
    tu_verdict v;
    /* 2017-01-01: before even the Intel root's notBefore. */
    ck_assert_status(verify_intel(sample_quote, sample_quote_len, c, INT64_C(1483228800), &v),
                     TEEU_ERR_CERT_EXPIRED);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "not valid at the verification time"));
    teeu_collateral_free(c);
}
END_TEST

/* Offsets in the sample quote (DCAP.md layout). */
#define OFF_ISV_BODY 48
#define OFF_SIG 436
#define OFF_ATT_KEY (OFF_SIG + 64)
#define OFF_QE_REPORT (OFF_SIG + 128)
#define OFF_QE_AUTH (OFF_SIG + 576 + 2)

static teeu_status verify_flipped(size_t off, uint8_t mask)
{
    uint8_t *q = tu_memdup(sample_quote, sample_quote_len);
    q[off] ^= mask;
    teeu_collateral *c = sample_collateral();
    tu_verdict v;
    teeu_status st = verify_intel(q, sample_quote_len, c, SAMPLE_TIME, &v);
    teeu_collateral_free(c);
    free(q);
    return st;
}

START_TEST(tamper_quote)
{
    ck_assert_status(verify_flipped(OFF_ISV_BODY + 100, 0x01), TEEU_ERR_QUOTE_SIGNATURE);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "ISV enclave report signature"));
    ck_assert_status(verify_flipped(OFF_ISV_BODY + 320, 0x80), TEEU_ERR_QUOTE_SIGNATURE);
    ck_assert_status(verify_flipped(3, 0x00 + 0x01), TEEU_ERR_QUOTE_FORMAT); /* key type */
    ck_assert_status(verify_flipped(20, 0x01), TEEU_ERR_QUOTE_SIGNATURE);    /* header is signed */
    ck_assert_status(verify_flipped(OFF_QE_REPORT + 10, 0x01), TEEU_ERR_QUOTE_SIGNATURE);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "QE report signature"));
    ck_assert_status(verify_flipped(OFF_ATT_KEY + 5, 0x01), TEEU_ERR_QUOTE_SIGNATURE);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "bind the attestation key"));
    ck_assert_status(verify_flipped(OFF_QE_AUTH + 3, 0x01), TEEU_ERR_QUOTE_SIGNATURE);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "bind the attestation key"));
    ck_assert_status(verify_flipped(OFF_SIG + 10, 0x01), TEEU_ERR_QUOTE_SIGNATURE);
}
END_TEST

/* Every flipped byte before the certificate data is refused; none crashes. */
START_TEST(every_byte_flip_refused)
{
    tu_quote q;
    ck_assert_ok(tu_quote_parse(sample_quote, sample_quote_len, &q));
    size_t cert_off = (size_t)(q.cert_data - sample_quote);
    teeu_collateral *c = sample_collateral();
    uint8_t *t = tu_memdup(sample_quote, sample_quote_len);
    for (size_t i = 0; i < sample_quote_len; i += (i < cert_off ? 3 : 41)) {
        t[i] ^= 0x20;
        tu_verdict v;
        teeu_status st = verify_intel(t, sample_quote_len, c, SAMPLE_TIME, &v);
        if (i < cert_off)
            ck_assert_msg(st != TEEU_OK, "flip at byte %zu accepted", i);
        t[i] ^= 0x20;
    }
    free(t);
    teeu_collateral_free(c);
}
END_TEST

START_TEST(tamper_pck_certificate)
{
    tu_quote q;
    ck_assert_ok(tu_quote_parse(sample_quote, sample_quote_len, &q));
    size_t base = (size_t)(q.cert_data - sample_quote);
    /* Change base64 characters inside the leaf's to-be-signed part. */
    for (size_t k = 300; k < 700; k += 97) {
        uint8_t *t = tu_memdup(sample_quote, sample_quote_len);
        uint8_t ch = t[base + k];
        if (ch == '\n' || ch == '-') {
            free(t);
            continue;
        }
        t[base + k] = ch == 'A' ? 'B' : 'A';
        teeu_collateral *c = sample_collateral();
        tu_verdict v;
        ck_assert_status(verify_intel(t, sample_quote_len, c, SAMPLE_TIME, &v), TEEU_ERR_CERT_CHAIN);
        teeu_collateral_free(c);
        free(t);
    }
}
END_TEST

START_TEST(tamper_collateral_bodies)
{
    teeu_collateral *c = sample_collateral();
    tu_verdict v;
    char *p = strstr(c->tcb_info, "\"tcbEvaluationDataNumber\":17");
    ck_assert_ptr_nonnull(p);
    p[strlen("\"tcbEvaluationDataNumber\":1")] = '8';
    ck_assert_status(verify_intel(sample_quote, sample_quote_len, c, SAMPLE_TIME, &v),
                     TEEU_ERR_COLLATERAL_SIGNATURE);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "TCB info signature"));
    teeu_collateral_free(c);

    c = sample_collateral();
    p = strstr(c->qe_identity, "\"isvsvn\":8");
    ck_assert_ptr_nonnull(p);
    p[strlen("\"isvsvn\":")] = '7';
    ck_assert_status(verify_intel(sample_quote, sample_quote_len, c, SAMPLE_TIME, &v),
                     TEEU_ERR_COLLATERAL_SIGNATURE);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "QE identity signature"));
    teeu_collateral_free(c);

    c = sample_collateral();
    c->tcb_info_sig[5] ^= 1;
    ck_assert_status(verify_intel(sample_quote, sample_quote_len, c, SAMPLE_TIME, &v),
                     TEEU_ERR_COLLATERAL_SIGNATURE);
    teeu_collateral_free(c);
}
END_TEST

START_TEST(real_sample_policy_rules)
{
    teeu_collateral *c = sample_collateral();
    teeu_attest_options o;
    teeu_attest_options_init(&o);
    o.verify_time = SAMPLE_TIME;
    teeu_attest_policy p;
    teeu_attest_result *r = NULL;
    uint8_t other[32] = {1};

    teeu_attest_policy_init(&p);
    p.mr_enclave = other;
    ck_assert_status(teeu_attest_verify_quote(sample_quote, sample_quote_len, c, &o, &p, &r),
                     TEEU_ERR_POLICY);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "MRENCLAVE"));
    ck_assert_ptr_nonnull(r); /* identity still shown */
    teeu_attest_result_free(r);

    teeu_attest_policy_init(&p);
    p.mr_signer = other;
    ck_assert_status(teeu_attest_verify_quote(sample_quote, sample_quote_len, c, &o, &p, &r),
                     TEEU_ERR_POLICY);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "MRSIGNER"));
    teeu_attest_result_free(r);

    teeu_attest_policy_init(&p);
    p.isv_prod_id = 7;
    ck_assert_status(teeu_attest_verify_quote(sample_quote, sample_quote_len, c, &o, &p, &r),
                     TEEU_ERR_POLICY);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "isv_prod_id"));
    teeu_attest_result_free(r);

    teeu_attest_policy_init(&p);
    p.min_isv_svn = 1;
    ck_assert_status(teeu_attest_verify_quote(sample_quote, sample_quote_len, c, &o, &p, &r),
                     TEEU_ERR_POLICY);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "isv_svn"));
    teeu_attest_result_free(r);

    teeu_attest_policy_init(&p);
    p.report_data = (const uint8_t *)"Hello, world?";
    p.report_data_len = 13;
    ck_assert_status(teeu_attest_verify_quote(sample_quote, sample_quote_len, c, &o, &p, &r),
                     TEEU_ERR_REPORT_DATA);
    teeu_attest_result_free(r);

    teeu_attest_policy_init(&p);
    p.accepted_statuses = TEEU_TCB_UP_TO_DATE;
    ck_assert_status(teeu_attest_verify_quote(sample_quote, sample_quote_len, c, &o, &p, &r),
                     TEEU_ERR_TCB_STATUS);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "ConfigurationAndSWHardeningNeeded"));
    teeu_attest_result_free(r);
    teeu_collateral_free(c);
}
END_TEST

START_TEST(quote_truncations_and_oversize)
{
    /* Every prefix, as an exact-size heap copy (ASan sees any overread). */
    for (size_t n = 0; n < sample_quote_len; n += (n < 1200 ? 1 : 37)) {
        uint8_t *t = malloc(n ? n : 1);
        memcpy(t, sample_quote, n);
        tu_quote q;
        ck_assert_status(tu_quote_parse(t, n, &q), TEEU_ERR_QUOTE_FORMAT);
        free(t);
    }
    /* Trailing bytes. */
    uint8_t *big = malloc(sample_quote_len + 16);
    memcpy(big, sample_quote, sample_quote_len);
    memset(big + sample_quote_len, 0, 16);
    tu_quote q;
    ck_assert_status(tu_quote_parse(big, sample_quote_len + 16, &q), TEEU_ERR_QUOTE_FORMAT);
    /* Lying length fields: signature data, QE auth, certification data. */
    big[432] = 0xFF;
    big[435] = 0x7F;
    ck_assert_status(tu_quote_parse(big, sample_quote_len, &q), TEEU_ERR_QUOTE_FORMAT);
    memcpy(big, sample_quote, sample_quote_len);
    big[OFF_QE_AUTH - 2] = 0xFF;
    big[OFF_QE_AUTH - 1] = 0xFF;
    ck_assert_status(tu_quote_parse(big, sample_quote_len, &q), TEEU_ERR_QUOTE_FORMAT);
    memcpy(big, sample_quote, sample_quote_len);
    big[OFF_QE_AUTH + 32 + 5] = 0x7F; /* certification data length, top byte */
    ck_assert_status(tu_quote_parse(big, sample_quote_len, &q), TEEU_ERR_QUOTE_FORMAT);
    free(big);
    ck_assert_status(tu_quote_parse(sample_quote, (size_t)2 << 20, &q), TEEU_ERR_QUOTE_FORMAT);
    ck_assert_ok(tu_quote_parse(sample_quote, sample_quote_len, &q));
    ck_assert_uint_eq(q.qe_auth_len, 32);
    ck_assert_uint_eq(q.cert_type, 5);
}
END_TEST

START_TEST(certificate_and_extension_truncations)
{
    tu_quote q;
    ck_assert_ok(tu_quote_parse(sample_quote, sample_quote_len, &q));
    /* Truncated PEM chains never parse into more than they hold. */
    for (size_t n = 0; n < q.cert_data_len; n += 53) {
        char *t = malloc(n ? n : 1);
        memcpy(t, q.cert_data, n);
        STACK_OF(X509) *chain = NULL;
        teeu_status st = tu_pem_chain_parse(t, n, "test", &chain);
        if (st == TEEU_OK)
            sk_X509_pop_free(chain, X509_free);
        else
            ck_assert_int_eq(st, TEEU_ERR_CERT_CHAIN);
        free(t);
    }
    STACK_OF(X509) *chain = NULL;
    ck_assert_ok(tu_pem_chain_parse((const char *)q.cert_data, q.cert_data_len, "test", &chain));
    ck_assert_int_eq(sk_X509_num(chain), 3);
    tu_sgx_ext ext;
    ck_assert_ok(tu_sgx_ext_from_cert(sk_X509_value(chain, 0), &ext));
    char fmspc[13];
    tu_hex_encode_to(ext.fmspc, 6, true, fmspc);
    ck_assert_str_eq(fmspc, "00A067110000");
    /* Every truncation of the extension's DER fails cleanly. */
    ASN1_OBJECT *obj = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
    int idx = X509_get_ext_by_OBJ(sk_X509_value(chain, 0), obj, -1);
    ASN1_OBJECT_free(obj);
    const ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(X509_get_ext(sk_X509_value(chain, 0), idx));
    size_t len = (size_t)ASN1_STRING_length(os);
    for (size_t n = 0; n < len; n++) {
        uint8_t *t = malloc(n ? n : 1);
        memcpy(t, ASN1_STRING_get0_data(os), n);
        ck_assert_status(tu_sgx_ext_parse(t, n, &ext), TEEU_ERR_CERT_CHAIN);
        free(t);
    }
    /* A long-form length claiming more than present. */
    uint8_t liar[] = {0x30, 0x83, 0xFF, 0xFF, 0xFF, 0x00};
    ck_assert_status(tu_sgx_ext_parse(liar, sizeof liar, &ext), TEEU_ERR_CERT_CHAIN);
    sk_X509_pop_free(chain, X509_free);
    /* Encoder and parser agree. */
    tu_sgx_ext in = {.pce_svn = 300, .pce_id = {0, 1}, .fmspc = {1, 2, 3, 4, 5, 6}};
    for (int i = 0; i < 16; i++)
        in.comp_svn[i] = (uint8_t)(i * 17);
    uint8_t ppid[16] = {0};
    tu_buf der = {0};
    ck_assert_ok(tu_sgx_ext_encode(&in, ppid, &der));
    tu_sgx_ext out;
    ck_assert_ok(tu_sgx_ext_parse(der.data, der.len, &out));
    ck_assert(memcmp(&in, &out, sizeof in) == 0);
    tu_buf_free(&der);
}
END_TEST

START_TEST(oversized_inputs)
{
    tu_quote q;
    ck_assert_ok(tu_quote_parse(sample_quote, sample_quote_len, &q));
    /* Ten copies of the chain: too many certificates. */
    size_t n = q.cert_data_len * 10;
    char *many = malloc(n);
    for (int i = 0; i < 10; i++)
        memcpy(many + (size_t)i * q.cert_data_len, q.cert_data, q.cert_data_len);
    STACK_OF(X509) *chain = NULL;
    ck_assert_status(tu_pem_chain_parse(many, n, "test", &chain), TEEU_ERR_CERT_CHAIN);
    free(many);
    /* A chain text above the size bound. */
    size_t big = (size_t)300 << 10;
    char *huge = malloc(big);
    memset(huge, 'A', big);
    memcpy(huge, q.cert_data, q.cert_data_len);
    ck_assert_status(tu_pem_chain_parse(huge, big, "test", &chain), TEEU_ERR_CERT_CHAIN);
    /* A quote whose certification data is that large (valid lengths throughout). */
    size_t qlen = 436 + 576 + 2 + 32 + 6 + big;
    uint8_t *qb = calloc(1, qlen);
    memcpy(qb, sample_quote, 436 + 576 + 2 + 32);
    uint32_t sig_len = (uint32_t)(qlen - 436), cert_len = (uint32_t)big;
    memcpy(qb + 432, &sig_len, 4); /* little-endian host */
    qb[436 + 576 + 2 + 32] = 5;
    memcpy(qb + 436 + 576 + 2 + 32 + 2, &cert_len, 4);
    memcpy(qb + 436 + 576 + 2 + 32 + 6, huge, big);
    ck_assert_ok(tu_quote_parse(qb, qlen, &q));
    teeu_collateral *c = sample_collateral();
    tu_verdict v;
    ck_assert_status(verify_intel(qb, qlen, c, SAMPLE_TIME, &v), TEEU_ERR_CERT_CHAIN);
    teeu_collateral_free(c);
    free(qb);
    free(huge);
    /* Collateral JSON above its bound, and a CRL that is not one. */
    size_t cbig = (size_t)9 << 20;
    char *cj = malloc(cbig);
    memset(cj, ' ', cbig);
    teeu_collateral *cc = NULL;
    ck_assert_status(teeu_collateral_parse(cj, cbig, &cc), TEEU_ERR_COLLATERAL_FORMAT);
    free(cj);
    X509_CRL *crl = NULL;
    ck_assert_status(tu_crl_parse((const uint8_t *)"3082", 4, "test", &crl), TEEU_ERR_COLLATERAL_FORMAT);
    ck_assert_status(tu_crl_parse((const uint8_t *)"zz", 2, "test", &crl), TEEU_ERR_COLLATERAL_FORMAT);
    /* Hex with a trailing newline (as a PCCS may send it) is fine. */
    teeu_collateral *sc = sample_collateral();
    char *hex = NULL;
    ck_assert_ok(tu_hex_encode(sc->root_crl_der, sc->root_crl_der_len, false, &hex));
    size_t hl = strlen(hex);
    char *nl = malloc(hl + 2);
    memcpy(nl, hex, hl);
    nl[hl] = '\n';
    ck_assert_ok(tu_crl_parse((const uint8_t *)nl, hl + 1, "test", &crl));
    X509_CRL_free(crl);
    free(nl);
    free(hex);
    teeu_collateral_free(sc);
}
END_TEST

START_TEST(collateral_truncations)
{
    for (size_t n = 0; n < sample_coll_len; n += 211) {
        char *t = malloc(n ? n : 1);
        memcpy(t, sample_coll, n);
        teeu_collateral *c = NULL;
        ck_assert_status(teeu_collateral_parse(t, n, &c), TEEU_ERR_COLLATERAL_FORMAT);
        ck_assert_ptr_null(c);
        free(t);
    }
    /* Serialize and re-parse: verifies the same. */
    teeu_collateral *c = sample_collateral();
    char *json = NULL;
    ck_assert_ok(teeu_collateral_to_json(c, &json));
    teeu_collateral *c2 = NULL;
    ck_assert_ok(teeu_collateral_parse(json, strlen(json), &c2));
    tu_verdict v;
    ck_assert_ok(verify_intel(sample_quote, sample_quote_len, c2, SAMPLE_TIME, &v));
    teeu_collateral_free(c2);
    teeu_collateral_free(c);
    free(json);
}
END_TEST

/* ---- simulation ------------------------------------------------------------ */

static char sim_dir[64];
static char sim_dir2[64];

static void make_sim_dirs(void)
{
    snprintf(sim_dir, sizeof sim_dir, "/tmp/teeu-sim-XXXXXX");
    snprintf(sim_dir2, sizeof sim_dir2, "/tmp/teeu-sim-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(sim_dir));
    ck_assert_ptr_nonnull(mkdtemp(sim_dir2));
    ck_assert_ok(tu_sim_authority_create(sim_dir));
    ck_assert_ok(tu_sim_authority_create(sim_dir2));
}

static void rm_dir(const char *d)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    ck_assert_int_eq(system(cmd), 0);
}

static void sim_quote(tu_sim_authority *a, bool debug, uint8_t **q, size_t *len)
{
    uint8_t mre[32], mrs[32], rd[64];
    memset(mre, 0xAB, 32);
    memset(mrs, 0xCD, 32);
    memset(rd, 0x5A, 64);
    tu_sim_quote_params p = {.mr_enclave = mre, .mr_signer = mrs, .report_data = rd,
                             .report_data_len = 64, .isv_prod_id = 3, .isv_svn = 9, .debug = debug};
    ck_assert_ok(tu_sim_quote(a, &p, q, len));
}

static teeu_status verify_sim(const uint8_t *q, size_t len, const char *coll, const char *root_pem,
                              bool simulation, const teeu_attest_policy *p, teeu_attest_result **r)
{
    teeu_collateral *c = NULL;
    ck_assert_ok(teeu_collateral_parse(coll, strlen(coll), &c));
    teeu_attest_options o;
    teeu_attest_options_init(&o);
    o.simulation = simulation;
    o.sim_root_pem = root_pem;
    teeu_status st = teeu_attest_verify_quote(q, len, c, &o, p, r);
    teeu_collateral_free(c);
    return st;
}

START_TEST(simulation_end_to_end)
{
    make_sim_dirs();
    tu_sim_authority *a = NULL;
    ck_assert_ok(tu_sim_authority_load(sim_dir, &a));
    uint8_t *q;
    size_t len;
    sim_quote(a, false, &q, &len);
    teeu_attest_result *r = NULL;
    teeu_attest_policy p;
    teeu_attest_policy_init(&p);
    uint8_t mre[32];
    memset(mre, 0xAB, 32);
    p.mr_enclave = mre;
    p.isv_prod_id = 3;
    p.min_isv_svn = 9;
    ck_assert_ok(verify_sim(q, len, tu_sim_collateral_json(a), tu_sim_root_pem(a), true, &p, &r));
    ck_assert_str_eq(teeu_attest_result_platform_status(r), "UpToDate");
    ck_assert_str_eq(teeu_attest_result_qe_status(r), "UpToDate");
    ck_assert(teeu_attest_result_simulated(r));
    ck_assert_uint_eq(teeu_attest_result_isv_svn(r), 9);
    ck_assert_uint_eq(teeu_attest_result_isv_prod_id(r), 3);
    teeu_attest_result_free(r);
    r = NULL;
    /* Simulation off: the pinned Intel root does not accept it. */
    ck_assert_status(verify_sim(q, len, tu_sim_collateral_json(a), NULL, false, NULL, &r),
                     TEEU_ERR_SIMULATION_ONLY);
    ck_assert_ptr_null(r);
    /* A simulation root without simulation on is refused outright. */
    ck_assert_status(verify_sim(q, len, tu_sim_collateral_json(a), tu_sim_root_pem(a), false, NULL, &r),
                     TEEU_ERR_SIMULATION_ONLY);
    /* open() loads an existing authority (same root) and creates a missing one. */
    tu_sim_authority *same = NULL;
    ck_assert_ok(tu_sim_authority_open(sim_dir, &same));
    ck_assert_str_eq(tu_sim_root_pem(same), tu_sim_root_pem(a));
    tu_sim_authority_free(same);
    char fresh[128];
    snprintf(fresh, sizeof fresh, "%s/new", sim_dir);
    ck_assert_ok(tu_sim_authority_open(fresh, &same));
    ck_assert_str_ne(tu_sim_root_pem(same), tu_sim_root_pem(a));
    tu_sim_authority_free(same);
    /* Another authority's root does not accept this authority's quote. */
    tu_sim_authority *b = NULL;
    ck_assert_ok(tu_sim_authority_load(sim_dir2, &b));
    ck_assert_status(verify_sim(q, len, tu_sim_collateral_json(a), tu_sim_root_pem(b), true, NULL, &r),
                     TEEU_ERR_CERT_CHAIN);
    /* Debug quotes are refused unless allowed. */
    free(q);
    sim_quote(a, true, &q, &len);
    ck_assert_status(verify_sim(q, len, tu_sim_collateral_json(a), tu_sim_root_pem(a), true, NULL, &r),
                     TEEU_ERR_POLICY);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "DEBUG"));
    ck_assert(teeu_attest_result_debug(r));
    teeu_attest_result_free(r);
    teeu_attest_policy_init(&p);
    p.allow_debug = true;
    ck_assert_ok(verify_sim(q, len, tu_sim_collateral_json(a), tu_sim_root_pem(a), true, &p, &r));
    teeu_attest_result_free(r);
    free(q);
    tu_sim_authority_free(a);
    tu_sim_authority_free(b);
    rm_dir(sim_dir);
    rm_dir(sim_dir2);
}
END_TEST

START_TEST(simulation_revoked_pck)
{
    make_sim_dirs();
    tu_sim_authority *a = NULL;
    ck_assert_ok(tu_sim_authority_load(sim_dir, &a));
    ck_assert_ok(tu_sim_authority_revoke_pck(a));
    uint8_t *q;
    size_t len;
    sim_quote(a, false, &q, &len);
    teeu_attest_result *r = NULL;
    ck_assert_status(verify_sim(q, len, tu_sim_collateral_json(a), tu_sim_root_pem(a), true, NULL, &r),
                     TEEU_ERR_REVOKED);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "PCK CRL"));
    /* The revocation survives a reload. */
    tu_sim_authority_free(a);
    ck_assert_ok(tu_sim_authority_load(sim_dir, &a));
    ck_assert_status(verify_sim(q, len, tu_sim_collateral_json(a), tu_sim_root_pem(a), true, NULL, &r),
                     TEEU_ERR_REVOKED);
    free(q);
    tu_sim_authority_free(a);
    rm_dir(sim_dir);
    rm_dir(sim_dir2);
}
END_TEST

/* Collateral whose TCB info chain is another root with the very same name. */
START_TEST(collateral_chain_rooted_elsewhere)
{
    make_sim_dirs();
    tu_sim_authority *a = NULL, *b = NULL;
    ck_assert_ok(tu_sim_authority_load(sim_dir, &a));
    ck_assert_ok(tu_sim_authority_load(sim_dir2, &b));
    uint8_t *q;
    size_t len;
    sim_quote(a, false, &q, &len);
    teeu_collateral *ca = NULL, *cb = NULL;
    ck_assert_ok(teeu_collateral_parse(tu_sim_collateral_json(a), strlen(tu_sim_collateral_json(a)), &ca));
    ck_assert_ok(teeu_collateral_parse(tu_sim_collateral_json(b), strlen(tu_sim_collateral_json(b)), &cb));
    /* Swap in B's TCB info, signature and chain (B's root is named like A's). */
    STACK_OF(X509) *tmp = ca->tcb_info_chain;
    ca->tcb_info_chain = cb->tcb_info_chain;
    cb->tcb_info_chain = tmp;
    char *body = ca->tcb_info;
    size_t body_len = ca->tcb_info_len;
    ca->tcb_info = cb->tcb_info;
    ca->tcb_info_len = cb->tcb_info_len;
    cb->tcb_info = body;
    cb->tcb_info_len = body_len;
    memcpy(ca->tcb_info_sig, cb->tcb_info_sig, 64);
    teeu_attest_options o;
    teeu_attest_options_init(&o);
    o.simulation = true;
    o.sim_root_pem = tu_sim_root_pem(a);
    teeu_attest_result *r = NULL;
    ck_assert_status(teeu_attest_verify_quote(q, len, ca, &o, NULL, &r), TEEU_ERR_CERT_CHAIN);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "TCB info issuer chain"));
    /* Same without B's root in the chain: the signature check catches it. */
    X509_free(sk_X509_pop(ca->tcb_info_chain));
    ck_assert_status(teeu_attest_verify_quote(q, len, ca, &o, NULL, &r), TEEU_ERR_CERT_CHAIN);
    /* And the real sample with a simulation TCB chain under the Intel root. */
    teeu_collateral *real = sample_collateral();
    tmp = real->tcb_info_chain;
    real->tcb_info_chain = cb->tcb_info_chain;
    cb->tcb_info_chain = tmp;
    tu_verdict v;
    ck_assert_status(verify_intel(sample_quote, sample_quote_len, real, SAMPLE_TIME, &v),
                     TEEU_ERR_SIMULATION_ONLY);
    teeu_collateral_free(real);
    teeu_collateral_free(ca);
    teeu_collateral_free(cb);
    free(q);
    tu_sim_authority_free(a);
    tu_sim_authority_free(b);
    rm_dir(sim_dir);
    rm_dir(sim_dir2);
}
END_TEST

/* Re-signs crafted TCB info / QE identity bodies with the authority's TCB key. */
static EVP_PKEY *load_tcb_key(const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/tcb_signer.key", dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_ptr_nonnull(k);
    return k;
}

static teeu_status verify_crafted(tu_sim_authority *a, EVP_PKEY *key, const uint8_t *q, size_t len,
                                  const char *tcb_info, const char *qe_identity, tu_verdict *v)
{
    teeu_collateral *c = NULL;
    const char *cj = tu_sim_collateral_json(a);
    ck_assert_ok(teeu_collateral_parse(cj, strlen(cj), &c));
    if (tcb_info != NULL) {
        free(c->tcb_info);
        c->tcb_info = tu_strdup(tcb_info);
        c->tcb_info_len = strlen(tcb_info);
        ck_assert_ok(tu_ecdsa_sign_raw(key, (const uint8_t *)tcb_info, c->tcb_info_len, c->tcb_info_sig));
    }
    if (qe_identity != NULL) {
        free(c->qe_identity);
        c->qe_identity = tu_strdup(qe_identity);
        c->qe_identity_len = strlen(qe_identity);
        ck_assert_ok(tu_ecdsa_sign_raw(key, (const uint8_t *)qe_identity, c->qe_identity_len,
                                       c->qe_identity_sig));
    }
    teeu_attest_options o;
    teeu_attest_options_init(&o);
    o.simulation = true;
    o.sim_root_pem = tu_sim_root_pem(a);
    tu_verifier ver;
    ck_assert_ok(tu_verifier_init(&ver, &o));
    teeu_status st = tu_dcap_verify(&ver, q, len, c, v);
    tu_verifier_clear(&ver);
    teeu_collateral_free(c);
    return st;
}

#define TCB_HEAD "{\"id\":\"SGX\",\"version\":3,\"issueDate\":\"2020-01-01T00:00:00Z\",\"nextUpdate\":\"2099-01-01T00:00:00Z\",\"fmspc\":\"00906ED50000\",\"pceId\":\"0000\",\"tcbType\":0,\"tcbLevels\":"
#define COMPS16(a, b) "[{\"svn\":" #a "},{\"svn\":" #b "},{\"svn\":3},{\"svn\":3},{\"svn\":255},{\"svn\":255},{\"svn\":0},{\"svn\":0},{\"svn\":0},{\"svn\":0},{\"svn\":0},{\"svn\":0},{\"svn\":0},{\"svn\":0},{\"svn\":0},{\"svn\":0}]"

START_TEST(crafted_collateral_bodies)
{
    make_sim_dirs();
    tu_sim_authority *a = NULL;
    ck_assert_ok(tu_sim_authority_load(sim_dir, &a));
    EVP_PKEY *key = load_tcb_key(sim_dir);
    uint8_t *q;
    size_t len;
    sim_quote(a, false, &q, &len);
    tu_verdict v;
    /* Level selection: the first level at or below the platform wins (v3). */
    const char *levels =
        TCB_HEAD "[{\"tcb\":{\"sgxtcbcomponents\":" COMPS16(5, 4) ",\"pcesvn\":13},\"tcbStatus\":\"UpToDate\"},"
                 "{\"tcb\":{\"sgxtcbcomponents\":" COMPS16(4, 4) ",\"pcesvn\":14},\"tcbStatus\":\"SWHardeningNeeded\"},"
                 "{\"tcb\":{\"sgxtcbcomponents\":" COMPS16(4, 4) ",\"pcesvn\":13},\"tcbStatus\":\"ConfigurationNeeded\",\"advisoryIDs\":[\"X-2\",\"X-1\",\"X-2\"]},"
                 "{\"tcb\":{\"sgxtcbcomponents\":" COMPS16(1, 1) ",\"pcesvn\":1},\"tcbStatus\":\"OutOfDate\"}]}";
    ck_assert_ok(verify_crafted(a, key, q, len, levels, NULL, &v));
    ck_assert_str_eq(v.platform_status, "ConfigurationNeeded");
    ck_assert_uint_eq(v.advisory_count, 2);
    ck_assert_str_eq(v.advisories[0], "X-1");
    /* TCB info v2 level format. */
    const char *v2 =
        "{\"version\":2,\"issueDate\":\"2020-01-01T00:00:00Z\",\"nextUpdate\":\"2099-01-01T00:00:00Z\","
        "\"fmspc\":\"00906ed50000\",\"pceId\":\"0000\",\"tcbLevels\":[{\"tcb\":{\"sgxtcbcomp01svn\":4,"
        "\"sgxtcbcomp02svn\":4,\"sgxtcbcomp03svn\":3,\"sgxtcbcomp04svn\":3,\"sgxtcbcomp05svn\":255,"
        "\"sgxtcbcomp06svn\":255,\"sgxtcbcomp07svn\":0,\"sgxtcbcomp08svn\":0,\"sgxtcbcomp09svn\":0,"
        "\"sgxtcbcomp10svn\":0,\"sgxtcbcomp11svn\":0,\"sgxtcbcomp12svn\":0,\"sgxtcbcomp13svn\":0,"
        "\"sgxtcbcomp14svn\":0,\"sgxtcbcomp15svn\":0,\"sgxtcbcomp16svn\":0,\"pcesvn\":13},"
        "\"tcbStatus\":\"OutOfDateConfigurationNeeded\"}]}";
    ck_assert_ok(verify_crafted(a, key, q, len, v2, NULL, &v));
    ck_assert_str_eq(v.platform_status, "OutOfDateConfigurationNeeded");

    struct { const char *body; teeu_status want; const char *msg; } bad[] = {
        {TCB_HEAD "[]}", TEEU_ERR_TCB_STATUS, "no TCB level"},
        {TCB_HEAD "[{\"tcb\":{\"sgxtcbcomponents\":" COMPS16(9, 9) ",\"pcesvn\":13},\"tcbStatus\":\"UpToDate\"}]}",
         TEEU_ERR_TCB_STATUS, "no TCB level"},
        {TCB_HEAD "[{\"tcb\":{\"sgxtcbcomponents\":" COMPS16(1, 1) ",\"pcesvn\":13},\"tcbStatus\":\"Great\"}]}",
         TEEU_ERR_TCB_STATUS, "unknown tcbStatus"},
        {TCB_HEAD "[{\"tcb\":{\"sgxtcbcomponents\":" COMPS16(1, 256) ",\"pcesvn\":13},\"tcbStatus\":\"UpToDate\"}]}",
         TEEU_ERR_COLLATERAL_FORMAT, "svn"},
        {TCB_HEAD "[{\"tcb\":{\"sgxtcbcomponents\":[{\"svn\":1}],\"pcesvn\":13},\"tcbStatus\":\"UpToDate\"}]}",
         TEEU_ERR_COLLATERAL_FORMAT, "16"},
        {TCB_HEAD "[{\"tcb\":{\"sgxtcbcomponents\":" COMPS16(1, 1) "},\"tcbStatus\":\"UpToDate\"}]}",
         TEEU_ERR_COLLATERAL_FORMAT, "pcesvn"},
        {TCB_HEAD "{}}", TEEU_ERR_COLLATERAL_FORMAT, "tcbLevels"},
        {"{\"id\":\"TDX\",\"version\":3}", TEEU_ERR_COLLATERAL_FORMAT, "TDX"},
        {"{\"version\":3,\"issueDate\":\"2020-01-01T00:00:00Z\",\"nextUpdate\":\"2021-01-01T00:00:00Z\",\"fmspc\":\"00906ED50000\",\"pceId\":\"0000\",\"tcbLevels\":[]}",
         TEEU_ERR_COLLATERAL_EXPIRED, "TCB info nextUpdate 2021-01-01T00:00:00Z"},
        {"{\"version\":3,\"issueDate\":\"2020-01-01T00:00:00Z\",\"nextUpdate\":\"2099-01-01T00:00:00Z\",\"fmspc\":\"00906ED50001\",\"pceId\":\"0000\",\"tcbLevels\":[]}",
         TEEU_ERR_TCB_STATUS, "FMSPC"},
        {"{\"version\":3,\"issueDate\":\"soon\",\"nextUpdate\":\"2099-01-01T00:00:00Z\"}",
         TEEU_ERR_COLLATERAL_FORMAT, "RFC 3339"},
        {"[1,2,3", TEEU_ERR_COLLATERAL_FORMAT, "TCB info"},
    };
    for (size_t i = 0; i < TU_ARRAY_LEN(bad); i++) {
        ck_assert_msg(verify_crafted(a, key, q, len, bad[i].body, NULL, &v) == bad[i].want,
                      "TCB case %zu: %s", i, teeu_last_error());
        ck_assert_msg(strstr(teeu_last_error(), bad[i].msg) != NULL, "case %zu: %s", i,
                      teeu_last_error());
    }

    /* QE identity rules. */
    tu_quote qq;
    ck_assert_ok(tu_quote_parse(q, len, &qq));
    char mrs[65], other[65];
    tu_hex_encode_to(qq.qe.mr_signer, 32, true, mrs);
    memset(other, '0', 64);
    other[64] = '\0';
    char body[1024];
    struct { const char *mrsigner; int prod; const char *misc; const char *attr; int svn; teeu_status want; } qe[] = {
        {mrs, 1, "00000000", "11000000000000000000000000000000", 8, TEEU_OK},
        {other, 1, "00000000", "11000000000000000000000000000000", 8, TEEU_ERR_QE_IDENTITY},
        {mrs, 2, "00000000", "11000000000000000000000000000000", 8, TEEU_ERR_QE_IDENTITY},
        {mrs, 1, "01000000", "11000000000000000000000000000000", 8, TEEU_ERR_QE_IDENTITY},
        {mrs, 1, "00000000", "13000000000000000000000000000000", 8, TEEU_ERR_QE_IDENTITY},
        {mrs, 1, "00000000", "11000000000000000000000000000000", 9, TEEU_ERR_QE_IDENTITY},
    };
    for (size_t i = 0; i < TU_ARRAY_LEN(qe); i++) {
        snprintf(body, sizeof body,
                 "{\"id\":\"QE\",\"version\":2,\"issueDate\":\"2020-01-01T00:00:00Z\","
                 "\"nextUpdate\":\"2099-01-01T00:00:00Z\",\"miscselect\":\"%s\",\"miscselectMask\":\"FFFFFFFF\","
                 "\"attributes\":\"%s\",\"attributesMask\":\"FBFFFFFFFFFFFFFF0000000000000000\","
                 "\"mrsigner\":\"%s\",\"isvprodid\":%d,\"tcbLevels\":[{\"tcb\":{\"isvsvn\":%d},"
                 "\"tcbStatus\":\"SWHardeningNeeded\",\"advisoryIDs\":[\"Q-1\"]}]}",
                 qe[i].misc, qe[i].attr, qe[i].mrsigner, qe[i].prod, qe[i].svn);
        ck_assert_msg(verify_crafted(a, key, q, len, NULL, body, &v) == qe[i].want, "QE case %zu: %s",
                      i, teeu_last_error());
        if (qe[i].want == TEEU_OK) {
            ck_assert_str_eq(v.qe_status, "SWHardeningNeeded");
            ck_assert_uint_eq(v.advisory_count, 1);
            ck_assert_str_eq(v.advisories[0], "Q-1");
        }
    }
    EVP_PKEY_free(key);
    free(q);
    tu_sim_authority_free(a);
    rm_dir(sim_dir);
    rm_dir(sim_dir2);
}
END_TEST

/* ---- unified attestation reports -------------------------------------------- */

START_TEST(unified_report)
{
    teeu_collateral *c = sample_collateral();
    char *coll_json = NULL;
    ck_assert_ok(teeu_collateral_to_json(c, &coll_json));
    char *report = NULL;
    ck_assert_ok(tu_ua_report_make(sample_quote, sample_quote_len, coll_json, &report));
    tu_ua_report ua;
    ck_assert_ok(tu_ua_report_parse(report, strlen(report), &ua));
    ck_assert_str_eq(ua.report_type, "Passport");
    ck_assert_uint_eq(ua.quote_len, sample_quote_len);
    ck_assert(memcmp(ua.quote, sample_quote, ua.quote_len) == 0);
    tu_ua_report_clear(&ua);

    tu_ua_attributes attrs = {.hex_ta_measurement = mrenclave_hex, .bool_debug_disabled = "true",
                              .str_min_isvsvn = "0", .hex_prod_id = "0",
                              .hex_user_data = "48656C6C6F2C20776F726C6421"};
    uint8_t storage[128];
    teeu_attest_policy p;
    ck_assert_ok(tu_ua_attributes_to_policy(&attrs, storage, &p));
    teeu_attest_options o;
    teeu_attest_options_init(&o);
    o.verify_time = SAMPLE_TIME;
    teeu_attest_result *r = NULL;
    ck_assert_ok(teeu_attest_verify_ua_report(report, strlen(report), NULL, &o, &p, &r));
    teeu_attest_result_free(r);
    attrs.hex_user_data = "00";
    ck_assert_ok(tu_ua_attributes_to_policy(&attrs, storage, &p));
    ck_assert_status(teeu_attest_verify_ua_report(report, strlen(report), NULL, &o, &p, &r),
                     TEEU_ERR_REPORT_DATA);
    teeu_attest_result_free(r);
    attrs.hex_ta_measurement = "1234";
    ck_assert_status(tu_ua_attributes_to_policy(&attrs, storage, &p), TEEU_ERR_CONFIG);

    /* BackgroundCheck: no collateral inside, the verifier brings it. */
    char *bg = NULL;
    ck_assert_ok(tu_ua_report_make(sample_quote, sample_quote_len, NULL, &bg));
    ck_assert_ptr_nonnull(strstr(bg, "BackgroundCheck"));
    ck_assert_status(teeu_attest_verify_ua_report(bg, strlen(bg), NULL, &o, NULL, &r), TEEU_ERR_CONFIG);
    ck_assert_ok(teeu_attest_verify_ua_report(bg, strlen(bg), c, &o, NULL, &r));
    teeu_attest_result_free(r);
    /* Truncations of the report are refused cleanly. */
    size_t rl = strlen(report);
    for (size_t n = 0; n < rl; n += 331) {
        char *t = malloc(n ? n : 1);
        memcpy(t, report, n);
        ck_assert_int_ne(tu_ua_report_parse(t, n, &ua), TEEU_OK);
        free(t);
    }
    const char *other = "{\"str_report_version\":\"1.0\",\"str_report_type\":\"Passport\","
                        "\"str_tee_platform\":\"HyperEnclave\",\"json_report\":\"{}\"}";
    ck_assert_status(tu_ua_report_parse(other, strlen(other), &ua), TEEU_ERR_UNSUPPORTED);
    free(bg);
    free(report);
    free(coll_json);
    teeu_collateral_free(c);
}
END_TEST

START_TEST(unified_report_protobuf)
{
    teeu_collateral *c = sample_collateral();
    char *coll_json = NULL;
    ck_assert_ok(teeu_collateral_to_json(c, &coll_json));
    Secretflowapis__V1__Sdc__UnifiedAttestationReport m;
    ck_assert_ok(tu_ua_report_to_pb(sample_quote, sample_quote_len, coll_json, &m));
    ck_assert_str_eq(m.str_tee_platform, "SGX_DCAP");
    /* Over the wire and back. */
    size_t n = secretflowapis__v1__sdc__unified_attestation_report__get_packed_size(&m);
    uint8_t *wire = malloc(n);
    secretflowapis__v1__sdc__unified_attestation_report__pack(&m, wire);
    tu_ua_report_pb_clear(&m);
    Secretflowapis__V1__Sdc__UnifiedAttestationReport *back =
        secretflowapis__v1__sdc__unified_attestation_report__unpack(NULL, n, wire);
    ck_assert_ptr_nonnull(back);
    tu_ua_report ua;
    ck_assert_ok(tu_ua_report_from_pb(back, &ua));
    teeu_collateral *c2 = NULL;
    ck_assert_ok(teeu_collateral_parse(ua.collateral_json, ua.collateral_json_len, &c2));
    tu_verdict v;
    ck_assert_ok(verify_intel(ua.quote, ua.quote_len, c2, SAMPLE_TIME, &v));

    /* A policy with two attribute sets: the second matches. */
    Secretflowapis__V1__Sdc__UnifiedAttestationAttributes wrong =
        SECRETFLOWAPIS__V1__SDC__UNIFIED_ATTESTATION_ATTRIBUTES__INIT;
    Secretflowapis__V1__Sdc__UnifiedAttestationAttributes right =
        SECRETFLOWAPIS__V1__SDC__UNIFIED_ATTESTATION_ATTRIBUTES__INIT;
    wrong.hex_ta_measurement = (char *)"00000000000000000000000000000000"
                                       "00000000000000000000000000000000";
    right.hex_ta_measurement = (char *)mrenclave_hex;
    right.bool_debug_disabled = (char *)"true";
    Secretflowapis__V1__Sdc__UnifiedAttestationAttributes *sets[2] = {&wrong, &right};
    Secretflowapis__V1__Sdc__UnifiedAttestationPolicy pol = SECRETFLOWAPIS__V1__SDC__UNIFIED_ATTESTATION_POLICY__INIT;
    pol.n_main_attributes = 1;
    pol.main_attributes = sets;
    ck_assert_status(tu_ua_policy_check_any(&v, &pol), TEEU_ERR_POLICY);
    pol.n_main_attributes = 2;
    ck_assert_ok(tu_ua_policy_check_any(&v, &pol));
    pol.n_main_attributes = 0;
    ck_assert_status(tu_ua_policy_check_any(&v, &pol), TEEU_ERR_CONFIG);

    tu_ua_report_clear(&ua);
    teeu_collateral_free(c2);
    secretflowapis__v1__sdc__unified_attestation_report__free_unpacked(back, NULL);
    free(wire);
    free(coll_json);
    teeu_collateral_free(c);
}
END_TEST

START_TEST(cut_member_keeps_raw_bytes)
{
    /* Odd spacing and escapes must survive: the signature covers the raw bytes. */
    const char *raw = "{ \"tcbInfo\" :{\"a\" : \"\\u0041\",\"b\":[1, 2]} ,\"signature\":\"abcd\"}";
    char *body = NULL, *sig = NULL;
    size_t len = 0;
    ck_assert_ok(tu_json_cut_member(raw, strlen(raw), "tcbInfo", &body, &len, &sig));
    ck_assert_str_eq(body, "{\"a\" : \"\\u0041\",\"b\":[1, 2]}");
    ck_assert_str_eq(sig, "abcd");
    free(body);
    free(sig);
    ck_assert_status(tu_json_cut_member(raw, strlen(raw), "enclaveIdentity", &body, &len, &sig),
                     TEEU_ERR_COLLATERAL_FORMAT);
}
END_TEST

START_TEST(rfc3339_times)
{
    int64_t t;
    ck_assert(tu_rfc3339_parse("2025-07-01T00:00:00Z", 20, &t));
    ck_assert_int_eq(t, SAMPLE_TIME);
    ck_assert(tu_rfc3339_parse("2025-07-01T02:00:00.123+02:00", 29, &t));
    ck_assert_int_eq(t, SAMPLE_TIME);
    ck_assert(!tu_rfc3339_parse("2025-02-30T00:00:00Z", 20, &t));
    ck_assert(!tu_rfc3339_parse("2025-07-01 00:00:00Z", 20, &t));
    ck_assert(!tu_rfc3339_parse("2025-07-01T00:00:00", 19, &t));
    char buf[32];
    tu_rfc3339_format(SAMPLE_TIME, buf);
    ck_assert_str_eq(buf, "2025-07-01T00:00:00Z");
}
END_TEST

static Suite *attest_suite(void)
{
    Suite *s = suite_create("attest");
    TCase *tc = tcase_create("attest");
    tcase_add_checked_fixture(tc, load_sample, free_sample);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, real_sample_verdict);
    tcase_add_test(tc, real_sample_expired_now);
    tcase_add_test(tc, real_sample_before_certificates);
    tcase_add_test(tc, tamper_quote);
    tcase_add_test(tc, tamper_pck_certificate);
    tcase_add_test(tc, every_byte_flip_refused);
    tcase_add_test(tc, tamper_collateral_bodies);
    tcase_add_test(tc, real_sample_policy_rules);
    tcase_add_test(tc, quote_truncations_and_oversize);
    tcase_add_test(tc, certificate_and_extension_truncations);
    tcase_add_test(tc, oversized_inputs);
    tcase_add_test(tc, collateral_truncations);
    tcase_add_test(tc, simulation_end_to_end);
    tcase_add_test(tc, simulation_revoked_pck);
    tcase_add_test(tc, collateral_chain_rooted_elsewhere);
    tcase_add_test(tc, crafted_collateral_bodies);
    tcase_add_test(tc, unified_report);
    tcase_add_test(tc, unified_report_protobuf);
    tcase_add_test(tc, cut_member_keeps_raw_bytes);
    tcase_add_test(tc, rfc3339_times);
    suite_add_tcase(s, tc);
    return s;
}

TU_CHECK_MAIN(attest_suite)
