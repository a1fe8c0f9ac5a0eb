/* SHA-256, HMAC-SHA-256 ("with separator"), constant-time compare, CSPRNG. */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "crypto_internal.h"

static const uint8_t tu_separator = '|';

/* Hashes the parts, with the separator between consecutive parts when sep. */
static teeu_status tu_sha256_parts(const tu_bytes *parts, size_t n_parts, bool sep, uint8_t out[TU_SHA256_LEN])
{
    if (out == NULL || (parts == NULL && n_parts > 0))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "SHA-256: NULL argument");
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory for SHA-256");
    int ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (size_t i = 0; ok && i < n_parts; i++) {
        if (sep && i > 0)
            ok = EVP_DigestUpdate(ctx, &tu_separator, 1);
        if (ok && parts[i].len > 0)
            ok = EVP_DigestUpdate(ctx, parts[i].data, parts[i].len);
    }
    unsigned len = 0;
    if (ok)
        ok = EVP_DigestFinal_ex(ctx, out, &len) && len == TU_SHA256_LEN;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        ERR_clear_error();
        return tu_error(TEEU_ERR_CRYPTO, "OpenSSL SHA-256 failed");
    }
    return TEEU_OK;
}

teeu_status tu_sha256(const tu_bytes *parts, size_t n_parts, uint8_t out[TU_SHA256_LEN])
{
    return tu_sha256_parts(parts, n_parts, false, out);
}

teeu_status tu_sha256_sep(const tu_bytes *parts, size_t n_parts, uint8_t out[TU_SHA256_LEN])
{
    return tu_sha256_parts(parts, n_parts, true, out);
}

teeu_status tu_hmac_sha256_sep(const uint8_t *key, size_t key_len, const tu_bytes *parts, size_t n_parts,
                               uint8_t out[TU_SHA256_LEN])
{
    if (out == NULL || (key == NULL && key_len > 0) || (parts == NULL && n_parts > 0))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "HMAC-SHA-256: NULL argument");
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    if (ctx == NULL) {
        EVP_MAC_free(mac);
        ERR_clear_error();
        return tu_error(TEEU_ERR_CRYPTO, "OpenSSL has no HMAC implementation available");
    }
    static const uint8_t empty_key[1] = {0};
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    int ok = EVP_MAC_init(ctx, key_len ? key : empty_key, key_len, params);
    for (size_t i = 0; ok && i < n_parts; i++) {
        if (i > 0)
            ok = EVP_MAC_update(ctx, &tu_separator, 1);
        if (ok && parts[i].len > 0)
            ok = EVP_MAC_update(ctx, parts[i].data, parts[i].len);
    }
    size_t len = 0;
    if (ok)
        ok = EVP_MAC_final(ctx, out, &len, TU_SHA256_LEN) && len == TU_SHA256_LEN;
    /* The MAC context holds the padded key: freeing it cleanses it. */
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    if (!ok) {
        ERR_clear_error();
        return tu_error(TEEU_ERR_CRYPTO, "OpenSSL HMAC-SHA-256 failed");
    }
    return TEEU_OK;
}

bool tu_ct_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

/* RAND_bytes takes an int: fill large buffers in chunks. */
static teeu_status tu_random_fill(void *buf, size_t len, bool priv)
{
    if (buf == NULL && len > 0)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "random: NULL buffer");
    uint8_t *p = buf;
    while (len > 0) {
        int chunk = len > (1u << 30) ? (1 << 30) : (int)len;
        int ok = priv ? RAND_priv_bytes(p, chunk) : RAND_bytes(p, chunk);
        if (ok != 1) {
            ERR_clear_error();
            return tu_error(TEEU_ERR_RANDOM, "OpenSSL's random generator failed (is the system entropy source available?)");
        }
        p += chunk;
        len -= (size_t)chunk;
    }
    return TEEU_OK;
}

teeu_status tu_random(void *buf, size_t len)
{
    return tu_random_fill(buf, len, false);
}

teeu_status tu_random_secret(void *buf, size_t len)
{
    return tu_random_fill(buf, len, true);
}

teeu_status tu_uuid4_hex(char out[33])
{
    if (out == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "tu_uuid4_hex: NULL output");
    uint8_t b[16];
    teeu_status st = tu_random(b, sizeof b);
    if (st != TEEU_OK)
        return st;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    tu_hex_encode_to(b, sizeof b, false, out);
    return TEEU_OK;
}
