/*
 * The simulation attestation authority.
 *
 * It plays Intel's part on a machine without SGX: a root CA, a PCK CA and a
 * PCK leaf certificate carrying the SGX extension (FMSPC, PCE-ID, TCB SVNs),
 * a TCB/QE-identity signing certificate, CRLs, signed TCB info and QE
 * identity, and an ECDSA attestation key standing for a quoting enclave.
 * Quotes and collateral are byte-for-byte in the DCAP formats, so they go
 * through the very same verification code as real ones; they verify only
 * against this authority's root, which clients trust only in simulation.
 *
 * State folder: root_ca.{pem,key}, pck_ca.{pem,key}, pck.{pem,key},
 * tcb_signer.{pem,key}, attestation.key, collateral.json,
 * pck_revoked (present when the PCK serial is on the PCK CRL) and
 * tcb_status ("PLATFORM QE" statuses, present when not UpToDate).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "attest_internal.h"

#define TU_SIM_CERT_DAYS 3650
#define TU_SIM_COLLATERAL_DAYS 365
#define TU_SIM_REFRESH_AGE_S (180 * 86400)
#define TU_SIM_FILE_MAX ((size_t)1 << 20)

/* The simulated platform: what its PCK certificate and quotes claim. */
static const uint8_t tu_sim_fmspc[6] = {0x00, 0x90, 0x6E, 0xD5, 0x00, 0x00};
static const uint8_t tu_sim_pce_id[2] = {0x00, 0x00};
static const uint8_t tu_sim_comp_svn[16] = {4, 4, 3, 3, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
#define TU_SIM_PCE_SVN 13
#define TU_SIM_QE_SVN 8
#define TU_SIM_QE_PROD_ID 1

struct tu_sim_authority {
    char *dir;
    EVP_PKEY *root_key, *pck_ca_key, *pck_key, *tcb_key, *att_key;
    X509 *root, *pck_ca, *pck, *tcb;
    char *root_pem;
    char *pck_chain_pem;   /* leaf, PCK CA, root */
    char *collateral_json;
    uint8_t qe_mrenclave[32];
    uint8_t qe_mrsigner[32];
    char platform_status[48];  /* status of the platform's own TCB level */
    char qe_status[48];        /* status of the QE's own level */
};

static void tu_sha256(const char *s, uint8_t out[32])
{
    unsigned n = 32;
    EVP_Digest(s, strlen(s), out, &n, EVP_sha256(), NULL);
}

static teeu_status tu_sim_err(const char *what)
{
    unsigned long e = ERR_peek_last_error();
    ERR_clear_error();
    return tu_error(TEEU_ERR_CRYPTO, "simulation authority: %s failed (%s)", what,
                    e != 0 ? ERR_reason_error_string(e) : "no detail");
}

static char *tu_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static teeu_status tu_bio_string(BIO *bio, char **out)
{
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    if (n < 0)
        return tu_sim_err("PEM encoding");
    *out = tu_memdup(data, (size_t)n);
    return *out != NULL ? TEEU_OK : tu_error(TEEU_ERR_NOMEM, "out of memory");
}

static teeu_status tu_cert_pem(X509 *c, char **out)
{
    BIO *bio = BIO_new(BIO_s_mem());
    teeu_status st = bio != NULL && PEM_write_bio_X509(bio, c) == 1 ? tu_bio_string(bio, out)
                                                                    : tu_sim_err("PEM encoding");
    BIO_free(bio);
    return st;
}

static teeu_status tu_save_key(const char *dir, const char *name, EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL;
    teeu_status st = bio != NULL && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1
                         ? tu_bio_string(bio, &pem)
                         : tu_sim_err("key encoding");
    BIO_free(bio);
    char *path = tu_path(dir, name);
    if (st == TEEU_OK)
        st = path != NULL ? tu_write_file_atomic(path, pem, strlen(pem), 0600)
                          : tu_error(TEEU_ERR_NOMEM, "out of memory");
    if (pem != NULL)
        tu_free_secret(pem, strlen(pem));
    free(path);
    return st;
}

static teeu_status tu_save_text(const char *dir, const char *name, const char *text)
{
    char *path = tu_path(dir, name);
    if (path == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory");
    teeu_status st = tu_write_file_atomic(path, text, strlen(text), 0644);
    free(path);
    return st;
}

static teeu_status tu_load_text(const char *dir, const char *name, char **out, size_t *len)
{
    char *path = tu_path(dir, name);
    if (path == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory");
    uint8_t *d = NULL;
    teeu_status st = tu_read_file(path, TU_SIM_FILE_MAX, &d, len);
    if (st != TEEU_OK)
        st = tu_error_context(st, "simulation authority in %s (create it with teeu-attest sim-init)",
                              dir);
    free(path);
    *out = (char *)d;
    return st;
}

static teeu_status tu_load_key(const char *dir, const char *name, EVP_PKEY **out)
{
    char *pem = NULL;
    size_t len = 0;
    teeu_status st = tu_load_text(dir, name, &pem, &len);
    if (st != TEEU_OK)
        return st;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    *out = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    tu_free_secret(pem, len);
    ERR_clear_error();
    if (*out == NULL)
        return tu_error(TEEU_ERR_KEY_FORMAT, "simulation authority: %s/%s is not a PEM private key",
                        dir, name);
    return TEEU_OK;
}

static teeu_status tu_load_cert(const char *dir, const char *name, X509 **out)
{
    char *pem = NULL;
    size_t len = 0;
    teeu_status st = tu_load_text(dir, name, &pem, &len);
    if (st != TEEU_OK)
        return st;
    st = tu_pem_cert_parse(pem, len, name, out);
    free(pem);
    return st;
}

static teeu_status tu_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    int ok = ext != NULL && X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok ? TEEU_OK : tu_sim_err("adding a certificate extension");
}

static teeu_status tu_set_serial(X509 *cert)
{
    BIGNUM *bn = BN_new();
    ASN1_INTEGER *ai = NULL;
    int ok = bn != NULL && BN_rand(bn, 127, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) == 1 &&
             (ai = BN_to_ASN1_INTEGER(bn, NULL)) != NULL && X509_set_serialNumber(cert, ai) == 1;
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    return ok ? TEEU_OK : tu_sim_err("serial number");
}

typedef enum { TU_SIM_CA, TU_SIM_LEAF_PCK, TU_SIM_LEAF_SIGNER } tu_sim_kind;

/* Issues a certificate for key, signed by issuer_key (self-signed when issuer is NULL). */
static teeu_status tu_issue(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
                            tu_sim_kind kind, const tu_sgx_ext *ext, X509 **out)
{
    *out = NULL;
    X509 *c = X509_new();
    X509_NAME *name = X509_NAME_new();
    teeu_status st = TEEU_OK;
    if (c == NULL || name == NULL ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) != 1 ||
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"libteeu simulation",
                                   -1, -1, 0) != 1 ||
        X509_set_version(c, 2) != 1 || X509_set_subject_name(c, name) != 1 ||
        X509_set_issuer_name(c, issuer != NULL ? X509_get_subject_name(issuer) : name) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(c), -86400) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(c), (long)TU_SIM_CERT_DAYS * 86400) == NULL ||
        X509_set_pubkey(c, key) != 1) {
        st = tu_sim_err("certificate fields");
        goto out;
    }
    if ((st = tu_set_serial(c)) != TEEU_OK)
        goto out;
    X509 *iss = issuer != NULL ? issuer : c;
    if (kind == TU_SIM_CA) {
        st = tu_add_ext(c, iss, NID_basic_constraints, "critical,CA:TRUE,pathlen:1");
        if (st == TEEU_OK)
            st = tu_add_ext(c, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        st = tu_add_ext(c, iss, NID_basic_constraints, "critical,CA:FALSE");
        if (st == TEEU_OK)
            st = tu_add_ext(c, iss, NID_key_usage, "critical,digitalSignature,nonRepudiation");
    }
    if (st == TEEU_OK)
        st = tu_add_ext(c, iss, NID_subject_key_identifier, "hash");
    if (st == TEEU_OK && issuer != NULL)
        st = tu_add_ext(c, iss, NID_authority_key_identifier, "keyid:always");
    if (st == TEEU_OK && kind == TU_SIM_LEAF_PCK) {
        uint8_t ppid[16];
        tu_buf der = {0};
        ASN1_OBJECT *obj = NULL;
        ASN1_OCTET_STRING *os = NULL;
        X509_EXTENSION *x = NULL;
        if (RAND_bytes(ppid, sizeof ppid) != 1) {
            st = tu_sim_err("random PPID");
        } else if ((st = tu_sgx_ext_encode(ext, ppid, &der)) == TEEU_OK) {
            obj = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
            os = ASN1_OCTET_STRING_new();
            if (obj == NULL || os == NULL || ASN1_OCTET_STRING_set(os, der.data, (int)der.len) != 1 ||
                (x = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os)) == NULL ||
                X509_add_ext(c, x, -1) != 1)
                st = tu_sim_err("SGX extension");
        }
        X509_EXTENSION_free(x);
        ASN1_OCTET_STRING_free(os);
        ASN1_OBJECT_free(obj);
        tu_buf_free(&der);
    }
    if (st == TEEU_OK && X509_sign(c, issuer_key, EVP_sha256()) <= 0)
        st = tu_sim_err("certificate signing");
