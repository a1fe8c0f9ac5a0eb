/*
 * libteeu crypto — internal primitives on OpenSSL 3 (EVP only), shared by
 * the wire/rpc/attest/client layers and the services. See WIRE.md
 * "Keys and algorithms" for which primitive is used where.
 *
 * Conventions: every output buffer holding a secret is wiped when freed
 * (tu_free_secret); tags and MACs are compared with CRYPTO_memcmp; every
 * failure returns a teeu_status with a detail message.
 */
#ifndef TEEU_CRYPTO_INTERNAL_H
#define TEEU_CRYPTO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include <teeu/keys.h>

#include "core/core_internal.h"

/* ---- keys ---------------------------------------------------------------- */

/** The EVP_PKEY behind a teeu_key (borrowed; do not free). */
EVP_PKEY *tu_key_evp(const teeu_key *key);
/** Wraps an EVP_PKEY (takes ownership of pkey on success). */
teeu_status tu_key_from_evp(EVP_PKEY *pkey, teeu_key **out);
/** DER SubjectPublicKeyInfo of the key. Free *der with free(). */
teeu_status tu_key_spki_der(const teeu_key *key, uint8_t **der, size_t *der_len);
/**
 * As teeu_key_load_private_pem with a caller-chosen minimum size (services
 * loading a peer-sized key use TEEU_PEER_KEY_MIN_BITS). `what` names the key
 * in error messages (NULL: "private key").
 */
teeu_status tu_key_load_private_pem_min(const char *pem, size_t pem_len, const char *passphrase,
                                        unsigned min_bits, const char *what, teeu_key **out);
/** As teeu_key_load_private_file with a caller-chosen minimum size. */
teeu_status tu_key_load_private_file_min(const char *path, const char *passphrase, unsigned min_bits,
                                         teeu_key **out);
/**
 * As teeu_key_generate with `primes` RSA primes (RFC 8017 multi-prime): 2,
 * or 3 for keys of 3072 bits and more (every prime at least 1024 bits). A
 * 3-prime key's private operations take about half the CPU time; its public
 * key is an ordinary RSA key of the same size.
 */
teeu_status tu_key_generate_primes(unsigned bits, unsigned primes, teeu_key **out) TU_NODISCARD;
/** The number of primes of an RSA private key (2 or more); 0 for public or non-RSA keys. */
unsigned tu_key_rsa_primes(const teeu_key *key);

/* ---- hashing ------------------------------------------------------------- */

#define TU_SHA256_LEN 32

/** A byte string that is one part of a signed/hashed message. */
typedef struct tu_bytes {
    const void *data;
    size_t len;
} tu_bytes;

#define TU_BYTES(ptr, n) ((tu_bytes){(ptr), (n)})
#define TU_STR(s) ((tu_bytes){(s), strlen(s)})

/** SHA-256 over the concatenation of parts. */
teeu_status tu_sha256(const tu_bytes *parts, size_t n_parts, uint8_t out[TU_SHA256_LEN]);
/** SHA-256 over the parts joined by the single byte '|' ("hash with separator"). */
teeu_status tu_sha256_sep(const tu_bytes *parts, size_t n_parts, uint8_t out[TU_SHA256_LEN]);
/** HMAC-SHA-256 under key over the parts joined by '|'. */
teeu_status tu_hmac_sha256_sep(const uint8_t *key, size_t key_len, const tu_bytes *parts,
                               size_t n_parts, uint8_t out[TU_SHA256_LEN]);
/** Constant-time equality of two equal-length byte strings. */
bool tu_ct_equal(const void *a, const void *b, size_t len);

/* ---- signatures (RSASSA-PKCS1-v1_5 with SHA-256) ------------------------ */

/**
 * The RSA key of a PEM text that is exactly one "PUBLIC KEY" (SPKI) or "RSA
 * PUBLIC KEY" (PKCS#1) block in strict DER, or NULL for anything else
 * (then use OpenSSL's decoder, which explains what is wrong). ~40x faster
 * than OSSL_DECODER. Free with EVP_PKEY_free.
 */
