/*
 * Crypto layer: keys (formats, size/type rules, passphrases, permissions),
 * SHA-256/HMAC with separator, SHA256withRSA, RSA-OAEP, AES-GCM, the
 * envelope, randomness, and the segmented streaming AEAD with tampering.
 * Keys are generated at test time (once, before the forked tests run).
 */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "crypto/crypto_internal.h"
#include "tu_check.h"

/* ---- fixtures ---------------------------------------------------------------- */

static teeu_key *party;     /* RSA-3072 private */
static teeu_key *small_key; /* RSA-2048 private */
static char tmpdir[256];
static char *party_pem;
static size_t party_pem_len;

static void write_text(const char *path, const char *text, size_t len, mode_t mode)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    fclose(f);
    ck_assert_int_eq(chmod(path, mode), 0);
}

static void make_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

static void setup_keys(void)
{
    ck_assert_ok(teeu_key_generate(0, &party));
    ck_assert_ok(teeu_key_generate(2048, &small_key));
    ck_assert_ok(teeu_key_private_pem(party, NULL, &party_pem, &party_pem_len));
    snprintf(tmpdir, sizeof tmpdir, "/tmp/teeu_test_crypto_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void teardown_keys(void)
{
    teeu_key_free(party);
    teeu_key_free(small_key);
    teeu_free_secret(party_pem, party_pem_len);
    nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* PEM text of an EVP_PKEY written by OpenSSL directly (for formats libteeu does not write). */
static char *evp_pem(EVP_PKEY *pkey, int which, size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int ok = 0;
    if (which == 0)
        ok = PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL);
    else if (which == 1) /* PKCS#1 "RSA PRIVATE KEY" through the encoder API */
        ok = PEM_write_bio_PrivateKey_traditional(bio, pkey, NULL, NULL, 0, NULL, NULL);
    else if (which == 2)
        ok = PEM_write_bio_PUBKEY(bio, pkey);
    ck_assert_int_eq(ok, 1);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    char *copy = tu_memdup(data, (size_t)n);
    *len = (size_t)n;
    BIO_free(bio);
    return copy;
}

/* ---- keys -------------------------------------------------------------------- */

START_TEST(key_generate_and_properties)
{
    ck_assert_uint_eq(teeu_key_bits(party), 3072);
    ck_assert_int_eq(teeu_key_is_private(party), 1);
    ck_assert_uint_eq(teeu_key_bits(NULL), 0);
    ck_assert_int_eq(teeu_key_is_private(NULL), 0);
    teeu_key *k = NULL;
    ck_assert_status(teeu_key_generate(1024, &k), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(k);
    ck_assert_status(teeu_key_generate(3072, NULL), TEEU_ERR_INVALID_ARGUMENT);
    teeu_key_free(NULL);
}
END_TEST

/* 3-prime keys (the AuthManager's service key): same size and public form, every private operation works. */
START_TEST(key_multiprime)
{
    ck_assert_uint_eq(tu_key_rsa_primes(party), 2);
    ck_assert_uint_eq(tu_key_rsa_primes(NULL), 0);
    teeu_key *k3 = NULL, *back = NULL, *pub = NULL;
    ck_assert_ok(tu_key_generate_primes(3072, 3, &k3));
    ck_assert_uint_eq(teeu_key_bits(k3), 3072);
    ck_assert_uint_eq(tu_key_rsa_primes(k3), 3);
    /* PKCS#8 export and back keeps every prime. */
    char *pem = NULL;
    size_t pem_len = 0;
    ck_assert_ok(teeu_key_private_pem(k3, NULL, &pem, &pem_len));
    ck_assert_ok(teeu_key_load_private_pem(pem, pem_len, NULL, &back));
    teeu_free_secret(pem, pem_len);
    ck_assert_uint_eq(tu_key_rsa_primes(back), 3);
    char a[TEEU_OWNER_ID_LEN + 1], b[TEEU_OWNER_ID_LEN + 1];
    ck_assert_ok(teeu_key_owner_id(k3, a));
    ck_assert_ok(teeu_key_owner_id(back, b));
    ck_assert_str_eq(a, b);
    /* Its public half is an ordinary RSA-3072 public key (the fast PEM path reads it). */
    ck_assert_ok(teeu_key_public_pem(k3, &pem, &pem_len));
    ck_assert_ok(teeu_key_load_public_pem(pem, pem_len, 3072, &pub));
    free(pem);
    ck_assert_uint_eq(tu_key_rsa_primes(pub), 0);
    /* OAEP sealed to the public key opens with both private copies, and only with them. */
    uint8_t key[32], *ct = NULL, *pt = NULL;
    size_t ct_len = 0, pt_len = 0;
    ck_assert_ok(tu_random(key, sizeof key));
    ck_assert_ok(tu_rsa_oaep_encrypt(pub, key, sizeof key, &ct, &ct_len));
    ck_assert_uint_eq(ct_len, 384);
    teeu_key *openers[] = {k3, back};
    for (size_t i = 0; i < 2; i++) {
        ck_assert_ok(tu_rsa_oaep_decrypt(openers[i], ct, ct_len, &pt, &pt_len));
        ck_assert_uint_eq(pt_len, sizeof key);
        ck_assert_mem_eq(pt, key, sizeof key);
        tu_free_secret(pt, pt_len);
    }
    ck_assert_status(tu_rsa_oaep_decrypt(party, ct, ct_len, &pt, &pt_len), TEEU_ERR_DECRYPT);
    ct[7] ^= 0x40;
    ck_assert_status(tu_rsa_oaep_decrypt(k3, ct, ct_len, &pt, &pt_len), TEEU_ERR_DECRYPT);
    free(ct);
    /* Signatures verify with the public key, and not after tampering. */
    tu_bytes parts[] = {TU_STR("data-uuid"), TU_BYTES(key, sizeof key)};
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    ck_assert_ok(tu_rsa_sign(back, parts, 2, &sig, &sig_len));
    ck_assert_uint_eq(sig_len, 384);
    ck_assert_ok(tu_rsa_verify(pub, parts, 2, sig, sig_len));
    ck_assert_status(tu_rsa_verify(party, parts, 2, sig, sig_len), TEEU_ERR_SIGNATURE);
    sig[0] ^= 1;
    ck_assert_status(tu_rsa_verify(pub, parts, 2, sig, sig_len), TEEU_ERR_SIGNATURE);
    free(sig);
    teeu_key_free(pub);
    teeu_key_free(back);
    teeu_key_free(k3);
    /* Primes of at least 1024 bits, at most 3; 2 is teeu_key_generate's. */
    teeu_key *k = NULL;
    ck_assert_status(tu_key_generate_primes(2048, 3, &k), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(tu_key_generate_primes(4096, 4, &k), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(tu_key_generate_primes(3072, 1, &k), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(k);
    ck_assert_status(tu_key_generate_primes(3072, 3, NULL), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert(strstr(teeu_last_error(), "NULL") != NULL);
    ck_assert_status(tu_key_generate_primes(2048, 3, &k), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert(strstr(teeu_last_error(), "3 needs 3072 bits") != NULL);
}
END_TEST

START_TEST(key_private_pem_round_trip_pkcs8)
{
    ck_assert_ptr_nonnull(strstr(party_pem, "-----BEGIN PRIVATE KEY-----"));
    teeu_key *k = NULL;
    ck_assert_ok(teeu_key_load_private_pem(party_pem, party_pem_len, NULL, &k));
    char a[TEEU_OWNER_ID_LEN + 1], b[TEEU_OWNER_ID_LEN + 1];
    ck_assert_ok(teeu_key_owner_id(party, a));
    ck_assert_ok(teeu_key_owner_id(k, b));
    ck_assert_str_eq(a, b);
    ck_assert_int_eq(teeu_key_is_private(k), 1);
    teeu_key_free(k);
}
END_TEST

START_TEST(key_private_pem_pkcs1)
{
    size_t len;
    char *pem = evp_pem(tu_key_evp(party), 1, &len);
    ck_assert_ptr_nonnull(strstr(pem, "-----BEGIN RSA PRIVATE KEY-----"));
    teeu_key *k = NULL;
    ck_assert_ok(teeu_key_load_private_pem(pem, len, NULL, &k));
    ck_assert_uint_eq(teeu_key_bits(k), 3072);
    teeu_key_free(k);
    free(pem);
}
END_TEST

START_TEST(key_encrypted_pkcs8_passphrases)
{
    char *pem = NULL;
    size_t len = 0;
    ck_assert_ok(teeu_key_private_pem(party, "correct horse", &pem, &len));
    ck_assert_ptr_nonnull(strstr(pem, "-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    teeu_key *k = NULL;
    ck_assert_ok(teeu_key_load_private_pem(pem, len, "correct horse", &k));
    ck_assert_uint_eq(teeu_key_bits(k), 3072);
    teeu_key_free(k);
    k = NULL;

    ck_assert_status(teeu_key_load_private_pem(pem, len, "wrong horse", &k), TEEU_ERR_KEY_PASSPHRASE);
    ck_assert_ptr_null(k);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "passphrase"));
    ck_assert_status(teeu_key_load_private_pem(pem, len, NULL, &k), TEEU_ERR_KEY_PASSPHRASE);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "no passphrase was given"));
    ck_assert_ptr_null(k);
    teeu_free_secret(pem, len);
}
END_TEST

START_TEST(key_too_small_names_sizes)
{
    char *pem = NULL;
    size_t len = 0;
    ck_assert_ok(teeu_key_private_pem(small_key, NULL, &pem, &len));
    teeu_key *k = NULL;
    ck_assert_status(teeu_key_load_private_pem(pem, len, NULL, &k), TEEU_ERR_KEY_TOO_SMALL);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "RSA-2048"));
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "3072"));
    ck_assert_ptr_null(k);
    /* A 2048-bit key is fine for a peer. */
    ck_assert_ok(tu_key_load_private_pem_min(pem, len, NULL, TEEU_PEER_KEY_MIN_BITS, NULL, &k));
    teeu_key_free(k);
    teeu_free_secret(pem, len);

    char *pub = NULL;
    ck_assert_ok(teeu_key_public_pem(small_key, &pub, &len));
    ck_assert_ok(teeu_key_load_public_pem(pub, len, 0, &k));
    teeu_key_free(k);
    k = NULL;
    ck_assert_status(teeu_key_load_public_pem(pub, len, TEEU_PARTY_KEY_MIN_BITS, &k), TEEU_ERR_KEY_TOO_SMALL);
    ck_assert_ptr_null(k);
    teeu_free(pub);
}
END_TEST

START_TEST(key_ec_is_wrong_type)
{
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ck_assert_ptr_nonnull(ec);
    size_t len;
    char *priv = evp_pem(ec, 0, &len);
    teeu_key *k = NULL;
    ck_assert_status(teeu_key_load_private_pem(priv, len, NULL, &k), TEEU_ERR_KEY_TYPE);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "EC"));
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "RSA"));
    free(priv);
    char *pub = evp_pem(ec, 2, &len);
    ck_assert_status(teeu_key_load_public_pem(pub, len, 0, &k), TEEU_ERR_KEY_TYPE);
    ck_assert_ptr_null(k);
    free(pub);
    teeu_key *wrapped = NULL;
    ck_assert_status(tu_key_from_evp(ec, &wrapped), TEEU_ERR_KEY_TYPE);
    EVP_PKEY_free(ec);
}
END_TEST

