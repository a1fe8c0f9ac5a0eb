/* OpenSSL helpers for the attest layer: PEM chains, CRLs, raw ECDSA, the SGX extension, times. */
#include <limits.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "attest_internal.h"

#define TU_PEM_MAX_LEN ((size_t)256 << 10)
#define TU_CHAIN_MAX_CERTS 8
#define TU_CRL_MAX_LEN ((size_t)4 << 20)

static const char tu_pem_begin_cert[] = "-----BEGIN CERTIFICATE-----";

teeu_status tu_pem_chain_parse(const char *pem, size_t len, const char *what, STACK_OF(X509) **out)
{
    *out = NULL;
    if (pem == NULL || len == 0)
        return tu_error(TEEU_ERR_CERT_CHAIN, "%s: empty certificate chain", what);
    if (len > TU_PEM_MAX_LEN)
        return tu_error(TEEU_ERR_CERT_CHAIN, "%s: %zu bytes exceeds the %zu-byte limit", what, len,
                        TU_PEM_MAX_LEN);
    size_t count = 0;
    const char *scan = pem;
    size_t left = len;
    const char *hit;
    while ((hit = memmem(scan, left, tu_pem_begin_cert, sizeof tu_pem_begin_cert - 1)) != NULL) {
        count++;
        left -= (size_t)(hit - scan) + 1;
        scan = hit + 1;
    }
    if (count == 0 || count > TU_CHAIN_MAX_CERTS)
        return tu_error(TEEU_ERR_CERT_CHAIN, "%s: %zu PEM certificates, expected 1 to %d", what,
                        count, TU_CHAIN_MAX_CERTS);
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    STACK_OF(X509) *chain = sk_X509_new_null();
    if (bio == NULL || chain == NULL) {
        BIO_free(bio);
        sk_X509_free(chain);
        return tu_error(TEEU_ERR_NOMEM, "%s: out of memory", what);
    }
    teeu_status st = TEEU_OK;
    for (size_t i = 0; i < count; i++) {
        X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (cert == NULL) {
            st = tu_error(TEEU_ERR_CERT_CHAIN, "%s: certificate %zu of %zu does not parse (%s)",
                          what, i + 1, count, ERR_reason_error_string(ERR_peek_last_error()));
            break;
        }
        if (!sk_X509_push(chain, cert)) {
            X509_free(cert);
            st = tu_error(TEEU_ERR_NOMEM, "%s: out of memory", what);
            break;
        }
    }
    ERR_clear_error();
    BIO_free(bio);
    if (st != TEEU_OK) {
        sk_X509_pop_free(chain, X509_free);
        return st;
    }
    *out = chain;
    return TEEU_OK;
}

teeu_status tu_pem_cert_parse(const char *pem, size_t len, const char *what, X509 **out)
{
    STACK_OF(X509) *chain;
    *out = NULL;
    teeu_status st = tu_pem_chain_parse(pem, len, what, &chain);
    if (st != TEEU_OK)
        return st;
    if (sk_X509_num(chain) != 1) {
        sk_X509_pop_free(chain, X509_free);
        return tu_error(TEEU_ERR_CERT_CHAIN, "%s: expected exactly one certificate", what);
    }
    *out = sk_X509_shift(chain);
    sk_X509_free(chain);
    return TEEU_OK;
}