out:
    X509_NAME_free(name);
    if (st != TEEU_OK) {
        X509_free(c);
        return st;
    }
    *out = c;
    return TEEU_OK;
}

/* A CRL by issuer, listing `revoked` when not NULL; returned as hex DER. */
static teeu_status tu_make_crl(X509 *issuer, EVP_PKEY *key, X509 *revoked, time_t now, char **hex)
{
    *hex = NULL;
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *t1 = ASN1_TIME_adj(NULL, now, 0, -3600);
    ASN1_TIME *t2 = ASN1_TIME_adj(NULL, now, TU_SIM_COLLATERAL_DAYS, 0);
    X509_REVOKED *rev = NULL;
    unsigned char *der = NULL;
    teeu_status st = TEEU_OK;
    if (crl == NULL || t1 == NULL || t2 == NULL || X509_CRL_set_version(crl, 1) != 1 ||
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) != 1 ||
        X509_CRL_set1_lastUpdate(crl, t1) != 1 || X509_CRL_set1_nextUpdate(crl, t2) != 1) {
        st = tu_sim_err("CRL fields");
        goto out;
    }
    if (revoked != NULL) {
        rev = X509_REVOKED_new();
        if (rev == NULL || X509_REVOKED_set_serialNumber(rev, X509_get_serialNumber(revoked)) != 1 ||
            X509_REVOKED_set_revocationDate(rev, t1) != 1 || X509_CRL_add0_revoked(crl, rev) != 1) {
            X509_REVOKED_free(rev);
            st = tu_sim_err("CRL entry");
            goto out;
        }
    }
    if (X509_CRL_sort(crl) != 1 || X509_CRL_sign(crl, key, EVP_sha256()) <= 0) {
        st = tu_sim_err("CRL signing");
        goto out;
    }
    int n = i2d_X509_CRL(crl, &der);
    if (n <= 0) {
        st = tu_sim_err("CRL encoding");
        goto out;
    }
    st = tu_hex_encode(der, (size_t)n, false, hex);