START_TEST(key_garbage_is_format_error)
{
    static const char *const bad[] = {
        "",
        "hello world",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        "-----BEGIN RSA PRIVATE KEY-----\n!!!!\n-----END RSA PRIVATE KEY-----\n",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    };
    for (size_t i = 0; i < TU_ARRAY_LEN(bad); i++) {
        teeu_key *k = NULL;
        ck_assert_status(teeu_key_load_private_pem(bad[i], strlen(bad[i]), NULL, &k), TEEU_ERR_KEY_FORMAT);
        ck_assert_ptr_null(k);
        ck_assert_status(teeu_key_load_private_pem(bad[i], strlen(bad[i]), "pw", &k), TEEU_ERR_KEY_FORMAT);
        ck_assert_status(teeu_key_load_public_pem(bad[i], strlen(bad[i]), 0, &k), TEEU_ERR_KEY_FORMAT);
        ck_assert_ptr_null(k);
    }
    /* A truncated real key. */
    teeu_key *k = NULL;
    ck_assert_status(teeu_key_load_private_pem(party_pem, party_pem_len / 2, NULL, &k), TEEU_ERR_KEY_FORMAT);
    /* A private key where a public key is expected, and the reverse. */
    ck_assert_status(teeu_key_load_public_pem(party_pem, party_pem_len, 0, &k), TEEU_ERR_KEY_FORMAT);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "private key where a public key"));
    char *pub = NULL;
    size_t len;
    ck_assert_ok(teeu_key_public_pem(party, &pub, &len));
    ck_assert_status(teeu_key_load_private_pem(pub, len, NULL, &k), TEEU_ERR_KEY_FORMAT);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "public key where a private key"));
    teeu_free(pub);
    ck_assert_status(teeu_key_load_private_pem(NULL, 0, NULL, &k), TEEU_ERR_INVALID_ARGUMENT);
}
END_TEST

START_TEST(key_public_spki_and_pkcs1)
{
    char *pub = NULL;
    size_t len;
    ck_assert_ok(teeu_key_public_pem(party, &pub, &len));
    ck_assert_ptr_nonnull(strstr(pub, "-----BEGIN PUBLIC KEY-----"));
    ck_assert_uint_eq(strlen(pub), len);
    teeu_key *k = NULL;
    ck_assert_ok(teeu_key_load_public_pem(pub, len, 0, &k));
    ck_assert_int_eq(teeu_key_is_private(k), 0);
    char a[TEEU_OWNER_ID_LEN + 1], b[TEEU_OWNER_ID_LEN + 1];
    ck_assert_ok(teeu_key_owner_id(party, a));
    ck_assert_ok(teeu_key_owner_id(k, b));
    ck_assert_str_eq(a, b);
    ck_assert_uint_eq(strlen(a), TEEU_OWNER_ID_LEN);
    /* A public key cannot export a private PEM. */
    char *priv = NULL;
    ck_assert_status(teeu_key_private_pem(k, NULL, &priv, &len), TEEU_ERR_INVALID_ARGUMENT);
    teeu_key_free(k);
    teeu_free(pub);

    /* PKCS#1 "RSA PUBLIC KEY", made with the encoder API. */
    BIO *bio = BIO_new(BIO_s_mem());
    OSSL_ENCODER_CTX *ectx = OSSL_ENCODER_CTX_new_for_pkey(tu_key_evp(party), EVP_PKEY_PUBLIC_KEY, "PEM",
                                                           "type-specific", NULL);
    ck_assert_ptr_nonnull(ectx);
    ck_assert_int_eq(OSSL_ENCODER_to_bio(ectx, bio), 1);
    OSSL_ENCODER_CTX_free(ectx);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    ck_assert_ptr_nonnull(memmem(data, (size_t)n, "BEGIN RSA PUBLIC KEY", 20));
    ck_assert_ok(teeu_key_load_public_pem(data, (size_t)n, 0, &k));
    ck_assert_ok(teeu_key_owner_id(k, b));
    ck_assert_str_eq(a, b);
    teeu_key_free(k);
    BIO_free(bio);
}
END_TEST

/* The PEM text of the party key, as SPKI or PKCS#1; free with free(). */
static char *party_public_pem(bool pkcs1, size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    OSSL_ENCODER_CTX *ectx = OSSL_ENCODER_CTX_new_for_pkey(tu_key_evp(party), EVP_PKEY_PUBLIC_KEY, "PEM",
                                                           pkcs1 ? "type-specific" : "SubjectPublicKeyInfo", NULL);
    ck_assert_ptr_nonnull(ectx);
    ck_assert_int_eq(OSSL_ENCODER_to_bio(ectx, bio), 1);
    OSSL_ENCODER_CTX_free(ectx);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    char *out = malloc((size_t)n + 1);
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    *len = (size_t)n;
    BIO_free(bio);
    return out;
}

