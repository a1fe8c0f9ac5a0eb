/* RSASSA-PKCS1-v1_5 with SHA-256, and RSAES-OAEP (SHA-1, MGF1-SHA-1, empty label). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rsa.h>

#include "crypto_internal.h"

/*
 * RSA private-key operations done by the calling thread: a debug statistic
 * (the client reports the per-call cost; tests bound it). Thread-local, so
 * no state is shared between threads.
 */
static _Thread_local uint64_t tl_private_ops;

uint64_t tu_rsa_private_ops_thread(void)
{
    return tl_private_ops;
}

static teeu_status tu_need_rsa(const teeu_key *key, bool need_private, const char *op)
{
    if (key == NULL || tu_key_evp(key) == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "%s: no key given", op);
    if (!EVP_PKEY_is_a(tu_key_evp(key), "RSA"))
        return tu_error(TEEU_ERR_KEY_TYPE, "%s needs an RSA key", op);
    if (need_private && !teeu_key_is_private(key))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "%s needs a private key, but a public key was given", op);
    return TEEU_OK;
}

teeu_status tu_rsa_sign(const teeu_key *priv, const tu_bytes *parts, size_t n_parts, uint8_t **sig,
                        size_t *sig_len)
{
    if (sig == NULL || sig_len == NULL || (parts == NULL && n_parts > 0))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "RSA sign: NULL argument");
    *sig = NULL;
    *sig_len = 0;
    teeu_status st = tu_need_rsa(priv, true, "RSA sign");
    if (st != TEEU_OK)
        return st;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory for RSA sign");
    /* PKCS#1 v1.5 is OpenSSL's default padding for RSA signatures. */
    int ok = EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, tu_key_evp(priv), NULL) == 1;
    for (size_t i = 0; ok && i < n_parts; i++)
        if (parts[i].len > 0)
            ok = EVP_DigestSignUpdate(ctx, parts[i].data, parts[i].len) == 1;
    size_t len = 0;
    uint8_t *out = NULL;
    if (ok)
        ok = EVP_DigestSignFinal(ctx, NULL, &len) == 1 && (out = malloc(len)) != NULL;
    if (ok) {
        ok = EVP_DigestSignFinal(ctx, out, &len) == 1;
        tl_private_ops++;
    }
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        free(out);
        ERR_clear_error();
        return tu_error(TEEU_ERR_CRYPTO, "OpenSSL failed to make a SHA256withRSA signature");
    }
    *sig = out;
    *sig_len = len;
    return TEEU_OK;
}

teeu_status tu_rsa_verify(const teeu_key *pub, const tu_bytes *parts, size_t n_parts, const uint8_t *sig,
                          size_t sig_len)
{
    if ((sig == NULL && sig_len > 0) || (parts == NULL && n_parts > 0))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "RSA verify: NULL argument");
    teeu_status st = tu_need_rsa(pub, false, "RSA verify");
    if (st != TEEU_OK)
        return st;
    if (sig_len == 0)
        return tu_error(TEEU_ERR_SIGNATURE, "signature is empty");
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory for RSA verify");
    int ok = EVP_DigestVerifyInit_ex(ctx, NULL, "SHA256", NULL, NULL, tu_key_evp(pub), NULL) == 1;
    if (!ok) {
        EVP_MD_CTX_free(ctx);
        ERR_clear_error();
        return tu_error(TEEU_ERR_CRYPTO, "OpenSSL cannot start a SHA256withRSA verification");
    }
    for (size_t i = 0; ok && i < n_parts; i++)
        if (parts[i].len > 0)
            ok = EVP_DigestVerifyUpdate(ctx, parts[i].data, parts[i].len) == 1;
    int res = ok ? EVP_DigestVerifyFinal(ctx, sig, sig_len) : -1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    if (!ok)
        return tu_error(TEEU_ERR_CRYPTO, "OpenSSL failed while hashing for SHA256withRSA verification");
    if (res != 1)
        return tu_error(TEEU_ERR_SIGNATURE,
                        "SHA256withRSA signature (%zu bytes) does not verify under the RSA-%u key: "
                        "wrong key, or the signed data or signature was altered",
                        sig_len, teeu_key_bits(pub));
    return TEEU_OK;
}

