/*
 * A fast path for the commonest public key: one PEM block holding an RSA
 * key as SubjectPublicKeyInfo ("PUBLIC KEY") or PKCS#1 ("RSA PUBLIC KEY"),
 * in strict DER.
 *
 * Why: OpenSSL 3.0's OSSL_DECODER takes ~260 us per RSA public key (it tries
 * every decoder of every provider), and the services load an owner's key on
 * every CreateDataWithAuth, PutObject and Reveal. Reading the two integers
 * by hand and building the key with EVP_PKEY_fromdata takes ~6 us.
 *
 * The parser is deliberately narrow: anything it does not fully recognise
 * (other labels, text around the block, BER length forms, non-minimal
 * integers, other algorithms, trailing bytes) returns false, and the caller
 * falls back to OpenSSL's decoder, which gives the detailed errors. It never
 * reads outside its input.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "crypto_internal.h"

/* Larger than any PEM public key libteeu accepts (RSA-16384 SPKI is ~2.8 KiB). */
#define PEM_FAST_MAX 8192

typedef struct der {
    const uint8_t *p;
    size_t n;
} der;

/* Reads one DER element of the given tag; *body gets its contents. Definite, minimal lengths only. */
static bool der_take(der *d, uint8_t tag, der *body)
{
    if (d->n < 2 || d->p[0] != tag)
        return false;
    size_t len = d->p[1], hdr = 2;
    if (len & 0x80) {
        size_t k = len & 0x7f;
        if (k == 0 || k > 2 || d->n < 2 + k || d->p[2] == 0)
            return false;
        len = 0;
        for (size_t i = 0; i < k; i++)
            len = len << 8 | d->p[2 + i];
        if (len < 0x80 || (k == 2 && len < 0x100))
            return false;
        hdr += k;
    }
    if (d->n - hdr < len)
        return false;
    body->p = d->p + hdr;
    body->n = len;
    d->p += hdr + len;
    d->n -= hdr + len;
    return true;
}

/* A positive, minimally encoded INTEGER: its magnitude without the sign byte. */
static bool der_uint(der *d, der *mag)
{
    if (!der_take(d, 0x02, mag) || mag->n == 0 || (mag->p[0] & 0x80))
        return false;
    if (mag->p[0] == 0) {
        if (mag->n == 1 || !(mag->p[1] & 0x80))
            return false;
        mag->p++;
        mag->n--;
    }
    return true;
}

/* RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }, filling all of d. */
static bool der_rsa_public(der d, der *n, der *e)
{
    der seq;
    return der_take(&d, 0x30, &seq) && d.n == 0 && der_uint(&seq, n) && der_uint(&seq, e) && seq.n == 0;
}

/* SubjectPublicKeyInfo with AlgorithmIdentifier { rsaEncryption, NULL }, filling all of d. */
static bool der_spki_rsa(der d, der *n, der *e)
{
    static const uint8_t rsa_alg[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00};
    der spki, alg, bits;
    if (!der_take(&d, 0x30, &spki) || d.n != 0 || !der_take(&spki, 0x30, &alg) ||
        alg.n != sizeof rsa_alg || memcmp(alg.p, rsa_alg, sizeof rsa_alg) != 0 ||
        !der_take(&spki, 0x03, &bits) || spki.n != 0 || bits.n < 1 || bits.p[0] != 0)
        return false;
    der key = {bits.p + 1, bits.n - 1};
    return der_rsa_public(key, n, e);
}

static bool pem_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* The base64 body of the only PEM block of text, if its label is label: whitespace removed into out. */
static bool pem_body(const char *text, size_t len, const char *label, char *out, size_t cap, size_t *out_len)
{
    char begin[40], end[40];
    int bl = snprintf(begin, sizeof begin, "-----BEGIN %s-----", label);
    int el = snprintf(end, sizeof end, "-----END %s-----", label);
    if (bl <= 0 || el <= 0 || (size_t)bl >= sizeof begin || (size_t)el >= sizeof end)
        return false;
    size_t i = 0;
    while (i < len && pem_space(text[i]))
        i++;
    if (len - i < (size_t)bl || memcmp(text + i, begin, (size_t)bl) != 0)
        return false;
    i += (size_t)bl;
    size_t o = 0;
    while (i < len && text[i] != '-') {
        char ch = text[i++];
        if (pem_space(ch))
            continue;
        if (o == cap)
            return false;
        out[o++] = ch;
    }
    if (len - i < (size_t)el || memcmp(text + i, end, (size_t)el) != 0)
        return false;
    for (i += (size_t)el; i < len; i++)
        if (!pem_space(text[i]))
            return false;
    *out_len = o;
    return true;
}

static EVP_PKEY *rsa_from_integers(der n, der e)
{
    EVP_PKEY *pkey = NULL;
    BIGNUM *bn_n = BN_bin2bn(n.p, (int)n.n, NULL), *bn_e = BN_bin2bn(e.p, (int)e.n, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    if (bn_n == NULL || bn_e == NULL || bld == NULL || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
        (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
        ERR_clear_error();
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    return pkey;
}

EVP_PKEY *tu_rsa_public_pem_fast(const char *pem, size_t pem_len)
{
    if (pem == NULL || pem_len > PEM_FAST_MAX)
        return NULL;
    char b64[PEM_FAST_MAX];
    size_t b64_len = 0;
    bool spki = pem_body(pem, pem_len, "PUBLIC KEY", b64, sizeof b64, &b64_len);
    if (!spki && !pem_body(pem, pem_len, "RSA PUBLIC KEY", b64, sizeof b64, &b64_len))
        return NULL;
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (tu_base64_decode(b64, b64_len, &bytes, &len) != TEEU_OK) {
        tu_error_clear();
        return NULL;
    }
    der d = {bytes, len}, n, e;
    /* The modulus must not be even and the exponent at least 3 and odd, or the slow path explains. */
    bool ok = (spki ? der_spki_rsa(d, &n, &e) : der_rsa_public(d, &n, &e)) && (n.p[n.n - 1] & 1) &&
              (e.p[e.n - 1] & 1) && (e.n > 1 || e.p[0] >= 3) && e.n <= 8;
    EVP_PKEY *pkey = ok ? rsa_from_integers(n, e) : NULL;
    free(bytes);
    return pkey;
}