/* The fast PEM path gives OpenSSL's key for well-formed input and steps aside (NULL) for anything else. */
START_TEST(key_public_fast_path)
{
    for (int pkcs1 = 0; pkcs1 <= 1; pkcs1++) {
        size_t len;
        char *pem = party_public_pem(pkcs1, &len);
        EVP_PKEY *k = tu_rsa_public_pem_fast(pem, len);
        ck_assert_ptr_nonnull(k);
        ck_assert_int_eq(EVP_PKEY_eq(k, tu_key_evp(party)), 1);
        EVP_PKEY_free(k);
        /* CRLF line ends and surrounding blank lines are fine. */
        char crlf[8192];
        size_t o = 0;
        crlf[o++] = '\n';
        for (size_t i = 0; i < len; i++) {
            if (pem[i] == '\n')
                crlf[o++] = '\r';
            crlf[o++] = pem[i];
        }
        k = tu_rsa_public_pem_fast(crlf, o);
        ck_assert_ptr_nonnull(k);
        EVP_PKEY_free(k);
        /* Every truncation and every one-byte change is either refused or still this very key. */
        ck_assert_int_eq(pem[len - 1], '\n'); /* the last newline is optional; any shorter text is cut */
        for (size_t cut = 0; cut + 1 < len; cut++)
            ck_assert_ptr_null(tu_rsa_public_pem_fast(pem, cut));
        for (size_t i = 0; i < len; i++) {
            char saved = pem[i];
            pem[i] = (char)(saved ^ 0x04);
            k = tu_rsa_public_pem_fast(pem, len);
            if (k != NULL) {
                /* Only whitespace may change harmlessly, e.g. none here: any decode must differ or be refused. */
                ck_assert_int_ne(EVP_PKEY_eq(k, tu_key_evp(party)), 1);
                EVP_PKEY_free(k);
            }
            pem[i] = saved;
        }
        /* Text before the block, or after it, is left to OpenSSL's decoder (which accepts it). */
        char framed[8192];
        int n = snprintf(framed, sizeof framed, "comment\n%s", pem);
        ck_assert_ptr_null(tu_rsa_public_pem_fast(framed, (size_t)n));
        teeu_key *tk = NULL;
        ck_assert_ok(teeu_key_load_public_pem(framed, (size_t)n, 0, &tk));
        teeu_key_free(tk);
        n = snprintf(framed, sizeof framed, "%sx", pem);
        ck_assert_ptr_null(tu_rsa_public_pem_fast(framed, (size_t)n));
        free(pem);
    }
    /* BER (non-minimal) lengths, a leading zero on an integer, another algorithm: not the fast path. */
    static const char *const odd[] = {
        "-----BEGIN RSA PUBLIC KEY-----\nMIEIAgEFAgED\n-----END RSA PUBLIC KEY-----\n",     /* 30 81 08 */
        "-----BEGIN RSA PUBLIC KEY-----\nMAcCAgAFAgED\n-----END RSA PUBLIC KEY-----\n",     /* n = 00 05 */
        "-----BEGIN RSA PUBLIC KEY-----\nMAYCAQUCAQM=\n-----END RSA PUBLIC KEY-----\n",     /* fine DER, tiny */
        "-----BEGIN PUBLIC KEY-----\nMBgwCwYJKoZIhvcNAQEBAwkAMAYCAQUCAQM=\n-----END PUBLIC KEY-----\n", /* no NULL */
    };
    for (size_t i = 0; i < 2; i++)
        ck_assert_ptr_null(tu_rsa_public_pem_fast(odd[i], strlen(odd[i])));
    /* A well-formed toy key decodes (the size rule is tu_key_accept's), a missing NULL parameter does not. */
    EVP_PKEY *toy = tu_rsa_public_pem_fast(odd[2], strlen(odd[2]));
    ck_assert_ptr_nonnull(toy);
    EVP_PKEY_free(toy);
    ck_assert_ptr_null(tu_rsa_public_pem_fast(odd[3], strlen(odd[3])));
    teeu_key *tk = NULL;
    ck_assert_status(teeu_key_load_public_pem(odd[2], strlen(odd[2]), 0, &tk), TEEU_ERR_KEY_TOO_SMALL);
}
END_TEST

START_TEST(key_owner_id_is_sha256_of_spki)
{
    uint8_t *der = NULL;
    size_t der_len = 0;
    ck_assert_ok(tu_key_spki_der(party, &der, &der_len));
    /* Compute independently with OpenSSL's one-shot digest + base64 encoder. */
    unsigned char md[32];
    unsigned md_len = 0;
    ck_assert_int_eq(EVP_Digest(der, der_len, md, &md_len, EVP_sha256(), NULL), 1);
    unsigned char b64[64];
    int n = EVP_EncodeBlock(b64, md, 32);
    ck_assert_int_eq(n, TEEU_OWNER_ID_LEN);
    char id[TEEU_OWNER_ID_LEN + 1];
    ck_assert_ok(teeu_key_owner_id(party, id));
    ck_assert_str_eq(id, (char *)b64);
    free(der);
}
END_TEST

static int warn_calls;
static char warn_msg[1024];
static void capture_warn(teeu_log_level level, const char *msg, void *ud)
{
    (void)ud;
    if (level == TEEU_LOG_WARN) {
        warn_calls++;
        snprintf(warn_msg, sizeof warn_msg, "%s", msg);
    }
}

START_TEST(key_file_permissions_warn)
{
    char path[512];
    make_path(path, sizeof path, "party_open.pem");
    write_text(path, party_pem, party_pem_len, 0644);
    teeu_set_log_handler(capture_warn, NULL, TEEU_LOG_DEBUG);
    warn_calls = 0;
    teeu_key *k = NULL;
    ck_assert_ok(teeu_key_load_private_file(path, NULL, &k));
    teeu_key_free(k);
    ck_assert_int_eq(warn_calls, 1);
    ck_assert_ptr_nonnull(strstr(warn_msg, path));
    ck_assert_ptr_nonnull(strstr(warn_msg, "chmod 600"));

    make_path(path, sizeof path, "party_closed.pem");
    write_text(path, party_pem, party_pem_len, 0600);
    warn_calls = 0;
    ck_assert_ok(teeu_key_load_private_file(path, NULL, &k));
    teeu_key_free(k);
    ck_assert_int_eq(warn_calls, 0);
    teeu_set_log_handler(NULL, NULL, TEEU_LOG_OFF);

    make_path(path, sizeof path, "missing.pem");
    ck_assert_status(teeu_key_load_private_file(path, NULL, &k), TEEU_ERR_IO);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "missing.pem"));
    ck_assert_status(teeu_key_load_public_file(path, 0, &k), TEEU_ERR_IO);
}
END_TEST

START_TEST(key_public_file)
{
    char *pub = NULL;
    size_t len;
    ck_assert_ok(teeu_key_public_pem(party, &pub, &len));
    char path[512];
    make_path(path, sizeof path, "party_pub.pem");
    write_text(path, pub, len, 0644);
    teeu_key *k = NULL;
    ck_assert_ok(teeu_key_load_public_file(path, 0, &k));
    ck_assert_uint_eq(teeu_key_bits(k), 3072);
    teeu_key_free(k);
    teeu_free(pub);
}
END_TEST

/* ---- hashing ------------------------------------------------------------------- */

static void hex_to(const char *hex, uint8_t *out, size_t len)
{
    ck_assert_ok(tu_hex_decode_to(hex, strlen(hex), out, len));
}