EVP_PKEY *tu_rsa_public_pem_fast(const char *pem, size_t pem_len);

/** Signs the concatenation of parts. *sig: free with free(). */
teeu_status tu_rsa_sign(const teeu_key *priv, const tu_bytes *parts, size_t n_parts,
                        uint8_t **sig, size_t *sig_len);
/** TEEU_OK if sig verifies over the concatenation of parts; TEEU_ERR_SIGNATURE if not. */
teeu_status tu_rsa_verify(const teeu_key *pub, const tu_bytes *parts, size_t n_parts,
                          const uint8_t *sig, size_t sig_len);

/**
 * RSA private-key operations (signatures, OAEP decryptions) the calling
 * thread has done so far: a debug statistic for cost tests.
 */
uint64_t tu_rsa_private_ops_thread(void);

/* ---- RSA-OAEP (SHA-1, MGF1-SHA-1, empty label) -------------------------- */

teeu_status tu_rsa_oaep_encrypt(const teeu_key *pub, const uint8_t *in, size_t in_len,
                                uint8_t **out, size_t *out_len);
/** *out is secret: free with tu_free_secret(*out, *out_len). */
teeu_status tu_rsa_oaep_decrypt(const teeu_key *priv, const uint8_t *in, size_t in_len,
                                uint8_t **out, size_t *out_len);

/* ---- AES-GCM (128/256 by key length), 12-byte nonce, 16-byte tag -------- */
/* Only 12-byte nonces and 16-byte tags exist here: code parsing a peer's
 * SymmetricSecret must refuse other initial_vector / cmac lengths before
 * filling these fixed-size fields. */

#define TU_GCM_NONCE_LEN 12
#define TU_GCM_TAG_LEN 16

/**
 * Encrypts in_len bytes into ct (room for in_len bytes; ct may equal in).
 * key_len 16 selects AES-128-GCM, 32 AES-256-GCM. The tag goes to tag.
 */
teeu_status tu_aes_gcm_seal(const uint8_t *key, size_t key_len, const uint8_t nonce[TU_GCM_NONCE_LEN],
                            const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len,
                            uint8_t *ct, uint8_t tag[TU_GCM_TAG_LEN]);
/**
 * TEEU_ERR_DECRYPT when the tag does not verify; pt (ct_len bytes, may be
 * ct itself) is then wiped, so unauthenticated plaintext never escapes.
 */
teeu_status tu_aes_gcm_open(const uint8_t *key, size_t key_len, const uint8_t nonce[TU_GCM_NONCE_LEN],
                            const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len,
                            const uint8_t tag[TU_GCM_TAG_LEN], uint8_t *pt);

/* ---- digital envelope (AsymmetricSecret semantics) ---------------------- */

/** An opened-or-to-be-sealed envelope, field for field as AsymmetricSecret. */
typedef struct tu_envelope {
    uint8_t *sealed_key;   size_t sealed_key_len;   /* asymmetric_encrypted_key */
    uint8_t *ciphertext;   size_t ciphertext_len;   /* symmetric_secret.encrypted_data */
    uint8_t tag[TU_GCM_TAG_LEN];                     /* symmetric_secret.encrypted_data_cmac */
    uint8_t nonce[TU_GCM_NONCE_LEN];                 /* symmetric_secret.initial_vector */
    uint8_t *aad;          size_t aad_len;          /* symmetric_secret.additional_authentication_data */
} tu_envelope;

/**
 * Seals payload to pub: a random AES key of aes_key_len (16 or 32) bytes,
 * OAEP-sealed; payload under AES-GCM with aad (may be empty).
 */
teeu_status tu_envelope_seal(const teeu_key *pub, size_t aes_key_len, const uint8_t *aad, size_t aad_len,
                             const uint8_t *payload, size_t payload_len, tu_envelope *env);
/**
 * Opens an envelope with priv, choosing AES-128/256 by the unsealed key's
 * length (other lengths: TEEU_ERR_DECRYPT). *payload is secret.
 */
teeu_status tu_envelope_open(const teeu_key *priv, const tu_envelope *env, uint8_t **payload,
                             size_t *payload_len);
