/*
 * libteeu — RSA keys of data parties and their identities.
 *
 * A party's key pair is RSA-3072 (at least 3072 bits); peer keys
 * (AuthManager, TEEU) must be at least 2048 bits. Keys are read from PEM:
 * private keys as PKCS#1 ("RSA PRIVATE KEY"), PKCS#8 ("PRIVATE KEY") or
 * passphrase-encrypted PKCS#8 ("ENCRYPTED PRIVATE KEY"); public keys as SPKI
 * ("PUBLIC KEY") or PKCS#1 ("RSA PUBLIC KEY"). Private key material is wiped
 * when the key is freed.
 */
#ifndef TEEU_KEYS_H
#define TEEU_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include <teeu/export.h>
#include <teeu/status.h>

TEEU_BEGIN_DECLS

/** An RSA key: a private key (which includes its public half) or a public key. */
typedef struct teeu_key teeu_key;

/** Bits a party's own key must have at least. */
#define TEEU_PARTY_KEY_MIN_BITS 3072
/** Bits a peer's (AuthManager's, TEEU's) key must have at least. */
#define TEEU_PEER_KEY_MIN_BITS 2048
/** Length of an owner_id string: base64 of 32 bytes, without the NUL. */
#define TEEU_OWNER_ID_LEN 44

/**
 * Loads a party's private key from a PEM file. passphrase may be NULL for
 * an unencrypted key. A key file readable by group or others is loaded but
 * logged as a warning. Errors: TEEU_ERR_IO, TEEU_ERR_KEY_FORMAT (not a PEM
 * key), TEEU_ERR_KEY_PASSPHRASE (encrypted and passphrase missing/wrong),
 * TEEU_ERR_KEY_TYPE (not RSA), TEEU_ERR_KEY_TOO_SMALL (< 3072 bits).
 * Free *out with teeu_key_free.
 */
TEEU_API teeu_status teeu_key_load_private_file(const char *path, const char *passphrase, teeu_key **out);

/** As teeu_key_load_private_file, from PEM bytes in memory. */
TEEU_API teeu_status teeu_key_load_private_pem(const char *pem, size_t pem_len, const char *passphrase,
                                               teeu_key **out);

/**
 * Loads a public key (SPKI or PKCS#1 PEM) of at least min_bits bits
 * (0 means TEEU_PEER_KEY_MIN_BITS).
 */
TEEU_API teeu_status teeu_key_load_public_pem(const char *pem, size_t pem_len, unsigned min_bits,
                                              teeu_key **out);
/** As teeu_key_load_public_pem, from a file. */
TEEU_API teeu_status teeu_key_load_public_file(const char *path, unsigned min_bits, teeu_key **out);

/** Generates a fresh RSA key pair of `bits` bits (0 means 3072). */
TEEU_API teeu_status teeu_key_generate(unsigned bits, teeu_key **out);

/** Frees a key, wiping private material. NULL is a no-op. */
TEEU_API void teeu_key_free(teeu_key *key);

/** 1 if the key holds a private half, 0 otherwise. */
TEEU_API int teeu_key_is_private(const teeu_key *key);
/** Modulus size in bits. */
TEEU_API unsigned teeu_key_bits(const teeu_key *key);

/**
 * The key's owner_id as SecretFlow defines it: standard base64 (padded) of
 * SHA-256 over the DER SubjectPublicKeyInfo. out must hold
 * TEEU_OWNER_ID_LEN + 1 bytes; it receives a NUL-terminated string.
 */
TEEU_API teeu_status teeu_key_owner_id(const teeu_key *key, char out[TEEU_OWNER_ID_LEN + 1]);

/** The public half as SPKI PEM ("-----BEGIN PUBLIC KEY-----..."). Free with teeu_free. */
TEEU_API teeu_status teeu_key_public_pem(const teeu_key *key, char **pem, size_t *pem_len);

/**
 * The private key as PEM: PKCS#8, encrypted with AES-256-CBC under
 * passphrase when passphrase is non-NULL. Free with teeu_free_secret.
 */
TEEU_API teeu_status teeu_key_private_pem(const teeu_key *key, const char *passphrase, char **pem,
                                          size_t *pem_len);

TEEU_END_DECLS

#endif /* TEEU_KEYS_H */