START_TEST(sha256_known_answers)
{
    uint8_t md[32], want[32];
    tu_bytes abc = TU_STR("abc");
    ck_assert_ok(tu_sha256(&abc, 1, md));
    hex_to("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want, 32);
    ck_assert_mem_eq(md, want, 32);
    /* Parts are concatenated... */
    tu_bytes split[] = {TU_STR("a"), TU_STR(""), TU_STR("bc")};
    ck_assert_ok(tu_sha256(split, 3, md));
    ck_assert_mem_eq(md, want, 32);
    /* ...or joined with '|': sha256("a||bc") */
    ck_assert_ok(tu_sha256_sep(split, 3, md));
    tu_bytes joined = TU_STR("a||bc");
    ck_assert_ok(tu_sha256(&joined, 1, want));
    ck_assert_mem_eq(md, want, 32);
    ck_assert_ok(tu_sha256(NULL, 0, md));
    hex_to("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want, 32);
    ck_assert_mem_eq(md, want, 32);
}
END_TEST

START_TEST(hmac_sha256_known_answers)
{
    /* RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?" */
    uint8_t mac[32], want[32];
    tu_bytes data[] = {TU_STR("what do ya want "), TU_STR("for nothing?")};
    ck_assert_ok(tu_hmac_sha256_sep((const uint8_t *)"Jefe", 4, data, 1, mac));
    uint8_t plain[32];
    tu_bytes whole = TU_STR("what do ya want for nothing?");
    ck_assert_ok(tu_hmac_sha256_sep((const uint8_t *)"Jefe", 4, &whole, 1, plain));
    hex_to("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", want, 32);
    ck_assert_mem_eq(plain, want, 32);
    ck_assert_mem_ne(mac, want, 32); /* first part only differs */
    /* Separator: two parts equal one part with '|' between them. */
    ck_assert_ok(tu_hmac_sha256_sep((const uint8_t *)"Jefe", 4, data, 2, mac));
    tu_bytes sep = TU_STR("what do ya want |for nothing?");
    ck_assert_ok(tu_hmac_sha256_sep((const uint8_t *)"Jefe", 4, &sep, 1, want));
    ck_assert_mem_eq(mac, want, 32);
    ck_assert(tu_ct_equal(mac, want, 32));
    want[31] ^= 1;
    ck_assert(!tu_ct_equal(mac, want, 32));
}
END_TEST

/* ---- signatures ------------------------------------------------------------------- */

START_TEST(sign_verify_and_tamper)
{
    tu_bytes parts[] = {TU_STR("data-uuid"), TU_STR("default"), TU_BYTES("\0\0\0\0", 4)};
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    ck_assert_ok(tu_rsa_sign(party, parts, 3, &sig, &sig_len));
    ck_assert_uint_eq(sig_len, 384);
    ck_assert_ok(tu_rsa_verify(party, parts, 3, sig, sig_len));
    /* Signing parts = signing their concatenation. */
    tu_bytes whole = TU_BYTES("data-uuiddefault\0\0\0\0", 20);
    ck_assert_ok(tu_rsa_verify(party, &whole, 1, sig, sig_len));
    /* Verification with the public half only. */
    char *pub = NULL;
    size_t len;
    teeu_key *pk = NULL;
    ck_assert_ok(teeu_key_public_pem(party, &pub, &len));
    ck_assert_ok(teeu_key_load_public_pem(pub, len, 0, &pk));
    ck_assert_ok(tu_rsa_verify(pk, parts, 3, sig, sig_len));
    /* Public keys cannot sign. */
    uint8_t *sig2 = NULL;
    ck_assert_status(tu_rsa_sign(pk, parts, 3, &sig2, &len), TEEU_ERR_INVALID_ARGUMENT);
    /* Any flipped bit in the signature, or changed data, or another key, fails. */
    for (size_t i = 0; i < sig_len; i += 47) {
        sig[i] ^= 0x10;
        ck_assert_status(tu_rsa_verify(pk, parts, 3, sig, sig_len), TEEU_ERR_SIGNATURE);
        sig[i] ^= 0x10;
    }
    tu_bytes other[] = {TU_STR("data-uuid"), TU_STR("defaulT"), TU_BYTES("\0\0\0\0", 4)};
    ck_assert_status(tu_rsa_verify(pk, other, 3, sig, sig_len), TEEU_ERR_SIGNATURE);
    ck_assert_status(tu_rsa_verify(small_key, parts, 3, sig, sig_len), TEEU_ERR_SIGNATURE);
    ck_assert_status(tu_rsa_verify(pk, parts, 3, sig, sig_len - 1), TEEU_ERR_SIGNATURE);
    ck_assert_status(tu_rsa_verify(pk, parts, 3, sig, 0), TEEU_ERR_SIGNATURE);
    ck_assert_status(tu_rsa_verify(NULL, parts, 3, sig, sig_len), TEEU_ERR_INVALID_ARGUMENT);
    teeu_key_free(pk);
    teeu_free(pub);
    free(sig);
}
END_TEST

START_TEST(sign_is_deterministic_pkcs1v15)
{
    tu_bytes m = TU_STR("message");
    uint8_t *a = NULL, *b = NULL;
    size_t la, lb;
    ck_assert_ok(tu_rsa_sign(party, &m, 1, &a, &la));
    ck_assert_ok(tu_rsa_sign(party, &m, 1, &b, &lb));
    /* PKCS#1 v1.5 is deterministic (PSS would differ). */
    ck_assert_uint_eq(la, lb);
    ck_assert_mem_eq(a, b, la);
    free(a);
    free(b);
}
END_TEST

/* ---- OAEP ------------------------------------------------------------------------- */

START_TEST(oaep_round_trip_and_tamper)
{
    uint8_t key[32];
    ck_assert_ok(tu_random(key, sizeof key));
    uint8_t *ct = NULL, *pt = NULL;
    size_t ct_len, pt_len;
    ck_assert_ok(tu_rsa_oaep_encrypt(party, key, sizeof key, &ct, &ct_len));
    ck_assert_uint_eq(ct_len, 384);
    ck_assert_ok(tu_rsa_oaep_decrypt(party, ct, ct_len, &pt, &pt_len));
    ck_assert_uint_eq(pt_len, 32);
    ck_assert_mem_eq(pt, key, 32);
    tu_free_secret(pt, pt_len);
    /* Randomised: a second encryption differs. */
    uint8_t *ct2 = NULL;
    size_t ct2_len;
    ck_assert_ok(tu_rsa_oaep_encrypt(party, key, sizeof key, &ct2, &ct2_len));
    ck_assert_mem_ne(ct, ct2, ct_len);
    free(ct2);
    ct[100] ^= 1;
    ck_assert_status(tu_rsa_oaep_decrypt(party, ct, ct_len, &pt, &pt_len), TEEU_ERR_DECRYPT);
    ck_assert_ptr_null(pt);
    ct[100] ^= 1;
    ck_assert_status(tu_rsa_oaep_decrypt(party, ct, ct_len - 1, &pt, &pt_len), TEEU_ERR_DECRYPT);
    ck_assert_status(tu_rsa_oaep_decrypt(small_key, ct, ct_len, &pt, &pt_len), TEEU_ERR_DECRYPT);
    /* Too long for one block: 384 - 42 = 342 bytes at most. */
    uint8_t big[343] = {0};
    ck_assert_status(tu_rsa_oaep_encrypt(party, big, sizeof big, &ct2, &ct2_len), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_ok(tu_rsa_oaep_encrypt(party, big, 342, &ct2, &ct2_len));
    free(ct2);
    /* Empty plaintext is valid OAEP. */
    ck_assert_ok(tu_rsa_oaep_encrypt(party, NULL, 0, &ct2, &ct2_len));
    ck_assert_ok(tu_rsa_oaep_decrypt(party, ct2, ct2_len, &pt, &pt_len));
    ck_assert_uint_eq(pt_len, 0);
    tu_free_secret(pt, pt_len);
    free(ct2);
    free(ct);
}
END_TEST

/* ---- AES-GCM ---------------------------------------------------------------------- */

START_TEST(gcm_known_answer)
{
    /* NIST GCM test vector (gcmEncryptExtIV256, Count 0 with 16-byte PT, no AAD):
     * McGrew & Viega test case 14: K = 0^32, IV = 0^12, P = 0^16. */
    uint8_t key[32] = {0}, nonce[12] = {0}, pt[16] = {0}, ct[16], tag[16], want_ct[16], want_tag[16];
    ck_assert_ok(tu_aes_gcm_seal(key, 32, nonce, NULL, 0, pt, 16, ct, tag));
    hex_to("cea7403d4d606b6e074ec5d3baf39d18", want_ct, 16);
    hex_to("d0d1c8a799996bf0265b98b5d48ab919", want_tag, 16);
    ck_assert_mem_eq(ct, want_ct, 16);
    ck_assert_mem_eq(tag, want_tag, 16);
    /* Test case 2 (AES-128): K = 0^16, IV = 0^12, P = 0^16. */
    ck_assert_ok(tu_aes_gcm_seal(key, 16, nonce, NULL, 0, pt, 16, ct, tag));
    hex_to("0388dace60b6a392f328c2b971b2fe78", want_ct, 16);
    hex_to("ab6e47d42cec13bdf53a67b21257bddf", want_tag, 16);
    ck_assert_mem_eq(ct, want_ct, 16);
    ck_assert_mem_eq(tag, want_tag, 16);
}
END_TEST

START_TEST(gcm_round_trip_and_tamper)
{
    for (size_t kl = 16; kl <= 32; kl += 16) {
        uint8_t key[32], nonce[12], tag[16];
        ck_assert_ok(tu_random(key, sizeof key));
        ck_assert_ok(tu_random(nonce, sizeof nonce));
        const char *aad = "0123456789abcdef0123456789abcdef";
        uint8_t msg[100], ct[100], pt[100];
        for (size_t i = 0; i < sizeof msg; i++)
            msg[i] = (uint8_t)i;
        ck_assert_ok(tu_aes_gcm_seal(key, kl, nonce, (const uint8_t *)aad, 32, msg, sizeof msg, ct, tag));
        ck_assert_ok(tu_aes_gcm_open(key, kl, nonce, (const uint8_t *)aad, 32, ct, sizeof ct, tag, pt));
        ck_assert_mem_eq(pt, msg, sizeof msg);
        /* Flip every bit of every byte of ciphertext, tag, nonce, AAD: all refused, output wiped. */
        uint8_t aad_copy[32];
        memcpy(aad_copy, aad, 32);
        uint8_t *fields[] = {ct, tag, nonce, aad_copy};
        size_t lens[] = {sizeof ct, 16, 12, 32};
        for (size_t f = 0; f < 4; f++)
            for (size_t i = 0; i < lens[f]; i++)
                for (int bit = 0; bit < 8; bit += 3) {
                    fields[f][i] ^= (uint8_t)(1u << bit);
                    memset(pt, 0xAA, sizeof pt);
                    ck_assert_status(tu_aes_gcm_open(key, kl, nonce, aad_copy, 32, ct, sizeof ct, tag, pt),
                                     TEEU_ERR_DECRYPT);
                    for (size_t j = 0; j < sizeof pt; j++)
                        ck_assert_uint_eq(pt[j], 0);
                    fields[f][i] ^= (uint8_t)(1u << bit);
                }
        /* Truncated ciphertext, missing AAD, wrong key length. */
        ck_assert_status(tu_aes_gcm_open(key, kl, nonce, aad_copy, 32, ct, sizeof ct - 1, tag, pt), TEEU_ERR_DECRYPT);
        ck_assert_status(tu_aes_gcm_open(key, kl, nonce, NULL, 0, ct, sizeof ct, tag, pt), TEEU_ERR_DECRYPT);
        ck_assert_status(tu_aes_gcm_open(key, 24, nonce, aad_copy, 32, ct, sizeof ct, tag, pt),
                         TEEU_ERR_INVALID_ARGUMENT);
        /* In place. */
        memcpy(pt, msg, sizeof msg);
        ck_assert_ok(tu_aes_gcm_seal(key, kl, nonce, NULL, 0, pt, sizeof pt, pt, tag));
        ck_assert_ok(tu_aes_gcm_open(key, kl, nonce, NULL, 0, pt, sizeof pt, tag, pt));
        ck_assert_mem_eq(pt, msg, sizeof msg);
        /* Empty plaintext still authenticates the AAD. */
        ck_assert_ok(tu_aes_gcm_seal(key, kl, nonce, aad_copy, 32, NULL, 0, NULL, tag));
        ck_assert_ok(tu_aes_gcm_open(key, kl, nonce, aad_copy, 32, NULL, 0, tag, NULL));
        aad_copy[0] ^= 1;
        ck_assert_status(tu_aes_gcm_open(key, kl, nonce, aad_copy, 32, NULL, 0, tag, NULL), TEEU_ERR_DECRYPT);
    }
}
END_TEST

/* ---- envelope ----------------------------------------------------------------------- */

START_TEST(envelope_round_trip_128_and_256)
{
    const char *payload = "serialized ComputeMeta bytes";
    for (size_t kl = 16; kl <= 32; kl += 16) {
        tu_envelope env;
        ck_assert_ok(tu_envelope_seal(party, kl, (const uint8_t *)"aad", 3, (const uint8_t *)payload,
                                      strlen(payload), &env));
        ck_assert_uint_eq(env.sealed_key_len, 384);
        ck_assert_uint_eq(env.ciphertext_len, strlen(payload));
        ck_assert_uint_eq(env.aad_len, 3);
        /* The key length used for sealing is what OAEP carries. */
        uint8_t *key = NULL;
        size_t key_len = 0;
        ck_assert_ok(tu_rsa_oaep_decrypt(party, env.sealed_key, env.sealed_key_len, &key, &key_len));
        ck_assert_uint_eq(key_len, kl);
        tu_free_secret(key, key_len);
        uint8_t *out = NULL;
        size_t out_len = 0;
        ck_assert_ok(tu_envelope_open(party, &env, &out, &out_len));
        ck_assert_uint_eq(out_len, strlen(payload));
        ck_assert_mem_eq(out, payload, out_len);
        tu_free_secret(out, out_len);
        /* Tampering with each field is refused. */
        env.tag[0] ^= 1;
        ck_assert_status(tu_envelope_open(party, &env, &out, &out_len), TEEU_ERR_DECRYPT);
        ck_assert_ptr_null(out);
        env.tag[0] ^= 1;
        env.nonce[11] ^= 1;
        ck_assert_status(tu_envelope_open(party, &env, &out, &out_len), TEEU_ERR_DECRYPT);
        env.nonce[11] ^= 1;
        env.aad[0] ^= 1;
        ck_assert_status(tu_envelope_open(party, &env, &out, &out_len), TEEU_ERR_DECRYPT);
        env.aad[0] ^= 1;
        env.ciphertext[5] ^= 1;
        ck_assert_status(tu_envelope_open(party, &env, &out, &out_len), TEEU_ERR_DECRYPT);
        env.ciphertext[5] ^= 1;
        env.sealed_key[7] ^= 1;
        ck_assert_status(tu_envelope_open(party, &env, &out, &out_len), TEEU_ERR_DECRYPT);
        env.sealed_key[7] ^= 1;
        ck_assert_status(tu_envelope_open(small_key, &env, &out, &out_len), TEEU_ERR_DECRYPT);
        ck_assert_ok(tu_envelope_open(party, &env, &out, &out_len));
        tu_free_secret(out, out_len);
        tu_envelope_free(&env);
        ck_assert_ptr_null(env.sealed_key);
    }
    tu_envelope env;
    ck_assert_status(tu_envelope_seal(party, 24, NULL, 0, NULL, 0, &env), TEEU_ERR_INVALID_ARGUMENT);
    tu_envelope_free(&env);
}
END_TEST

START_TEST(envelope_rejects_odd_key_length)
{
    /* An envelope whose sealed key is 24 bytes: not a valid AsymmetricSecret key. */
    uint8_t key[24] = {1};
    tu_envelope env = {0};
    ck_assert_ok(tu_rsa_oaep_encrypt(party, key, sizeof key, &env.sealed_key, &env.sealed_key_len));
    uint8_t *out = NULL;
    size_t out_len;
    ck_assert_status(tu_envelope_open(party, &env, &out, &out_len), TEEU_ERR_DECRYPT);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "24 bytes"));
    tu_envelope_free(&env);
}
END_TEST

/* ---- randomness ----------------------------------------------------------------------- */

START_TEST(random_and_uuid)
{
    uint8_t a[64] = {0}, b[64] = {0};
    ck_assert_ok(tu_random(a, sizeof a));
    ck_assert_ok(tu_random_secret(b, sizeof b));
    ck_assert_mem_ne(a, b, sizeof a);
    ck_assert_ok(tu_random(NULL, 0));
    char u1[33], u2[33];
    ck_assert_ok(tu_uuid4_hex(u1));
    ck_assert_ok(tu_uuid4_hex(u2));
    ck_assert_uint_eq(strlen(u1), 32);
    ck_assert_str_ne(u1, u2);
    for (int i = 0; i < 32; i++)
        ck_assert(strchr("0123456789abcdef", u1[i]) != NULL);
    ck_assert_int_eq(u1[12], '4');
    ck_assert(strchr("89ab", u1[16]) != NULL);
}
END_TEST

/* ---- streaming AEAD ---------------------------------------------------------------------- */

#define SEG 64
#define NSEG 4 /* 3 full segments and a final one of 10 bytes */
#define LAST 10
#define CT_UNIT (SEG + TU_GCM_TAG_LEN)

typedef struct sealed_stream {
    uint8_t key[32];
    uint8_t header[TU_STREAM_HEADER_LEN];
    uint8_t pt[NSEG][SEG];
    uint8_t ct[NSEG][CT_UNIT];
    size_t ct_len[NSEG];
} sealed_stream;

static const uint8_t stream_aad[] = "data-uuid";

static void seal_test_stream(sealed_stream *t)
{
    ck_assert_ok(tu_random(t->key, sizeof t->key));
    ck_assert_ok(tu_random(t->pt, sizeof t->pt));
    tu_stream *s = NULL;
    ck_assert_ok(tu_stream_seal_init(t->key, stream_aad, sizeof stream_aad, SEG, t->header, &s));
    ck_assert_uint_eq(tu_stream_segment_size(s), SEG);
    for (size_t i = 0; i < NSEG; i++) {
        bool final = i == NSEG - 1;
        size_t n = final ? LAST : SEG;
        ck_assert_status(tu_stream_finish(s), TEEU_ERR_STREAM_TRUNCATED);
        ck_assert_ok(tu_stream_seal_segment(s, t->pt[i], n, final, t->ct[i]));
        t->ct_len[i] = n + TU_GCM_TAG_LEN;
    }
    ck_assert_uint_eq(tu_stream_segments_done(s), NSEG);
    ck_assert_ok(tu_stream_finish(s));
    /* Nothing after the final segment. */
    uint8_t extra[CT_UNIT];
    ck_assert_status(tu_stream_seal_segment(s, t->pt[0], SEG, false, extra), TEEU_ERR_STREAM_ORDER);
    tu_stream_free(s);
}

/*
 * Opens the segments listed in order[] (indices into t->ct, n of them; the
 * last one is passed as final unless final_at says otherwise) and returns
 * the first failing status, or the status of tu_stream_finish.
 */
static teeu_status open_sequence(const sealed_stream *t, const uint8_t *header, const uint8_t *aad, size_t aad_len,
                                 const size_t *order, size_t n, long final_at, bool check_plain)
{
    tu_stream *s = NULL;
    teeu_status st = tu_stream_open_init(t->key, aad, aad_len, header, &s);
    if (st != TEEU_OK)
        return st;
    for (size_t i = 0; i < n && st == TEEU_OK; i++) {
        bool final = final_at < 0 ? i == n - 1 : (long)i == final_at;
        uint8_t out[CT_UNIT];
        memset(out, 0xAA, sizeof out);
        size_t k = order[i];
        st = tu_stream_open_segment(s, t->ct[k], t->ct_len[k], final, out);
        size_t pt_len = t->ct_len[k] - TU_GCM_TAG_LEN;
        if (st == TEEU_OK && check_plain)
            ck_assert_mem_eq(out, t->pt[k], pt_len);
        if (st == TEEU_ERR_DECRYPT) {
            /* Unauthenticated plaintext is wiped; a segment refused on its length is never written. */
            uint8_t fill = out[0];
            ck_assert(fill == 0 || fill == 0xAA);
            for (size_t j = 0; j < pt_len; j++)
                ck_assert_uint_eq(out[j], fill);
        }
    }
    if (st == TEEU_OK)
        st = tu_stream_finish(s);
    tu_stream_free(s);
    return st;
}

static const size_t in_order[NSEG] = {0, 1, 2, 3};

START_TEST(stream_round_trip)
{
    sealed_stream t;
    seal_test_stream(&t);
    ck_assert_ok(open_sequence(&t, t.header, stream_aad, sizeof stream_aad, in_order, NSEG, -1, true));
    ck_assert_int_eq(t.header[0], 'T');
    ck_assert_int_eq(t.header[2], TU_STREAM_VERSION);
    /* Two streams under one key differ (fresh salt and prefix). */
    sealed_stream u;
    memcpy(&u, &t, sizeof u);
    tu_stream *s = NULL;
    ck_assert_ok(tu_stream_seal_init(t.key, stream_aad, sizeof stream_aad, SEG, u.header, &s));
    ck_assert_mem_ne(u.header + 8, t.header + 8, 23);
    ck_assert_ok(tu_stream_seal_segment(s, t.pt[0], SEG, false, u.ct[0]));
    ck_assert_mem_ne(u.ct[0], t.ct[0], CT_UNIT);
    tu_stream_free(s);
}
END_TEST

START_TEST(stream_every_flipped_bit_is_refused)
{
    sealed_stream t;
    seal_test_stream(&t);
    /* Every byte of every segment (ciphertext and tag). */
    for (size_t k = 0; k < NSEG; k++)
        for (size_t i = 0; i < t.ct_len[k]; i++) {
            t.ct[k][i] ^= (uint8_t)(1u << (i % 8));
            ck_assert_status(open_sequence(&t, t.header, stream_aad, sizeof stream_aad, in_order, NSEG, -1, false),
                             TEEU_ERR_DECRYPT);
            t.ct[k][i] ^= (uint8_t)(1u << (i % 8));
        }
    /* Every byte of the header: salt and nonce prefix fail the tag; the rest is rejected up front. */
    for (size_t i = 0; i < TU_STREAM_HEADER_LEN; i++) {
        uint8_t h[TU_STREAM_HEADER_LEN];
        memcpy(h, t.header, sizeof h);
        h[i] ^= 0x01;
        teeu_status st = open_sequence(&t, h, stream_aad, sizeof stream_aad, in_order, NSEG, -1, false);
        ck_assert_msg(st == (i == 2 ? TEEU_ERR_UNSUPPORTED : TEEU_ERR_DECRYPT), "header byte %zu: %s", i,
                      teeu_status_str(st));
    }
    /* Every byte of the AAD, and a missing AAD. */
    uint8_t aad[sizeof stream_aad];
    for (size_t i = 0; i < sizeof aad; i++) {
        memcpy(aad, stream_aad, sizeof aad);
        aad[i] ^= 0x20;
        ck_assert_status(open_sequence(&t, t.header, aad, sizeof aad, in_order, NSEG, -1, false), TEEU_ERR_DECRYPT);
    }
    ck_assert_status(open_sequence(&t, t.header, NULL, 0, in_order, NSEG, -1, false), TEEU_ERR_DECRYPT);
    /* A wrong key. */
    t.key[31] ^= 1;
    ck_assert_status(open_sequence(&t, t.header, stream_aad, sizeof stream_aad, in_order, NSEG, -1, false),
                     TEEU_ERR_DECRYPT);
}
END_TEST

START_TEST(stream_reorder_drop_duplicate_truncate)
{
    sealed_stream t;
    seal_test_stream(&t);
    const uint8_t *h = t.header;
    const uint8_t *a = stream_aad;
    size_t al = sizeof stream_aad;
    const size_t swapped[] = {1, 0, 2, 3};
    ck_assert_status(open_sequence(&t, h, a, al, swapped, 4, -1, false), TEEU_ERR_DECRYPT);
    const size_t dropped[] = {0, 2, 3};
    ck_assert_status(open_sequence(&t, h, a, al, dropped, 3, -1, false), TEEU_ERR_DECRYPT);
    const size_t duplicated[] = {0, 0, 1, 2, 3};
    ck_assert_status(open_sequence(&t, h, a, al, duplicated, 5, -1, false), TEEU_ERR_DECRYPT);
    const size_t dup_final[] = {0, 1, 2, 3, 3};
    ck_assert_status(open_sequence(&t, h, a, al, dup_final, 5, 3, false), TEEU_ERR_STREAM_ORDER);
    /* Truncated: the transport ends after segment 2 without a final segment. */
    ck_assert_status(open_sequence(&t, h, a, al, in_order, 3, 99, true), TEEU_ERR_STREAM_TRUNCATED);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "truncated"));
    /* ...or claims segment 2 is final (a cut at a segment boundary). */
    ck_assert_status(open_sequence(&t, h, a, al, in_order, 3, -1, false), TEEU_ERR_DECRYPT);
    /* The final flag flipped on the last segment. */
    ck_assert_status(open_sequence(&t, h, a, al, in_order, 4, 99, false), TEEU_ERR_DECRYPT);
    /* No segment at all. */
    ck_assert_status(open_sequence(&t, h, a, al, in_order, 0, -1, false), TEEU_ERR_STREAM_TRUNCATED);
}
END_TEST