/** Frees the envelope's buffers and zeroes it (the fields are not secret). */
void tu_envelope_free(tu_envelope *env);

/** The AES-GCM EVP cipher for a 16- or 32-byte key; NULL for other lengths. */
const EVP_CIPHER *tu_gcm_cipher(size_t key_len);
/** EVP_CipherUpdate over len bytes in int-sized chunks; out NULL feeds AAD. 1 on success. */
int tu_evp_update(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t len);

/* ---- segmented streaming AEAD ------------------------------------------- */
/*
 * Large plaintexts are sealed as a header followed by segments, so memory
 * stays bounded and every segment is authenticated on its own, while the
 * stream as a whole cannot be reordered, cut short, spliced or extended.
 *
 * Header (TU_STREAM_HEADER_LEN = 32 bytes, all of it authenticated):
 *   0..1   magic "TS" (0x54 0x53)
 *   2      version, 1
 *   3      reserved, 0
 *   4..7   segment size S: plaintext bytes per segment, big-endian,
 *          1 <= S <= TU_STREAM_MAX_SEGMENT
 *   8..23  salt: 16 random bytes
 *   24..30 nonce prefix: 7 random bytes
 *   31     reserved, 0
 *
 * Per-stream key: K_s = HKDF-SHA256(ikm = the caller's 32-byte key,
 * salt = header[8..24), info = "libteeu stream v1" || header[0..8)), 32
 * bytes. Deriving a fresh key per stream (as Tink's streaming AEAD does)
 * means the 56-bit random nonce prefix never has to be unique across all
 * streams sealed under one key: two streams collide only if their 128-bit
 * salts collide, so one key can safely seal ~2^48 streams.
 *
 * Segment i (0-based) is AES-256-GCM under K_s with
 *   nonce = prefix(7) || BE32(i) || final(1)   (final: 1 on the last segment, else 0)
 *   AAD   = header(32) || the caller's stream AAD
 * and is stored as ciphertext || tag(16). Every non-final segment holds
 * exactly S plaintext bytes; the final one 0..S bytes. Because the index and
 * the final flag live in the nonce and the header in the AAD, a reordered,
 * dropped, duplicated, re-flagged or foreign segment fails its tag
 * (TEEU_ERR_DECRYPT); a segment after the final one is TEEU_ERR_STREAM_ORDER;
 * a stream that ends before its final segment is TEEU_ERR_STREAM_TRUNCATED
 * (tu_stream_finish). After any failure the stream refuses further use.
 * A stream holds at most 2^32 segments.
 */

#define TU_STREAM_HEADER_LEN 32
#define TU_STREAM_VERSION 1
#define TU_STREAM_DEFAULT_SEGMENT (4u << 20)
#define TU_STREAM_MAX_SEGMENT (64u << 20)
#define TU_STREAM_KEY_LEN 32

typedef struct tu_stream tu_stream;

/**
 * Starts sealing: writes the stream header (TU_STREAM_HEADER_LEN bytes) to
 * header. segment_size is the plaintext bytes per segment (0: default
 * 4 MiB). aad (may be NULL when aad_len is 0) is copied. Free with
 * tu_stream_free.
 */
teeu_status tu_stream_seal_init(const uint8_t key[TU_STREAM_KEY_LEN], const uint8_t *aad, size_t aad_len,
                                size_t segment_size, uint8_t header[TU_STREAM_HEADER_LEN], tu_stream **out);
/**
 * Seals the next segment: in_len must equal the segment size unless final
 * (then 0 <= in_len <= segment size). Writes in_len + TU_GCM_TAG_LEN bytes
 * (ciphertext then tag) to out; out may equal in (in place).
 */
teeu_status tu_stream_seal_segment(tu_stream *s, const uint8_t *in, size_t in_len, bool final, uint8_t *out);
/**
 * Seals the concatenation a || b as the next segment, as if it were one
 * buffer (a put seals the .npy header and the caller's array data without
 * gathering them first). out receives a_len + b_len + TU_GCM_TAG_LEN bytes;
 * a may equal out (in place), b must not overlap out.
 */