out:
    OPENSSL_free(der);
    ASN1_TIME_free(t1);
    ASN1_TIME_free(t2);
    X509_CRL_free(crl);
    return st;
}

static teeu_status tu_sign_hex(EVP_PKEY *key, const char *body, char hex[129])
{
    uint8_t sig[64];
    teeu_status st = tu_ecdsa_sign_raw(key, (const uint8_t *)body, strlen(body), sig);
    if (st == TEEU_OK)
        tu_hex_encode_to(sig, 64, false, hex);
    return st;
}

static void tu_svn_list(tu_buf *b, const uint8_t svn[16], teeu_status *st)
{
    for (int i = 0; i < 16 && *st == TEEU_OK; i++)
        *st = tu_buf_printf(b, "%s{\"svn\":%u}", i > 0 ? "," : "", svn[i]);
}

/* Builds and signs TCB info, QE identity and CRLs; writes collateral.json. */
static teeu_status tu_sim_make_collateral(tu_sim_authority *a, bool revoke_pck)
{
    time_t now = time(NULL);
    char issue[32], next[32], fmspc[13], pceid[5], mrsigner[65], tcb_sig[129], qe_sig[129];
    tu_rfc3339_format((int64_t)now - 3600, issue);
    tu_rfc3339_format((int64_t)now + (int64_t)TU_SIM_COLLATERAL_DAYS * 86400, next);
    tu_hex_encode_to(tu_sim_fmspc, 6, true, fmspc);
    tu_hex_encode_to(tu_sim_pce_id, 2, true, pceid);
    tu_hex_encode_to(a->qe_mrsigner, 32, true, mrsigner);
    uint8_t older[16];
    memcpy(older, tu_sim_comp_svn, 16);
    older[0] = older[1] = 2;

    tu_buf tcb = {0}, qe = {0};
    teeu_status st = tu_buf_printf(&tcb,
                                   "{\"id\":\"SGX\",\"version\":3,\"issueDate\":\"%s\",\"nextUpdate\":\"%s\","
                                   "\"fmspc\":\"%s\",\"pceId\":\"%s\",\"tcbType\":0,"
                                   "\"tcbEvaluationDataNumber\":17,\"tcbLevels\":[{\"tcb\":{\"sgxtcbcomponents\":[",
                                   issue, next, fmspc, pceid);
    bool platform_ok = strcmp(a->platform_status, "UpToDate") == 0;
    bool qe_ok = strcmp(a->qe_status, "UpToDate") == 0;
    tu_svn_list(&tcb, tu_sim_comp_svn, &st);
    if (st == TEEU_OK)
        st = tu_buf_printf(&tcb, "],\"pcesvn\":%d},\"tcbDate\":\"2024-03-13T00:00:00Z\","
                                 "\"tcbStatus\":\"%s\"%s},{\"tcb\":{\"sgxtcbcomponents\":[",
                           TU_SIM_PCE_SVN, a->platform_status,
                           platform_ok ? "" : ",\"advisoryIDs\":[\"LIBTEEU-SIM-0002\",\"LIBTEEU-SIM-0001\"]");
    tu_svn_list(&tcb, older, &st);
    if (st == TEEU_OK)
        st = tu_buf_printf(&tcb, "],\"pcesvn\":%d},\"tcbDate\":\"2023-02-15T00:00:00Z\","
                                 "\"tcbStatus\":\"OutOfDate\",\"advisoryIDs\":[\"INTEL-SA-00828\"]}]}",
                           TU_SIM_PCE_SVN);
    if (st == TEEU_OK)
        st = tu_buf_append(&tcb, "", 1);
    if (st == TEEU_OK)
        st = tu_buf_printf(&qe,
                           "{\"id\":\"QE\",\"version\":2,\"issueDate\":\"%s\",\"nextUpdate\":\"%s\","
                           "\"tcbEvaluationDataNumber\":17,\"miscselect\":\"00000000\","
                           "\"miscselectMask\":\"FFFFFFFF\",\"attributes\":\"11000000000000000000000000000000\","
                           "\"attributesMask\":\"FBFFFFFFFFFFFFFF0000000000000000\",\"mrsigner\":\"%s\","
                           "\"isvprodid\":%d,\"tcbLevels\":[{\"tcb\":{\"isvsvn\":%d},"
                           "\"tcbDate\":\"2024-03-13T00:00:00Z\",\"tcbStatus\":\"%s\"%s},"
                           "{\"tcb\":{\"isvsvn\":6},\"tcbDate\":\"2021-11-10T00:00:00Z\","
                           "\"tcbStatus\":\"OutOfDate\",\"advisoryIDs\":[\"INTEL-SA-00615\"]}]}",
                           issue, next, mrsigner, TU_SIM_QE_PROD_ID, TU_SIM_QE_SVN, a->qe_status,
                           qe_ok ? "" : ",\"advisoryIDs\":[\"LIBTEEU-SIM-0001\"]");
    if (st == TEEU_OK)
        st = tu_buf_append(&qe, "", 1);
    char *root_crl = NULL, *pck_crl = NULL, *tcb_chain = NULL, *pck_ca_pem = NULL, *tcb_pem = NULL;
    if (st == TEEU_OK)
        st = tu_sign_hex(a->tcb_key, (const char *)tcb.data, tcb_sig);
    if (st == TEEU_OK)
        st = tu_sign_hex(a->tcb_key, (const char *)qe.data, qe_sig);
    if (st == TEEU_OK)
        st = tu_make_crl(a->root, a->root_key, NULL, now, &root_crl);
    if (st == TEEU_OK)
        st = tu_make_crl(a->pck_ca, a->pck_ca_key, revoke_pck ? a->pck : NULL, now, &pck_crl);
    if (st == TEEU_OK)
        st = tu_cert_pem(a->pck_ca, &pck_ca_pem);
    if (st == TEEU_OK)
        st = tu_cert_pem(a->tcb, &tcb_pem);
    tu_buf pck_chain = {0}, tcb_ch = {0}, out = {0};
    if (st == TEEU_OK)
        st = tu_buf_printf(&pck_chain, "%s%s", pck_ca_pem, a->root_pem);
    if (st == TEEU_OK)
        st = tu_buf_printf(&tcb_ch, "%s%s", tcb_pem, a->root_pem);
    if (st == TEEU_OK) {
        const char *keys[] = {"pck_crl_issuer_chain", "root_ca_crl", "pck_crl",
                              "tcb_info_issuer_chain", "tcb_info", "tcb_info_signature",
                              "qe_identity_issuer_chain", "qe_identity", "qe_identity_signature"};
        const char *vals[] = {(const char *)pck_chain.data, root_crl, pck_crl,
                              (const char *)tcb_ch.data, (const char *)tcb.data, tcb_sig,
                              (const char *)tcb_ch.data, (const char *)qe.data, qe_sig};
        for (size_t i = 0; i < 9 && st == TEEU_OK; i++) {
            st = tu_buf_append_str(&out, i == 0 ? "{" : ",");
            if (st == TEEU_OK)
                st = tu_json_append_string(&out, keys[i], strlen(keys[i]));
            if (st == TEEU_OK)
                st = tu_buf_append(&out, ":", 1);
            if (st == TEEU_OK)
                st = tu_json_append_string(&out, vals[i], strlen(vals[i]));
        }
        if (st == TEEU_OK)
            st = tu_buf_append(&out, "}", 2);
    }
    if (st == TEEU_OK)
        st = tu_save_text(a->dir, "collateral.json", (const char *)out.data);
    if (st == TEEU_OK) {
        free(a->collateral_json);
        size_t n;
        a->collateral_json = (char *)tu_buf_release(&out, &n);
    }
    free(root_crl);
    free(pck_crl);
    free(tcb_chain);
    free(pck_ca_pem);
    free(tcb_pem);
    tu_buf_free(&tcb);
    tu_buf_free(&qe);
    tu_buf_free(&pck_chain);
    tu_buf_free(&tcb_ch);
    tu_buf_free(&out);
    return st;
}