START_TEST(stream_failure_poisons_and_lengths_are_checked)
{
    sealed_stream t;
    seal_test_stream(&t);
    tu_stream *s = NULL;
    uint8_t out[CT_UNIT];
    ck_assert_ok(tu_stream_open_init(t.key, stream_aad, sizeof stream_aad, t.header, &s));
    t.ct[0][0] ^= 1;
    ck_assert_status(tu_stream_open_segment(s, t.ct[0], CT_UNIT, false, out), TEEU_ERR_DECRYPT);
    t.ct[0][0] ^= 1;
    /* After a failure even the genuine segment is refused: a bad segment cannot be skipped. */
    ck_assert_status(tu_stream_open_segment(s, t.ct[0], CT_UNIT, false, out), TEEU_ERR_STREAM_ORDER);
    ck_assert_status(tu_stream_finish(s), TEEU_ERR_STREAM_ORDER);
    tu_stream_free(s);

    ck_assert_ok(tu_stream_open_init(t.key, stream_aad, sizeof stream_aad, t.header, &s));
    ck_assert_status(tu_stream_open_segment(s, t.ct[0], CT_UNIT - 1, false, out), TEEU_ERR_DECRYPT);
    tu_stream_free(s);
    ck_assert_ok(tu_stream_open_init(t.key, stream_aad, sizeof stream_aad, t.header, &s));
    ck_assert_status(tu_stream_open_segment(s, t.ct[0], 15, true, out), TEEU_ERR_DECRYPT);
    /* Opening API on a sealing stream and the reverse. */
    ck_assert_status(tu_stream_seal_segment(s, t.pt[0], SEG, false, out), TEEU_ERR_INVALID_ARGUMENT);
    tu_stream_free(s);

    uint8_t h[TU_STREAM_HEADER_LEN];
    ck_assert_ok(tu_stream_seal_init(t.key, NULL, 0, SEG, h, &s));
    ck_assert_status(tu_stream_seal_segment(s, t.pt[0], SEG - 1, false, out), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(tu_stream_seal_segment(s, t.pt[0], SEG + 1, true, out), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(tu_stream_open_segment(s, t.ct[0], CT_UNIT, false, out), TEEU_ERR_INVALID_ARGUMENT);
    tu_stream_free(s);
    ck_assert_status(tu_stream_seal_init(t.key, NULL, 0, TU_STREAM_MAX_SEGMENT + 1, h, &s),
                     TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(s);

    /* Headers: bad magic, reserved bytes, segment sizes 0 and too large. */
    const size_t pos[] = {0, 1, 3, 31};
    for (size_t i = 0; i < TU_ARRAY_LEN(pos); i++) {
        memcpy(h, t.header, sizeof h);
        h[pos[i]] ^= 0x40;
        ck_assert_status(tu_stream_open_init(t.key, NULL, 0, h, &s), TEEU_ERR_DECRYPT);
        ck_assert_ptr_null(s);
    }
    memcpy(h, t.header, sizeof h);
    memset(h + 4, 0, 4);
    ck_assert_status(tu_stream_open_init(t.key, NULL, 0, h, &s), TEEU_ERR_DECRYPT);
    memset(h + 4, 0xff, 4);
    ck_assert_status(tu_stream_open_init(t.key, NULL, 0, h, &s), TEEU_ERR_DECRYPT);
    tu_stream_free(NULL);
}
END_TEST

START_TEST(stream_empty_and_in_place)
{
    uint8_t key[32] = {7}, h[TU_STREAM_HEADER_LEN], tag_only[TU_GCM_TAG_LEN], out[1];
    tu_stream *s = NULL;
    ck_assert_ok(tu_stream_seal_init(key, NULL, 0, 0, h, &s));
    ck_assert_uint_eq(tu_stream_segment_size(s), TU_STREAM_DEFAULT_SEGMENT);
    ck_assert_ok(tu_stream_seal_segment(s, NULL, 0, true, tag_only));
    ck_assert_ok(tu_stream_finish(s));
    tu_stream_free(s);
    ck_assert_ok(tu_stream_open_init(key, NULL, 0, h, &s));
    ck_assert_ok(tu_stream_open_segment(s, tag_only, sizeof tag_only, true, out));
    ck_assert_ok(tu_stream_finish(s));
    tu_stream_free(s);
    /* An empty stream's lone segment must be marked final. */
    ck_assert_ok(tu_stream_open_init(key, NULL, 0, h, &s));
    ck_assert_status(tu_stream_open_segment(s, tag_only, sizeof tag_only, false, out), TEEU_ERR_DECRYPT);
    tu_stream_free(s);

    /* A sender that learns the end only after a full segment closes with an empty final one. */
    uint8_t full[SEG] = {3}, full_ct[SEG + TU_GCM_TAG_LEN], back[SEG];
    ck_assert_ok(tu_stream_seal_init(key, NULL, 0, SEG, h, &s));
    ck_assert_ok(tu_stream_seal_segment(s, full, SEG, false, full_ct));
    ck_assert_ok(tu_stream_seal_segment(s, NULL, 0, true, tag_only));
    ck_assert_ok(tu_stream_finish(s));
    tu_stream_free(s);
    ck_assert_ok(tu_stream_open_init(key, NULL, 0, h, &s));
    ck_assert_ok(tu_stream_open_segment(s, full_ct, sizeof full_ct, false, back));
    ck_assert_mem_eq(back, full, SEG);
    ck_assert_status(tu_stream_finish(s), TEEU_ERR_STREAM_TRUNCATED);
    ck_assert_ok(tu_stream_open_segment(s, tag_only, sizeof tag_only, true, out));
    ck_assert_ok(tu_stream_finish(s));
    tu_stream_free(s);

    /* In place, across two segments. */
    uint8_t buf[2][SEG + TU_GCM_TAG_LEN], orig[2][SEG];
    ck_assert_ok(tu_random(orig, sizeof orig));
    memcpy(buf[0], orig[0], SEG);
    memcpy(buf[1], orig[1], SEG);
    ck_assert_ok(tu_stream_seal_init(key, NULL, 0, SEG, h, &s));
    ck_assert_ok(tu_stream_seal_segment(s, buf[0], SEG, false, buf[0]));
    ck_assert_ok(tu_stream_seal_segment(s, buf[1], SEG, true, buf[1]));
    tu_stream_free(s);
    ck_assert_ok(tu_stream_open_init(key, NULL, 0, h, &s));
    ck_assert_ok(tu_stream_open_segment(s, buf[0], sizeof buf[0], false, buf[0]));
    ck_assert_ok(tu_stream_open_segment(s, buf[1], sizeof buf[1], true, buf[1]));
    ck_assert_ok(tu_stream_finish(s));
    tu_stream_free(s);
    ck_assert_mem_eq(buf[0], orig[0], SEG);
    ck_assert_mem_eq(buf[1], orig[1], SEG);
}
END_TEST

/* Sealing a || b equals sealing the gathered buffer, at every split (GCM's partial blocks included). */
START_TEST(stream_seal_two_parts)
{
    uint8_t key[32] = {9}, h[TU_STREAM_HEADER_LEN], pt[3 * SEG], ct[SEG + TU_GCM_TAG_LEN], back[SEG];
    ck_assert_ok(tu_random(pt, sizeof pt));
    for (size_t split = 0; split <= SEG; split++) {
        tu_stream *s = NULL;
        ck_assert_ok(tu_stream_seal_init(key, stream_aad, sizeof stream_aad, SEG, h, &s));
        ck_assert_ok(tu_stream_seal_segment2(s, pt, split, pt + SEG + split, SEG - split, false, ct));
        tu_stream *o = NULL;
        ck_assert_ok(tu_stream_open_init(key, stream_aad, sizeof stream_aad, h, &o));
        ck_assert_ok(tu_stream_open_segment(o, ct, sizeof ct, false, back));
        ck_assert_mem_eq(back, pt, split);
        ck_assert_mem_eq(back + split, pt + SEG + split, SEG - split);
        /* The lengths add up against the segment size like one buffer's. */
        ck_assert_status(tu_stream_seal_segment2(s, pt, split, pt, SEG - split + 1, false, ct),
                         TEEU_ERR_INVALID_ARGUMENT);
        ck_assert_ok(tu_stream_seal_segment2(s, pt, split / 2, pt + SEG, split - split / 2, true, ct));
        ck_assert_ok(tu_stream_open_segment(o, ct, split + TU_GCM_TAG_LEN, true, back));
        ck_assert_mem_eq(back, pt, split / 2);
        ck_assert_mem_eq(back + split / 2, pt + SEG, split - split / 2);
        ck_assert_ok(tu_stream_finish(o));
        tu_stream_free(o);
        tu_stream_free(s);
    }
    tu_stream *s = NULL;
    ck_assert_ok(tu_stream_seal_init(key, NULL, 0, SEG, h, &s));
    ck_assert_status(tu_stream_seal_segment2(s, NULL, 1, pt, 0, true, ct), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(tu_stream_seal_segment2(s, pt, 0, NULL, 1, true, ct), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(tu_stream_seal_segment2(s, pt, SIZE_MAX, pt, 2, true, ct), TEEU_ERR_INVALID_ARGUMENT);
    tu_stream_free(s);
}
END_TEST

START_TEST(stream_whole_buffer_helpers)
{
    uint8_t key[32], data[5 * SEG + 7];
    ck_assert_ok(tu_random(key, sizeof key));
    ck_assert_ok(tu_random(data, sizeof data));
    const size_t sizes[] = {0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG, sizeof data};
    for (size_t i = 0; i < TU_ARRAY_LEN(sizes); i++) {
        uint8_t *ct = NULL, *pt = NULL;
        size_t ct_len = 0, pt_len = 0;
        uint64_t want = 0;
        ck_assert_ok(tu_stream_seal_all(key, stream_aad, sizeof stream_aad, SEG, data, sizes[i], &ct, &ct_len));
        ck_assert_ok(tu_stream_sealed_len(sizes[i], SEG, &want));
        ck_assert_uint_eq(ct_len, want);
        ck_assert_ok(tu_stream_open_all(key, stream_aad, sizeof stream_aad, ct, ct_len, &pt, &pt_len));
        ck_assert_uint_eq(pt_len, sizes[i]);
        if (pt_len)
            ck_assert_mem_eq(pt, data, pt_len);
        tu_free_secret(pt, pt_len);
        free(ct);
    }
    /* Every cut of a 3.5-segment stream is refused, and so is anything appended. */
    uint8_t *ct = NULL, *pt = NULL;
    size_t ct_len = 0, pt_len = 0;
    ck_assert_ok(tu_stream_seal_all(key, NULL, 0, SEG, data, 3 * SEG + SEG / 2, &ct, &ct_len));
    for (size_t cut = 0; cut < ct_len; cut++) {
        teeu_status st = tu_stream_open_all(key, NULL, 0, ct, cut, &pt, &pt_len);
        ck_assert_msg(st == (cut < TU_STREAM_HEADER_LEN + TU_GCM_TAG_LEN ? TEEU_ERR_STREAM_TRUNCATED : TEEU_ERR_DECRYPT),
                      "cut at %zu: %s", cut, teeu_status_str(st));
        ck_assert_ptr_null(pt);
    }
    uint8_t *longer = malloc(ct_len + 40);
    memcpy(longer, ct, ct_len);
    memset(longer + ct_len, 0, 40);
    for (size_t extra = 1; extra <= 40; extra += 13)
        ck_assert_status(tu_stream_open_all(key, NULL, 0, longer, ct_len + extra, &pt, &pt_len), TEEU_ERR_DECRYPT);
    free(longer);
    ck_assert_status(tu_stream_open_all(key, stream_aad, sizeof stream_aad, ct, ct_len, &pt, &pt_len),
                     TEEU_ERR_DECRYPT);
    free(ct);
}
END_TEST

START_TEST(stream_sealed_len)
{
    uint64_t n;
    ck_assert_ok(tu_stream_sealed_len(0, 64, &n));
    ck_assert_uint_eq(n, 32 + 16);
    ck_assert_ok(tu_stream_sealed_len(64, 64, &n));
    ck_assert_uint_eq(n, 32 + 64 + 16);
    ck_assert_ok(tu_stream_sealed_len(65, 64, &n));
    ck_assert_uint_eq(n, 32 + 65 + 32);
    ck_assert_ok(tu_stream_sealed_len((uint64_t)1 << 30, 0, &n));
    ck_assert_uint_eq(n, 32 + ((uint64_t)1 << 30) + 256 * 16);
    ck_assert_status(tu_stream_sealed_len(UINT64_MAX, 1, &n), TEEU_ERR_LIMIT);
    ck_assert_status(tu_stream_sealed_len(UINT64_MAX - 10, TU_STREAM_MAX_SEGMENT, &n), TEEU_ERR_LIMIT);
}
END_TEST

/* ---- hostile input, threads, NULL arguments ------------------------------------------- */

/* A small deterministic generator so failures reproduce. */
static uint32_t lcg(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return *state >> 8;
}

START_TEST(mutated_pem_never_crashes)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n-";
    char *pub = NULL;
    size_t pub_len;
    ck_assert_ok(teeu_key_public_pem(party, &pub, &pub_len));
    uint32_t rng = 12345;
    for (int round = 0; round < 300; round++) {
        bool use_pub = round % 2 == 1;
        const char *src = use_pub ? pub : party_pem;
        size_t len = use_pub ? pub_len : party_pem_len;
        char *m = tu_memdup(src, len);
        int edits = 1 + (int)(lcg(&rng) % 4);
        for (int e = 0; e < edits; e++)
            m[lcg(&rng) % len] = b64[lcg(&rng) % (sizeof b64 - 1)];
        size_t cut = round % 7 == 0 ? lcg(&rng) % len : len;
        teeu_key *k = NULL;
        teeu_status st = use_pub ? teeu_key_load_public_pem(m, cut, 0, &k)
                                 : teeu_key_load_private_pem(m, cut, NULL, &k);
        /* A mutation may leave a loadable key (e.g. a changed CRT value); nothing else is allowed. */
        ck_assert_msg(st == TEEU_OK || st == TEEU_ERR_KEY_FORMAT || st == TEEU_ERR_KEY_TOO_SMALL,
                      "round %d: %s: %s", round, teeu_status_str(st), teeu_last_error());
        ck_assert(st == TEEU_OK ? k != NULL : k == NULL);
        teeu_key_free(k);
        free(m);
    }
    teeu_free(pub);
}
END_TEST

START_TEST(random_stream_input_is_refused)
{
    uint8_t key[32] = {1}, h[TU_STREAM_HEADER_LEN], seg[200], out[200];
    uint32_t rng = 777;
    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < sizeof h; i++)
            h[i] = (uint8_t)lcg(&rng);
        if (round % 2 == 0) { /* a plausible header: valid magic, version and a small size */
            memcpy(h, "TS\x01\x00\x00\x00\x00\x40", 8);
            h[31] = 0;
        }
        tu_stream *s = NULL;
        teeu_status st = tu_stream_open_init(key, NULL, 0, h, &s);
        if (round % 2 == 1) {
            ck_assert(st == TEEU_ERR_DECRYPT || st == TEEU_ERR_UNSUPPORTED);
            ck_assert_ptr_null(s);
            continue;
        }
        ck_assert_ok(st);
        for (size_t i = 0; i < sizeof seg; i++)
            seg[i] = (uint8_t)lcg(&rng);
        size_t len = lcg(&rng) % sizeof seg;
        ck_assert_status(tu_stream_open_segment(s, seg, len, lcg(&rng) % 2, out), TEEU_ERR_DECRYPT);
        tu_stream_free(s);
    }
}
END_TEST

static void *thread_work(void *arg)
{
    const teeu_key *key = arg;
    for (int i = 0; i < 5; i++) {
        uint8_t data[1000], back[1000], skey[32], header[TU_STREAM_HEADER_LEN], ct[1000 + 16];
        if (tu_random(data, sizeof data) != TEEU_OK || tu_random(skey, sizeof skey) != TEEU_OK)
            return (void *)1;
        tu_bytes part = TU_BYTES(data, sizeof data);
        uint8_t *sig = NULL;
        size_t sig_len = 0;
        if (tu_rsa_sign(key, &part, 1, &sig, &sig_len) != TEEU_OK ||
            tu_rsa_verify(key, &part, 1, sig, sig_len) != TEEU_OK)
            return (void *)2;
        free(sig);
        tu_stream *s = NULL;
        if (tu_stream_seal_init(skey, NULL, 0, 1000, header, &s) != TEEU_OK ||
            tu_stream_seal_segment(s, data, sizeof data, true, ct) != TEEU_OK)
            return (void *)3;
        tu_stream_free(s);
        if (tu_stream_open_init(skey, NULL, 0, header, &s) != TEEU_OK ||
            tu_stream_open_segment(s, ct, sizeof ct, true, back) != TEEU_OK || tu_stream_finish(s) != TEEU_OK)
            return (void *)4;
        tu_stream_free(s);
        if (memcmp(back, data, sizeof data) != 0)
            return (void *)5;
    }
    return NULL;
}

START_TEST(concurrent_use_of_one_key)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, thread_work, party), 0);
    for (int i = 0; i < 4; i++) {
        void *ret = (void *)99;
        pthread_join(t[i], &ret);
        ck_assert_ptr_null(ret);
    }
}
END_TEST