static bool tu_all_hex(const uint8_t *d, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t c = d[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return len > 0 && len % 2 == 0;
}

teeu_status tu_crl_parse(const uint8_t *data, size_t len, const char *what, X509_CRL **out)
{
    *out = NULL;
    if (data == NULL || len == 0)
        return tu_error(TEEU_ERR_COLLATERAL_FORMAT, "%s: empty CRL", what);
    if (len > TU_CRL_MAX_LEN)
        return tu_error(TEEU_ERR_COLLATERAL_FORMAT, "%s: %zu bytes exceeds the CRL size limit",
                        what, len);
    X509_CRL *crl = NULL;
    /* Text forms may end with a newline or a C string's NUL. */
    size_t text_len = len;
    while (text_len > 0 && (data[text_len - 1] == '\n' || data[text_len - 1] == '\r' ||
                            data[text_len - 1] == ' ' || data[text_len - 1] == '\0'))
        text_len--;
    if (len > 10 && memcmp(data, "-----BEGIN", 10) == 0) {
        BIO *bio = BIO_new_mem_buf(data, (int)len);
        if (bio != NULL)
            crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
        BIO_free(bio);
    } else if (tu_all_hex(data, text_len)) {
        uint8_t *der;
        size_t der_len;
        if (tu_hex_decode((const char *)data, text_len, &der, &der_len) != TEEU_OK)
            return tu_error(TEEU_ERR_COLLATERAL_FORMAT, "%s: bad hex", what);
        const unsigned char *p = der;
        crl = d2i_X509_CRL(NULL, &p, (long)der_len);
        if (crl != NULL && p != der + der_len) {
            X509_CRL_free(crl);
            crl = NULL;
        }
        free(der);
    } else {
        const unsigned char *p = data;
        crl = d2i_X509_CRL(NULL, &p, (long)len);
        if (crl != NULL && p != data + len) {
            X509_CRL_free(crl);
            crl = NULL;
        }
    }
    ERR_clear_error();
    if (crl == NULL)
        return tu_error(TEEU_ERR_COLLATERAL_FORMAT,
                        "%s: not a DER, hex-DER or PEM certificate revocation list", what);
    *out = crl;
    return TEEU_OK;
}

int tu_ecdsa_verify_raw(EVP_PKEY *key, const uint8_t sig[64], const uint8_t *msg, size_t len)
{
    int rc = -1;
    unsigned char *der = NULL;
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL);
    BIGNUM *sv = BN_bin2bn(sig + 32, 32, NULL);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (s == NULL || r == NULL || sv == NULL || ctx == NULL || !ECDSA_SIG_set0(s, r, sv))
        goto out;
    r = sv = NULL; /* owned by s now */
    int der_len = i2d_ECDSA_SIG(s, &der);
    if (der_len <= 0)
        goto out;
    if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) != 1)
        goto out;
    rc = EVP_DigestVerify(ctx, der, (size_t)der_len, msg, len) == 1 ? 1 : 0;
out:
    ERR_clear_error();
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    BN_free(r);
    BN_free(sv);
    ECDSA_SIG_free(s);
    return rc;
}

teeu_status tu_ecdsa_sign_raw(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t sig[64])
{
    teeu_status st = tu_error(TEEU_ERR_CRYPTO, "ECDSA signing failed");
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char der[80];
    size_t der_len = sizeof der;
    ECDSA_SIG *s = NULL;
    if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(ctx, der, &der_len, msg, len) != 1)
        goto out;
    const unsigned char *p = der;
    s = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    if (s == NULL)
        goto out;
    if (BN_bn2binpad(ECDSA_SIG_get0_r(s), sig, 32) != 32 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(s), sig + 32, 32) != 32)
        goto out;
    st = TEEU_OK;
    tu_error_clear();
out:
    ERR_clear_error();
    ECDSA_SIG_free(s);
    EVP_MD_CTX_free(ctx);
    return st;
}

teeu_status tu_ec_pub_from_raw(const uint8_t xy[64], EVP_PKEY **out)
{
    *out = NULL;
    uint8_t point[65];
    point[0] = 0x04;
    memcpy(point + 1, xy, 64);
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point);
    params[2] = OSSL_PARAM_construct_end();
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *key = NULL;
    int ok = ctx != NULL && EVP_PKEY_fromdata_init(ctx) == 1 &&
             EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) == 1;
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    if (!ok || key == NULL) {
        EVP_PKEY_free(key);
        return tu_error(TEEU_ERR_QUOTE_SIGNATURE,
                        "attestation key is not a valid P-256 public key point");
    }
    *out = key;
    return TEEU_OK;
}

teeu_status tu_ec_pub_to_raw(EVP_PKEY *key, uint8_t xy[64])
{
    BIGNUM *x = NULL;
    BIGNUM *y = NULL;
    teeu_status st = TEEU_OK;
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1 ||
        BN_bn2binpad(x, xy, 32) != 32 || BN_bn2binpad(y, xy + 32, 32) != 32)
        st = tu_error(TEEU_ERR_CRYPTO, "cannot read the EC public key coordinates");
    ERR_clear_error();
    BN_free(x);
    BN_free(y);
    return st;
}

/* ---- a small bounded DER reader ------------------------------------------ */

typedef struct tu_der {
    const uint8_t *p;
    size_t left;
} tu_der;