void tu_sim_authority_free(tu_sim_authority *a)
{
    if (a == NULL)
        return;
    EVP_PKEY_free(a->root_key);
    EVP_PKEY_free(a->pck_ca_key);
    EVP_PKEY_free(a->pck_key);
    EVP_PKEY_free(a->tcb_key);
    EVP_PKEY_free(a->att_key);
    X509_free(a->root);
    X509_free(a->pck_ca);
    X509_free(a->pck);
    X509_free(a->tcb);
    free(a->root_pem);
    free(a->pck_chain_pem);
    free(a->collateral_json);
    free(a->dir);
    free(a);
}

static teeu_status tu_sim_new(const char *dir, tu_sim_authority **out)
{
    tu_sim_authority *a = calloc(1, sizeof *a);
    if (a == NULL || (a->dir = tu_strdup(dir)) == NULL) {
        free(a);
        return tu_error(TEEU_ERR_NOMEM, "out of memory");
    }
    tu_sha256("libteeu simulation quoting enclave MRENCLAVE", a->qe_mrenclave);
    tu_sha256("libteeu simulation quoting enclave MRSIGNER", a->qe_mrsigner);
    snprintf(a->platform_status, sizeof a->platform_status, "UpToDate");
    snprintf(a->qe_status, sizeof a->qe_status, "UpToDate");
    *out = a;
    return TEEU_OK;
}