START_TEST(null_arguments_are_refused)
{
    char id[TEEU_OWNER_ID_LEN + 1];
    char *pem = NULL;
    size_t len = 0;
    teeu_key *k = NULL;
    ck_assert_status(teeu_key_owner_id(NULL, id), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(teeu_key_owner_id(party, NULL), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(teeu_key_public_pem(NULL, &pem, &len), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(teeu_key_private_pem(NULL, NULL, &pem, &len), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(teeu_key_load_private_file(NULL, NULL, &k), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(teeu_key_load_private_file("/nonexistent", NULL, NULL), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(teeu_key_load_public_file(NULL, 0, &k), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(teeu_key_load_public_pem(NULL, 0, 0, &k), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(teeu_key_load_private_pem(party_pem, party_pem_len, NULL, NULL), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(k);
    ck_assert_ptr_null(pem);
    uint8_t md[32];
    ck_assert_status(tu_sha256(NULL, 1, md), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(tu_hmac_sha256_sep(NULL, 3, NULL, 0, md), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(tu_uuid4_hex(NULL), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(tu_envelope_seal(party, 16, NULL, 0, NULL, 0, NULL), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_status(tu_stream_seal_init(NULL, NULL, 0, 0, NULL, NULL), TEEU_ERR_INVALID_ARGUMENT);
    tu_envelope_free(NULL);
}
END_TEST

/* ---- suite ------------------------------------------------------------------------------ */

static Suite *crypto_suite(void)
{
    Suite *s = suite_create("crypto");
    TCase *tc = tcase_create("keys");
    tcase_add_unchecked_fixture(tc, setup_keys, teardown_keys);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, key_generate_and_properties);
    tcase_add_test(tc, key_multiprime);
    tcase_add_test(tc, key_private_pem_round_trip_pkcs8);
    tcase_add_test(tc, key_private_pem_pkcs1);
    tcase_add_test(tc, key_encrypted_pkcs8_passphrases);
    tcase_add_test(tc, key_too_small_names_sizes);
    tcase_add_test(tc, key_ec_is_wrong_type);
    tcase_add_test(tc, key_garbage_is_format_error);
    tcase_add_test(tc, key_public_spki_and_pkcs1);
    tcase_add_test(tc, key_public_fast_path);
    tcase_add_test(tc, key_owner_id_is_sha256_of_spki);
    tcase_add_test(tc, key_file_permissions_warn);
    tcase_add_test(tc, key_public_file);
    tcase_add_test(tc, sha256_known_answers);
    tcase_add_test(tc, hmac_sha256_known_answers);
    tcase_add_test(tc, sign_verify_and_tamper);
    tcase_add_test(tc, sign_is_deterministic_pkcs1v15);
    tcase_add_test(tc, oaep_round_trip_and_tamper);
    tcase_add_test(tc, gcm_known_answer);
    tcase_add_test(tc, gcm_round_trip_and_tamper);
    tcase_add_test(tc, envelope_round_trip_128_and_256);
    tcase_add_test(tc, envelope_rejects_odd_key_length);
    tcase_add_test(tc, random_and_uuid);
    tcase_add_test(tc, mutated_pem_never_crashes);
    tcase_add_test(tc, concurrent_use_of_one_key);
    tcase_add_test(tc, null_arguments_are_refused);
    suite_add_tcase(s, tc);

    TCase *ts = tcase_create("stream");
    tcase_set_timeout(ts, 300);
    tcase_add_test(ts, stream_round_trip);
    tcase_add_test(ts, stream_every_flipped_bit_is_refused);
    tcase_add_test(ts, stream_reorder_drop_duplicate_truncate);
    tcase_add_test(ts, stream_failure_poisons_and_lengths_are_checked);
    tcase_add_test(ts, stream_empty_and_in_place);
    tcase_add_test(ts, stream_seal_two_parts);
    tcase_add_test(ts, stream_sealed_len);
    tcase_add_test(ts, stream_whole_buffer_helpers);
    tcase_add_test(ts, random_stream_input_is_refused);
    suite_add_tcase(s, ts);
    return s;
}

TU_CHECK_MAIN(crypto_suite)