/* Reads one TLV (single-byte tag, definite length); content into *c. */
static bool tu_der_next(tu_der *d, uint8_t *tag, tu_der *c)
{
    if (d->left < 2)
        return false;
    *tag = d->p[0];
    if ((*tag & 0x1F) == 0x1F)
        return false; /* multi-byte tags never occur here */
    size_t len = d->p[1];
    size_t hdr = 2;
    if (len & 0x80) {
        size_t n = len & 0x7F;
        if (n == 0 || n > 3 || d->left < 2 + n)
            return false;
        len = 0;
        for (size_t i = 0; i < n; i++)
            len = len << 8 | d->p[2 + i];
        hdr += n;
    }
    if (d->left - hdr < len)
        return false;
    c->p = d->p + hdr;
    c->left = len;
    d->p += hdr + len;
    d->left -= hdr + len;
    return true;
}

/* 1.2.840.113741.1.13.1 */
static const uint8_t tu_sgx_oid[] = {0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x01, 0x0D, 0x01};

/* Arc numbers after the SGX OID prefix (each < 128), -1 when not under it. */
static int tu_sgx_arcs(const tu_der *oid, int arcs[2])
{
    size_t pl = sizeof tu_sgx_oid;
    if (oid->left <= pl || oid->left > pl + 2 || memcmp(oid->p, tu_sgx_oid, pl) != 0)
        return -1;
    int n = 0;
    for (size_t i = pl; i < oid->left; i++) {
        if (oid->p[i] & 0x80)
            return -1;
        arcs[n++] = oid->p[i];
    }
    return n;
}

static bool tu_der_uint(const tu_der *c, uint32_t max, uint32_t *out)
{
    if (c->left == 0 || c->left > 3 || (c->p[0] & 0x80))
        return false;
    uint32_t v = 0;
    for (size_t i = 0; i < c->left; i++)
        v = v << 8 | c->p[i];
    if (v > max)
        return false;
    *out = v;
    return true;
}

static teeu_status tu_sgx_ext_bad(const char *what)
{
    return tu_error(TEEU_ERR_CERT_CHAIN, "PCK certificate: SGX extension: %s", what);
}

static teeu_status tu_sgx_tcb_parse(tu_der tcb, tu_sgx_ext *out)
{
    uint32_t seen = 0;
    while (tcb.left > 0) {
        uint8_t tag;
        tu_der item, oid, val;
        int arcs[2];
        if (!tu_der_next(&tcb, &tag, &item) || tag != 0x30)
            return tu_sgx_ext_bad("malformed TCB entry");
        if (!tu_der_next(&item, &tag, &oid) || tag != 0x06 || tu_sgx_arcs(&oid, arcs) != 2 ||
            arcs[0] != 2 || !tu_der_next(&item, &tag, &val) || item.left != 0)
            return tu_sgx_ext_bad("malformed TCB entry");
        int k = arcs[1];
        uint32_t v;
        if (k >= 1 && k <= 16) {
            if (tag != 0x02 || !tu_der_uint(&val, 255, &v))
                return tu_sgx_ext_bad("TCB component SVN is not an integer in 0..255");
            out->comp_svn[k - 1] = (uint8_t)v;
        } else if (k == 17) {
            if (tag != 0x02 || !tu_der_uint(&val, 65535, &v))
                return tu_sgx_ext_bad("PCESVN is not an integer in 0..65535");
            out->pce_svn = (uint16_t)v;
        } else if (k == 18) {
            if (tag != 0x04 || val.left != 16)
                return tu_sgx_ext_bad("CPUSVN is not a 16-byte octet string");
            memcpy(out->cpu_svn, val.p, 16);
        } else {
            continue;
        }
        if (seen & (1u << k))
            return tu_sgx_ext_bad("duplicate TCB entry");
        seen |= 1u << k;
    }
    if (seen != 0x7FFFEu)
        return tu_sgx_ext_bad("TCB lacks some of its 16 component SVNs, PCESVN or CPUSVN");
    return TEEU_OK;
}

