/* One-shot AES-GCM (128/256 by key length) and the AsymmetricSecret envelope. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "crypto_internal.h"

/* EVP updates take an int length: feed larger buffers in chunks. */
#define TU_EVP_CHUNK ((size_t)1 << 30)
/* GCM's limit for one nonce is 2^39 - 256 bits of plaintext. */
#define TU_GCM_MAX_LEN (((uint64_t)1 << 36) - 32)

const EVP_CIPHER *tu_gcm_cipher(size_t key_len)
{
    switch (key_len) {
    case 16: return EVP_aes_128_gcm();
    case 32: return EVP_aes_256_gcm();
    default: return NULL;
    }
}

/* Runs EVP_CipherUpdate over data in int-sized chunks (data may be NULL for AAD). */
int tu_evp_update(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t len)
{
    while (len > 0) {
        int chunk = (int)(len > TU_EVP_CHUNK ? TU_EVP_CHUNK : len);
        int outl = 0;
        if (EVP_CipherUpdate(ctx, out, &outl, in, chunk) != 1)
            return 0;
        if (out != NULL) {
            if (outl != chunk)
                return 0;
            out += chunk;
        }
        in += chunk;
        len -= (size_t)chunk;
    }
    return 1;
}

static teeu_status tu_gcm_check(const char *op, const uint8_t *key, size_t key_len, const uint8_t *nonce,
                                const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len,
                                const void *out, const uint8_t *tag)
{
    if (key == NULL || nonce == NULL || tag == NULL || (aad == NULL && aad_len > 0) ||
        (in_len > 0 && (in == NULL || out == NULL)))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "%s: NULL argument", op);
    if (tu_gcm_cipher(key_len) == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "%s: the key is %zu bytes; AES-GCM needs 16 or 32", op, key_len);
    if ((uint64_t)in_len > TU_GCM_MAX_LEN)
        return tu_error(TEEU_ERR_LIMIT, "%s: %zu bytes exceed AES-GCM's limit for one nonce", op, in_len);
    return TEEU_OK;
}

teeu_status tu_aes_gcm_seal(const uint8_t *key, size_t key_len, const uint8_t nonce[TU_GCM_NONCE_LEN],
                            const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len, uint8_t *ct,
                            uint8_t tag[TU_GCM_TAG_LEN])
{
    teeu_status st = tu_gcm_check("AES-GCM seal", key, key_len, nonce, aad, aad_len, in, in_len, ct, tag);
    if (st != TEEU_OK)
        return st;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory for AES-GCM");
    int outl = 0;
    uint8_t fin[16]; /* GCM's final step outputs nothing; EVP still wants a pointer */
    /* 12 bytes is GCM's default IV length: no IVLEN control needed. */
    int ok = EVP_EncryptInit_ex(ctx, tu_gcm_cipher(key_len), NULL, key, nonce) == 1 &&
             tu_evp_update(ctx, NULL, aad, aad_len) && tu_evp_update(ctx, ct, in, in_len) &&
             EVP_EncryptFinal_ex(ctx, fin, &outl) == 1 &&
             EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TU_GCM_TAG_LEN, tag) == 1;
    /* Freeing the context cleanses the expanded key. */
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        ERR_clear_error();
        if (ct != NULL)
            tu_wipe(ct, in_len);
        return tu_error(TEEU_ERR_CRYPTO, "OpenSSL AES-GCM encryption failed");
    }
    return TEEU_OK;
}

teeu_status tu_aes_gcm_open(const uint8_t *key, size_t key_len, const uint8_t nonce[TU_GCM_NONCE_LEN],
                            const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len,
                            const uint8_t tag[TU_GCM_TAG_LEN], uint8_t *pt)
{
    teeu_status st = tu_gcm_check("AES-GCM open", key, key_len, nonce, aad, aad_len, ct, ct_len, pt, tag);
    if (st != TEEU_OK)
        return st;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory for AES-GCM");
    uint8_t tag_copy[TU_GCM_TAG_LEN];
    memcpy(tag_copy, tag, sizeof tag_copy); /* the ctrl takes a non-const pointer */
    int outl = 0;
    uint8_t fin[16]; /* GCM's final step outputs nothing */
    int ok = EVP_DecryptInit_ex(ctx, tu_gcm_cipher(key_len), NULL, key, nonce) == 1 &&
             tu_evp_update(ctx, NULL, aad, aad_len) && tu_evp_update(ctx, pt, ct, ct_len) &&
             EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TU_GCM_TAG_LEN, tag_copy) == 1;
    /* DecryptFinal compares the tag in constant time. */
    int verified = ok && EVP_DecryptFinal_ex(ctx, fin, &outl) == 1;
    EVP_CIPHER_CTX_free(ctx);
    ERR_clear_error();
    if (!verified) {
        /* Never leave unauthenticated plaintext behind. */
        if (pt != NULL)
            tu_wipe(pt, ct_len);
        if (!ok)
            return tu_error(TEEU_ERR_CRYPTO, "OpenSSL AES-GCM decryption failed");
        return tu_error(TEEU_ERR_DECRYPT,
                        "AES-%zu-GCM tag does not verify: wrong key, or the ciphertext, nonce, tag or "
                        "associated data was altered",
                        key_len * 8);
    }
    return TEEU_OK;
}