static teeu_status tu_sim_pems(tu_sim_authority *a)
{
    char *leaf = NULL, *ca = NULL;
    teeu_status st = tu_cert_pem(a->root, &a->root_pem);
    if (st == TEEU_OK)
        st = tu_cert_pem(a->pck, &leaf);
    if (st == TEEU_OK)
        st = tu_cert_pem(a->pck_ca, &ca);
    tu_buf b = {0};
    if (st == TEEU_OK)
        st = tu_buf_printf(&b, "%s%s%s", leaf, ca, a->root_pem);
    if (st == TEEU_OK) {
        size_t n;
        a->pck_chain_pem = (char *)tu_buf_release(&b, &n);
    }
    tu_buf_free(&b);
    free(leaf);
    free(ca);
    return st;
}

teeu_status tu_sim_authority_create(const char *dir)
{
    if (dir == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "simulation authority: no folder given");
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return tu_error(TEEU_ERR_IO, "simulation authority: cannot create %s: %s", dir,
                        strerror(errno));
    tu_sim_authority *a;
    teeu_status st = tu_sim_new(dir, &a);
    if (st != TEEU_OK)
        return st;
    tu_sgx_ext ext;
    memset(&ext, 0, sizeof ext);
    memcpy(ext.comp_svn, tu_sim_comp_svn, 16);
    memcpy(ext.cpu_svn, tu_sim_comp_svn, 16);
    ext.pce_svn = TU_SIM_PCE_SVN;
    memcpy(ext.pce_id, tu_sim_pce_id, 2);
    memcpy(ext.fmspc, tu_sim_fmspc, 6);
    EVP_PKEY **keys[] = {&a->root_key, &a->pck_ca_key, &a->pck_key, &a->tcb_key, &a->att_key};
    for (size_t i = 0; i < TU_ARRAY_LEN(keys) && st == TEEU_OK; i++)
        if ((*keys[i] = EVP_EC_gen("P-256")) == NULL)
            st = tu_sim_err("P-256 key generation");
    if (st == TEEU_OK)
        st = tu_issue("libteeu Simulation SGX Root CA", a->root_key, NULL, a->root_key, TU_SIM_CA,
                      NULL, &a->root);
    if (st == TEEU_OK)
        st = tu_issue("libteeu Simulation SGX PCK Processor CA", a->pck_ca_key, a->root,
                      a->root_key, TU_SIM_CA, NULL, &a->pck_ca);
    if (st == TEEU_OK)
        st = tu_issue("libteeu Simulation SGX PCK Certificate", a->pck_key, a->pck_ca,
                      a->pck_ca_key, TU_SIM_LEAF_PCK, &ext, &a->pck);
    if (st == TEEU_OK)
        st = tu_issue("libteeu Simulation SGX TCB Signing", a->tcb_key, a->root, a->root_key,
                      TU_SIM_LEAF_SIGNER, NULL, &a->tcb);
    if (st == TEEU_OK)
        st = tu_sim_pems(a);
    const char *kn[] = {"root_ca.key", "pck_ca.key", "pck.key", "tcb_signer.key", "attestation.key"};
    for (size_t i = 0; i < TU_ARRAY_LEN(keys) && st == TEEU_OK; i++)
        st = tu_save_key(dir, kn[i], *keys[i]);
    X509 *certs[] = {a->root, a->pck_ca, a->pck, a->tcb};
    const char *cn[] = {"root_ca.pem", "pck_ca.pem", "pck.pem", "tcb_signer.pem"};
    for (size_t i = 0; i < TU_ARRAY_LEN(certs) && st == TEEU_OK; i++) {
        char *pem = NULL;
        st = tu_cert_pem(certs[i], &pem);
        if (st == TEEU_OK)
            st = tu_save_text(dir, cn[i], pem);
        free(pem);
    }
    if (st == TEEU_OK) {
        const char *stale[] = {"pck_revoked", "tcb_status"};
        for (size_t i = 0; i < TU_ARRAY_LEN(stale); i++) {
            char *p = tu_path(dir, stale[i]);
            if (p != NULL)
                unlink(p);
            free(p);
        }
        st = tu_sim_make_collateral(a, false);
    }
    tu_sim_authority_free(a);
    return st;
}