teeu_status tu_stream_seal_segment2(tu_stream *s, const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len,
                                    bool final, uint8_t *out);
/** Starts opening a stream from its header (validated here). */
teeu_status tu_stream_open_init(const uint8_t key[TU_STREAM_KEY_LEN], const uint8_t *aad, size_t aad_len,
                                const uint8_t header[TU_STREAM_HEADER_LEN], tu_stream **out);
/**
 * Opens the next segment: in_len includes the tag; out receives
 * in_len - TU_GCM_TAG_LEN bytes (may equal in). `final` is whether the
 * transport says this is the last segment. On failure out is wiped.
 */
teeu_status tu_stream_open_segment(tu_stream *s, const uint8_t *in, size_t in_len, bool final, uint8_t *out);
/** TEEU_OK once the final segment was sealed/opened; else TEEU_ERR_STREAM_TRUNCATED. */
teeu_status tu_stream_finish(tu_stream *s);
/** Plaintext bytes per segment. */
size_t tu_stream_segment_size(const tu_stream *s);
/** Index of the next segment to seal/open (= segments done so far). */
uint64_t tu_stream_segments_done(const tu_stream *s);
/**
 * Total sealed size (header + segments with tags) of a pt_len-byte
 * plaintext sealed with segment_size (0: default) and a final segment that
 * is the last, possibly full, one. TEEU_ERR_OVERFLOW / TEEU_ERR_LIMIT.
 */
teeu_status tu_stream_sealed_len(uint64_t pt_len, size_t segment_size, uint64_t *out);
/** Frees the stream, cleansing its key schedule. NULL is a no-op. */
void tu_stream_free(tu_stream *s);

/**
 * Seals a whole in-memory plaintext as one stream (header and segments,
 * tu_stream_sealed_len bytes). *out: free with free().
 */
teeu_status tu_stream_seal_all(const uint8_t key[TU_STREAM_KEY_LEN], const uint8_t *aad, size_t aad_len,
                               size_t segment_size, const uint8_t *pt, size_t pt_len, uint8_t **out,
                               size_t *out_len);
/**
 * Opens a whole in-memory stream; the last segment in the buffer is taken
 * as the final one, so a stream cut anywhere fails (TEEU_ERR_DECRYPT, or
 * TEEU_ERR_STREAM_TRUNCATED when shorter than a header and one tag).
 * *out is secret: free with tu_free_secret(*out, *out_len).
 */
teeu_status tu_stream_open_all(const uint8_t key[TU_STREAM_KEY_LEN], const uint8_t *aad, size_t aad_len,
                               const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len);

/* ---- key pool ------------------------------------------------------------ */

/**
 * Fresh RSA key pairs generated ahead by a background thread; each key is
 * handed out once. For protocols that want a new key per request
 * (GetComputeMeta) without paying for RSA generation on the request path.
 */
typedef struct tu_keypool tu_keypool;

/** Starts a pool keeping up to capacity (1..64) keys of bits (0: 3072). */
teeu_status tu_keypool_new(unsigned bits, size_t capacity, tu_keypool **out) TU_NODISCARD;
/**
 * Takes a key (the caller owns it; free with teeu_key_free). When the pool
 * is empty, or p is NULL, a key is generated on the calling thread.
 */
teeu_status tu_keypool_take(tu_keypool *p, teeu_key **out) TU_NODISCARD;
/** Keys ready now (for tests). */
size_t tu_keypool_available(tu_keypool *p);
/** Stops the thread and frees the keys left. NULL is a no-op. */
void tu_keypool_free(tu_keypool *p);

/* ---- randomness ---------------------------------------------------------- */

/** Public random bytes (nonces, salts, ids) from OpenSSL's CSPRNG. */
teeu_status tu_random(void *buf, size_t len);
/** Random bytes that become secrets (keys): OpenSSL's private DRBG. */
teeu_status tu_random_secret(void *buf, size_t len);
/** A version-4 UUID as 32 lowercase hex digits + NUL. */
teeu_status tu_uuid4_hex(char out[33]);

#endif /* TEEU_CRYPTO_INTERNAL_H */