teeu_status tu_sgx_ext_parse(const uint8_t *der, size_t len, tu_sgx_ext *out)
{
    memset(out, 0, sizeof *out);
    tu_der d = {der, len};
    tu_der seq;
    uint8_t tag;
    if (!tu_der_next(&d, &tag, &seq) || tag != 0x30 || d.left != 0)
        return tu_sgx_ext_bad("not a DER SEQUENCE");
    bool have_tcb = false, have_pceid = false, have_fmspc = false;
    while (seq.left > 0) {
        tu_der item, oid, val;
        int arcs[2];
        if (!tu_der_next(&seq, &tag, &item) || tag != 0x30)
            return tu_sgx_ext_bad("malformed entry");
        if (!tu_der_next(&item, &tag, &oid) || tag != 0x06 || !tu_der_next(&item, &tag, &val) ||
            item.left != 0)
            return tu_sgx_ext_bad("malformed entry");
        if (tu_sgx_arcs(&oid, arcs) != 1)
            continue;
        if (arcs[0] == 2) {
            if (tag != 0x30 || have_tcb)
                return tu_sgx_ext_bad("TCB is not a single SEQUENCE");
            teeu_status st = tu_sgx_tcb_parse(val, out);
            if (st != TEEU_OK)
                return st;
            have_tcb = true;
        } else if (arcs[0] == 3) {
            if (tag != 0x04 || val.left != 2 || have_pceid)
                return tu_sgx_ext_bad("PCE-ID is not a single 2-byte octet string");
            memcpy(out->pce_id, val.p, 2);
            have_pceid = true;
        } else if (arcs[0] == 4) {
            if (tag != 0x04 || val.left != 6 || have_fmspc)
                return tu_sgx_ext_bad("FMSPC is not a single 6-byte octet string");
            memcpy(out->fmspc, val.p, 6);
            have_fmspc = true;
        }
    }
    if (!have_tcb || !have_pceid || !have_fmspc)
        return tu_sgx_ext_bad("TCB, PCE-ID or FMSPC is missing");
    return TEEU_OK;
}

teeu_status tu_sgx_ext_from_cert(X509 *cert, tu_sgx_ext *out)
{
    ASN1_OBJECT *obj = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
    if (obj == NULL)
        return tu_error(TEEU_ERR_CRYPTO, "cannot create the SGX extension OID");
    int idx = X509_get_ext_by_OBJ(cert, obj, -1);
    int again = idx >= 0 ? X509_get_ext_by_OBJ(cert, obj, idx) : -1;
    ASN1_OBJECT_free(obj);
    ERR_clear_error();
    if (idx < 0)
        return tu_error(TEEU_ERR_CERT_CHAIN,
                        "PCK certificate has no SGX extension (OID 1.2.840.113741.1.13.1)");
    if (again >= 0)
        return tu_error(TEEU_ERR_CERT_CHAIN, "PCK certificate has two SGX extensions");
    const ASN1_OCTET_STRING *data = X509_EXTENSION_get_data(X509_get_ext(cert, idx));
    return tu_sgx_ext_parse(ASN1_STRING_get0_data(data), (size_t)ASN1_STRING_length(data), out);
}

/* ---- DER writer for the simulation authority ------------------------------ */

static teeu_status tu_der_tlv(tu_buf *out, uint8_t tag, const uint8_t *content, size_t len)
{
    uint8_t hdr[5];
    size_t h = 0;
    hdr[h++] = tag;
    if (len < 0x80) {
        hdr[h++] = (uint8_t)len;
    } else if (len < 0x100) {
        hdr[h++] = 0x81;
        hdr[h++] = (uint8_t)len;
    } else if (len < 0x10000) {
        hdr[h++] = 0x82;
        hdr[h++] = (uint8_t)(len >> 8);
        hdr[h++] = (uint8_t)len;
    } else {
        return tu_error(TEEU_ERR_OVERFLOW, "DER element too long");
    }
    teeu_status st = tu_buf_append(out, hdr, h);
    if (st == TEEU_OK)
        st = tu_buf_append(out, content, len);
    return st;
}

/* SEQUENCE { OID prefix.arcs, value-TLV } appended to out. */
static teeu_status tu_der_entry(tu_buf *out, const int *arcs, size_t narcs, uint8_t tag,
                                const uint8_t *val, size_t val_len)
{
    uint8_t oid[16];
    memcpy(oid, tu_sgx_oid, sizeof tu_sgx_oid);
    for (size_t i = 0; i < narcs; i++)
        oid[sizeof tu_sgx_oid + i] = (uint8_t)arcs[i];
    tu_buf inner = {0};
    teeu_status st = tu_der_tlv(&inner, 0x06, oid, sizeof tu_sgx_oid + narcs);
    if (st == TEEU_OK)
        st = tu_der_tlv(&inner, tag, val, val_len);
    if (st == TEEU_OK)
        st = tu_der_tlv(out, 0x30, inner.data, inner.len);
    tu_buf_free(&inner);
    return st;
}