static bool tu_sim_is_revoked(const char *dir)
{
    char *p = tu_path(dir, "pck_revoked");
    bool r = p != NULL && access(p, F_OK) == 0;
    free(p);
    return r;
}

teeu_status tu_sim_authority_load(const char *dir, tu_sim_authority **out)
{
    if (dir == NULL || out == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "tu_sim_authority_load: NULL argument");
    *out = NULL;
    tu_sim_authority *a;
    teeu_status st = tu_sim_new(dir, &a);
    if (st != TEEU_OK)
        return st;
    if ((st = tu_load_key(dir, "root_ca.key", &a->root_key)) == TEEU_OK &&
        (st = tu_load_key(dir, "pck_ca.key", &a->pck_ca_key)) == TEEU_OK &&
        (st = tu_load_key(dir, "pck.key", &a->pck_key)) == TEEU_OK &&
        (st = tu_load_key(dir, "tcb_signer.key", &a->tcb_key)) == TEEU_OK &&
        (st = tu_load_key(dir, "attestation.key", &a->att_key)) == TEEU_OK &&
        (st = tu_load_cert(dir, "root_ca.pem", &a->root)) == TEEU_OK &&
        (st = tu_load_cert(dir, "pck_ca.pem", &a->pck_ca)) == TEEU_OK &&
        (st = tu_load_cert(dir, "pck.pem", &a->pck)) == TEEU_OK &&
        (st = tu_load_cert(dir, "tcb_signer.pem", &a->tcb)) == TEEU_OK)
        st = tu_sim_pems(a);
    char *status_path = tu_path(dir, "tcb_status");
    if (st == TEEU_OK && status_path != NULL && access(status_path, F_OK) == 0) {
        char *text = NULL;
        size_t len;
        char p[48], q[48];
        st = tu_load_text(dir, "tcb_status", &text, &len);
        if (st == TEEU_OK && (sscanf(text, "%47s %47s", p, q) != 2 || tu_tcb_status_bit(p) == 0 ||
                              tu_tcb_status_bit(q) == 0))
            st = tu_error(TEEU_ERR_CONFIG, "simulation authority: %s/tcb_status is not two TCB statuses",
                          dir);
        if (st == TEEU_OK) {
            snprintf(a->platform_status, sizeof a->platform_status, "%s", p);
            snprintf(a->qe_status, sizeof a->qe_status, "%s", q);
        }
        free(text);
    }
    free(status_path);
    if (st == TEEU_OK) {
        /* Collateral expires like Intel's; re-sign it when it gets old. */
        char *path = tu_path(dir, "collateral.json");
        struct stat sb;
        bool stale = path == NULL || stat(path, &sb) != 0 ||
                     (int64_t)time(NULL) - (int64_t)sb.st_mtime > TU_SIM_REFRESH_AGE_S;
        free(path);
        size_t len;
        if (stale)
            st = tu_sim_make_collateral(a, tu_sim_is_revoked(dir));
        else
            st = tu_load_text(dir, "collateral.json", &a->collateral_json, &len);
    }
    if (st != TEEU_OK) {
        tu_sim_authority_free(a);
        return st;
    }
    *out = a;
    return TEEU_OK;
}