/* ---- digital envelope -------------------------------------------------------- */

void tu_envelope_free(tu_envelope *env)
{
    if (env == NULL)
        return;
    free(env->sealed_key);
    free(env->ciphertext);
    free(env->aad);
    memset(env, 0, sizeof *env);
}

teeu_status tu_envelope_seal(const teeu_key *pub, size_t aes_key_len, const uint8_t *aad, size_t aad_len,
                             const uint8_t *payload, size_t payload_len, tu_envelope *env)
{
    if (env == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "envelope seal: NULL envelope");
    memset(env, 0, sizeof *env);
    if ((aad == NULL && aad_len > 0) || (payload == NULL && payload_len > 0))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "envelope seal: NULL argument");
    if (aes_key_len != 16 && aes_key_len != 32)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "envelope seal: AES key length %zu, expected 16 or 32",
                        aes_key_len);
    uint8_t key[32];
    teeu_status st = tu_random_secret(key, aes_key_len);
    if (st == TEEU_OK)
        st = tu_random(env->nonce, sizeof env->nonce);
    if (st == TEEU_OK)
        st = tu_rsa_oaep_encrypt(pub, key, aes_key_len, &env->sealed_key, &env->sealed_key_len);
    if (st == TEEU_OK) {
        env->aad = tu_memdup(aad ? aad : (const uint8_t *)"", aad_len);
        env->ciphertext = malloc(payload_len ? payload_len : 1);
        if (env->aad == NULL || env->ciphertext == NULL)
            st = tu_error(TEEU_ERR_NOMEM, "out of memory sealing a %zu-byte envelope", payload_len);
        env->aad_len = aad_len;
        env->ciphertext_len = payload_len;
    }
    if (st == TEEU_OK)
        st = tu_aes_gcm_seal(key, aes_key_len, env->nonce, aad, aad_len, payload, payload_len, env->ciphertext,
                             env->tag);
    tu_wipe(key, sizeof key);
    if (st != TEEU_OK)
        tu_envelope_free(env);
    return st;
}

teeu_status tu_envelope_open(const teeu_key *priv, const tu_envelope *env, uint8_t **payload, size_t *payload_len)
{
    if (env == NULL || payload == NULL || payload_len == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "envelope open: NULL argument");
    *payload = NULL;
    *payload_len = 0;
    if ((env->ciphertext == NULL && env->ciphertext_len > 0) || (env->aad == NULL && env->aad_len > 0))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "envelope open: NULL field with a non-zero length");
    uint8_t *key = NULL;
    size_t key_len = 0;
    teeu_status st = tu_rsa_oaep_decrypt(priv, env->sealed_key, env->sealed_key_len, &key, &key_len);
    if (st != TEEU_OK)
        return tu_error_context(st, "opening envelope key");
    if (key_len != 16 && key_len != 32) {
        tu_free_secret(key, key_len);
        return tu_error(TEEU_ERR_DECRYPT,
                        "envelope key is %zu bytes; only 16 (AES-128-GCM) or 32 (AES-256-GCM) are valid", key_len);
    }
    uint8_t *out = malloc(env->ciphertext_len ? env->ciphertext_len : 1);
    if (out == NULL) {
        tu_free_secret(key, key_len);
        return tu_error(TEEU_ERR_NOMEM, "out of memory opening a %zu-byte envelope", env->ciphertext_len);
    }
    st = tu_aes_gcm_open(key, key_len, env->nonce, env->aad, env->aad_len, env->ciphertext, env->ciphertext_len,
                         env->tag, out);
    tu_free_secret(key, key_len);
    if (st != TEEU_OK) {
        free(out); /* already wiped by tu_aes_gcm_open */
        return tu_error_context(st, "opening envelope payload");
    }
    *payload = out;
    *payload_len = env->ciphertext_len;
    return TEEU_OK;
}