static teeu_status tu_der_uint_entry(tu_buf *out, int a, int b, uint32_t v)
{
    uint8_t num[4];
    size_t n = 0;
    /* Minimal two's-complement big-endian encoding of a non-negative value. */
    uint8_t tmp[3] = {(uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    size_t s = 0;
    while (s < 2 && tmp[s] == 0)
        s++;
    if (tmp[s] & 0x80)
        num[n++] = 0;
    memcpy(num + n, tmp + s, 3 - s);
    n += 3 - s;
    int arcs[2] = {a, b};
    return tu_der_entry(out, arcs, 2, 0x02, num, n);
}

teeu_status tu_sgx_ext_encode(const tu_sgx_ext *ext, const uint8_t ppid[16], tu_buf *out)
{
    tu_buf tcb = {0}, seq = {0};
    teeu_status st = TEEU_OK;
    for (int k = 1; k <= 16 && st == TEEU_OK; k++)
        st = tu_der_uint_entry(&tcb, 2, k, ext->comp_svn[k - 1]);
    if (st == TEEU_OK)
        st = tu_der_uint_entry(&tcb, 2, 17, ext->pce_svn);
    int a18[2] = {2, 18}, a1[1] = {1}, a2[1] = {2}, a3[1] = {3}, a4[1] = {4}, a5[1] = {5};
    if (st == TEEU_OK)
        st = tu_der_entry(&tcb, a18, 2, 0x04, ext->cpu_svn, 16);
    if (st == TEEU_OK)
        st = tu_der_entry(&seq, a1, 1, 0x04, ppid, 16);
    if (st == TEEU_OK)
        st = tu_der_entry(&seq, a2, 1, 0x30, tcb.data, tcb.len);
    if (st == TEEU_OK)
        st = tu_der_entry(&seq, a3, 1, 0x04, ext->pce_id, 2);
    if (st == TEEU_OK)
        st = tu_der_entry(&seq, a4, 1, 0x04, ext->fmspc, 6);
    uint8_t sgx_type = 0;
    if (st == TEEU_OK)
        st = tu_der_entry(&seq, a5, 1, 0x0A, &sgx_type, 1);
    if (st == TEEU_OK)
        st = tu_der_tlv(out, 0x30, seq.data, seq.len);
    tu_buf_free(&tcb);
    tu_buf_free(&seq);
    return st;
}

/* ---- times ------------------------------------------------------------------ */

bool tu_asn1_time_to_unix(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return false;
    *out = (int64_t)timegm(&tm);
    return true;
}

static bool tu_digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool tu_rfc3339_parse(const char *s, size_t len, int64_t *out)
{
    int y, mo, d, h, mi, se;
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':')
        return false;
    if (!tu_digits(s, 4, &y) || !tu_digits(s + 5, 2, &mo) || !tu_digits(s + 8, 2, &d) ||
        !tu_digits(s + 11, 2, &h) || !tu_digits(s + 14, 2, &mi) || !tu_digits(s + 17, 2, &se))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return false;
    size_t i = 19;
    if (i < len && s[i] == '.') {
        i++;
        size_t b = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == b)
            return false;
    }
    int64_t offset = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh, om;
        if (!tu_digits(s + i + 1, 2, &oh) || !tu_digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return false;
        offset = (int64_t)(oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
        i += 6;
    } else {
        return false;
    }
    if (i != len)
        return false;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    time_t t = timegm(&tm);
    /* timegm normalises Feb 30 and the like: reject such dates. */
    struct tm back;
    if (gmtime_r(&t, &back) == NULL || back.tm_mday != d || back.tm_mon != mo - 1)
        return false;
    *out = (int64_t)t - offset;
    return true;
}

void tu_rfc3339_format(int64_t t, char buf[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, 32, "@%lld", (long long)t);
}

void tu_cert_cn(X509 *cert, char *buf, size_t len)
{
    if (len == 0)
        return;
    buf[0] = '\0';
    if (cert == NULL ||
        X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf,
                                  len > INT_MAX ? INT_MAX : (int)len) < 0)
        snprintf(buf, len, "?");
    ERR_clear_error();
}