teeu_status tu_sim_authority_open(const char *dir, tu_sim_authority **out)
{
    if (dir == NULL || out == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "tu_sim_authority_open: NULL argument");
    *out = NULL;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return tu_error(TEEU_ERR_IO, "simulation authority: cannot create %s: %s", dir,
                        strerror(errno));
    /* Several services may start at once on one folder: create under a lock. */
    char *lock_path = tu_path(dir, ".lock");
    if (lock_path == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory");
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    free(lock_path);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return tu_error(TEEU_ERR_IO, "simulation authority: cannot lock %s/.lock: %s", dir,
                        strerror(e));
    }
    char *root = tu_path(dir, "root_ca.pem");
    bool exists = root != NULL && access(root, F_OK) == 0;
    free(root);
    teeu_status st = exists ? TEEU_OK : tu_sim_authority_create(dir);
    if (st == TEEU_OK)
        st = tu_sim_authority_load(dir, out);
    close(fd); /* releases the lock */
    return st;
}

teeu_status tu_sim_authority_set_status(tu_sim_authority *a, const char *platform_status,
                                        const char *qe_status)
{
    if (a == NULL || tu_tcb_status_bit(platform_status) == 0 || tu_tcb_status_bit(qe_status) == 0)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT,
                        "simulation authority: statuses must be TCB status names (UpToDate, "
                        "SWHardeningNeeded, ConfigurationNeeded, ConfigurationAndSWHardeningNeeded, "
                        "OutOfDate, OutOfDateConfigurationNeeded, Revoked)");
    snprintf(a->platform_status, sizeof a->platform_status, "%s", platform_status);
    snprintf(a->qe_status, sizeof a->qe_status, "%s", qe_status);
    char line[100];
    snprintf(line, sizeof line, "%s %s\n", platform_status, qe_status);
    teeu_status st = tu_save_text(a->dir, "tcb_status", line);
    if (st == TEEU_OK)
        st = tu_sim_make_collateral(a, tu_sim_is_revoked(a->dir));
    return st;
}

teeu_status tu_sim_authority_revoke_pck(tu_sim_authority *a)
{
    teeu_status st = tu_save_text(a->dir, "pck_revoked", "the PCK certificate serial is on the PCK CRL\n");
    if (st == TEEU_OK)
        st = tu_sim_make_collateral(a, true);
    return st;
}

const char *tu_sim_collateral_json(const tu_sim_authority *a)
{
    return a != NULL ? a->collateral_json : NULL;
}

const char *tu_sim_root_pem(const tu_sim_authority *a)
{
    return a != NULL ? a->root_pem : NULL;
}

static void tu_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void tu_put32(uint8_t *p, uint32_t v)
{
    tu_put16(p, (uint16_t)v);
    tu_put16(p + 2, (uint16_t)(v >> 16));
}