/* An EVP_PKEY_CTX set up for OAEP with SHA-1 / MGF1-SHA-1 and an empty label. */
static EVP_PKEY_CTX *tu_oaep_ctx(const teeu_key *key, bool decrypt)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, tu_key_evp(key), NULL);
    if (ctx == NULL)
        return NULL;
    int ok = (decrypt ? EVP_PKEY_decrypt_init(ctx) : EVP_PKEY_encrypt_init(ctx)) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, "SHA1", NULL) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx, "SHA1", NULL) == 1;
    if (!ok) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

teeu_status tu_rsa_oaep_encrypt(const teeu_key *pub, const uint8_t *in, size_t in_len, uint8_t **out,
                                size_t *out_len)
{
    if (out == NULL || out_len == NULL || (in == NULL && in_len > 0))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "RSA-OAEP encrypt: NULL argument");
    *out = NULL;
    *out_len = 0;
    teeu_status st = tu_need_rsa(pub, false, "RSA-OAEP encrypt");
    if (st != TEEU_OK)
        return st;
    /* OAEP with SHA-1 carries at most k - 2*20 - 2 bytes. */
    size_t k = (teeu_key_bits(pub) + 7) / 8;
    if (k < 42 || in_len > k - 42)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT,
                        "RSA-OAEP: %zu bytes do not fit in one block of an RSA-%u key (at most %zu)", in_len,
                        teeu_key_bits(pub), k >= 42 ? k - 42 : 0);
    EVP_PKEY_CTX *ctx = tu_oaep_ctx(pub, false);
    if (ctx == NULL) {
        ERR_clear_error();
        return tu_error(TEEU_ERR_CRYPTO, "OpenSSL cannot set up RSA-OAEP encryption");
    }
    static const uint8_t empty[1] = {0};
    size_t len = 0;
    uint8_t *buf = NULL;
    int ok = EVP_PKEY_encrypt(ctx, NULL, &len, in ? in : empty, in_len) == 1 && (buf = malloc(len)) != NULL &&
             EVP_PKEY_encrypt(ctx, buf, &len, in ? in : empty, in_len) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok) {
        free(buf);
        ERR_clear_error();
        return tu_error(TEEU_ERR_CRYPTO, "OpenSSL RSA-OAEP encryption failed");
    }
    *out = buf;
    *out_len = len;
    return TEEU_OK;
}

teeu_status tu_rsa_oaep_decrypt(const teeu_key *priv, const uint8_t *in, size_t in_len, uint8_t **out,
                                size_t *out_len)
{
    if (out == NULL || out_len == NULL || (in == NULL && in_len > 0))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "RSA-OAEP decrypt: NULL argument");
    *out = NULL;
    *out_len = 0;
    teeu_status st = tu_need_rsa(priv, true, "RSA-OAEP decrypt");
    if (st != TEEU_OK)
        return st;
    size_t k = (teeu_key_bits(priv) + 7) / 8;
    if (in_len != k)
        return tu_error(TEEU_ERR_DECRYPT,
                        "RSA-OAEP ciphertext is %zu bytes, but the RSA-%u key needs exactly %zu: "
                        "sealed to another key, or truncated",
                        in_len, teeu_key_bits(priv), k);
    EVP_PKEY_CTX *ctx = tu_oaep_ctx(priv, true);
    if (ctx == NULL) {
        ERR_clear_error();
        return tu_error(TEEU_ERR_CRYPTO, "OpenSSL cannot set up RSA-OAEP decryption");
    }
    size_t cap = 0;
    uint8_t *buf = NULL;
    int ok = EVP_PKEY_decrypt(ctx, NULL, &cap, in, in_len) == 1 && (buf = malloc(cap ? cap : 1)) != NULL;
    if (!ok) {
        EVP_PKEY_CTX_free(ctx);
        ERR_clear_error();
        return tu_error(buf == NULL && cap ? TEEU_ERR_NOMEM : TEEU_ERR_CRYPTO, "RSA-OAEP decryption setup failed");
    }
    size_t len = cap;
    ok = EVP_PKEY_decrypt(ctx, buf, &len, in, in_len) == 1;
    tl_private_ops++;
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    if (!ok) {
        tu_free_secret(buf, cap);
        return tu_error(TEEU_ERR_DECRYPT,
                        "RSA-OAEP ciphertext does not decrypt with this RSA-%u key: sealed to another key, "
                        "or altered",
                        teeu_key_bits(priv));
    }
    /* Wipe the unused tail now: the caller's tu_free_secret(*out, *out_len)
     * only wipes the plaintext length. */
    if (len < cap)
        tu_wipe(buf + len, cap - len);
    *out = buf;
    *out_len = len;
    return TEEU_OK;
}