teeu_status tu_sim_quote(const tu_sim_authority *a, const tu_sim_quote_params *qp, uint8_t **quote,
                         size_t *len)
{
    if (a == NULL || qp == NULL || qp->mr_enclave == NULL || quote == NULL || len == NULL ||
        qp->report_data_len > 64 || (qp->report_data_len > 0 && qp->report_data == NULL))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT,
                        "tu_sim_quote: authority, MRENCLAVE and output are required; report_data <= 64 bytes");
    *quote = NULL;
    *len = 0;
    size_t chain_len = strlen(a->pck_chain_pem);
    uint8_t auth_data[32];
    for (int i = 0; i < 32; i++)
        auth_data[i] = (uint8_t)i;
    size_t sig_len = 64 + 64 + 384 + 64 + 2 + sizeof auth_data + 6 + chain_len;
    size_t total = TU_QUOTE_SIGNED_LEN + 4 + sig_len;
    uint8_t *q = calloc(1, total);
    if (q == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory for the quote");
    /* Header. */
    tu_put16(q, 3);
    tu_put16(q + 2, 2);
    tu_put32(q + 4, 0);
    tu_put16(q + 8, TU_SIM_QE_SVN);
    tu_put16(q + 10, TU_SIM_PCE_SVN);
    static const uint8_t vendor[16] = {0x93, 0x9A, 0x72, 0x33, 0xF7, 0x9C, 0x4C, 0xA9,
                                       0x94, 0x0A, 0x0D, 0xB3, 0x95, 0x7F, 0x06, 0x07};
    memcpy(q + 12, vendor, 16);
    /* ISV enclave report. */
    uint8_t *isv = q + TU_QUOTE_HEADER_LEN;
    memcpy(isv, tu_sim_comp_svn, 16);
    isv[48] = (uint8_t)(0x04 | 0x01 | (qp->debug ? 0x02 : 0)); /* INIT, MODE64BIT, DEBUG */
    isv[56] = 0x03;                                           /* xfrm: x87, SSE */
    memcpy(isv + 64, qp->mr_enclave, 32);
    if (qp->mr_signer != NULL)
        memcpy(isv + 128, qp->mr_signer, 32);
    tu_put16(isv + 256, qp->isv_prod_id);
    tu_put16(isv + 258, qp->isv_svn);
    if (qp->report_data_len > 0)
        memcpy(isv + 320, qp->report_data, qp->report_data_len);
    tu_put32(q + TU_QUOTE_SIGNED_LEN, (uint32_t)sig_len);
    uint8_t *s = q + TU_QUOTE_SIGNED_LEN + 4;
    uint8_t *isv_sig = s, *att_pub = s + 64, *qe = s + 128, *qe_sig = s + 512;
    uint8_t *rest = s + 576;
    teeu_status st = tu_ec_pub_to_raw(a->att_key, att_pub);
    /* QE report: Intel-like QE identity, report_data binds the key. */
    memcpy(qe, tu_sim_comp_svn, 16);
    qe[48] = 0x11;
    memcpy(qe + 64, a->qe_mrenclave, 32);
    memcpy(qe + 128, a->qe_mrsigner, 32);
    tu_put16(qe + 256, TU_SIM_QE_PROD_ID);
    tu_put16(qe + 258, TU_SIM_QE_SVN);
    if (st == TEEU_OK) {
        unsigned n = 32;
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
            EVP_DigestUpdate(md, att_pub, 64) != 1 ||
            EVP_DigestUpdate(md, auth_data, sizeof auth_data) != 1 ||
            EVP_DigestFinal_ex(md, qe + 320, &n) != 1)
            st = tu_sim_err("SHA-256");
        EVP_MD_CTX_free(md);
    }
    tu_put16(rest, sizeof auth_data);
    memcpy(rest + 2, auth_data, sizeof auth_data);
    tu_put16(rest + 2 + sizeof auth_data, TU_CERT_TYPE_PCK_CHAIN);
    tu_put32(rest + 4 + sizeof auth_data, (uint32_t)chain_len);
    memcpy(rest + 8 + sizeof auth_data, a->pck_chain_pem, chain_len);
    if (st == TEEU_OK)
        st = tu_ecdsa_sign_raw(a->pck_key, qe, TU_REPORT_BODY_LEN, qe_sig);
    if (st == TEEU_OK)
        st = tu_ecdsa_sign_raw(a->att_key, q, TU_QUOTE_SIGNED_LEN, isv_sig);
    if (st != TEEU_OK) {
        free(q);
        return st;
    }
    *quote = q;
    *len = total;
    return TEEU_OK;
}
