/*
 * Segmented streaming AEAD (format in crypto_internal.h and docs/crypto.md).
 *
 * Speed: one EVP_CIPHER_CTX per stream holds the AES key schedule and GHASH
 * tables; each segment only installs a new IV, so the per-segment cost is a
 * few function calls on top of the bulk AES-GCM pass, which writes straight
 * into the caller's buffer (no intermediate copy).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>

#include "crypto_internal.h"

#define TU_STREAM_SALT_OFF 8
#define TU_STREAM_SALT_LEN 16
#define TU_STREAM_PREFIX_OFF 24
#define TU_STREAM_PREFIX_LEN 7
#define TU_STREAM_MAX_SEGMENTS ((uint64_t)1 << 32)

static const char tu_stream_info[] = "libteeu stream v1";

struct tu_stream {
    EVP_CIPHER_CTX *ctx;
    bool sealing;
    bool done;   /* the final segment went through */
    bool failed; /* a segment failed: the stream is unusable */
    size_t segment_size;
    uint64_t next_index;
    uint8_t header[TU_STREAM_HEADER_LEN];
    uint8_t *aad;
    size_t aad_len;
};

static void tu_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t tu_rd_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* K_s = HKDF-SHA256(key, salt = header[8..24), info = "libteeu stream v1" || header[0..8)). */
static teeu_status tu_stream_subkey(const uint8_t key[TU_STREAM_KEY_LEN], const uint8_t header[TU_STREAM_HEADER_LEN],
                                    uint8_t subkey[TU_STREAM_KEY_LEN])
{
    uint8_t info[sizeof tu_stream_info - 1 + 8];
    memcpy(info, tu_stream_info, sizeof tu_stream_info - 1);
    memcpy(info + sizeof tu_stream_info - 1, header, 8);
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    if (kctx == NULL) {
        ERR_clear_error();
        return tu_error(TEEU_ERR_CRYPTO, "OpenSSL has no HKDF implementation available");
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, TU_STREAM_KEY_LEN),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)(header + TU_STREAM_SALT_OFF),
                                          TU_STREAM_SALT_LEN),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof info),
        OSSL_PARAM_construct_end(),
    };
    int ok = EVP_KDF_derive(kctx, subkey, TU_STREAM_KEY_LEN, params) == 1;
    /* Freeing the KDF context cleanses its copy of the key. */
    EVP_KDF_CTX_free(kctx);
    if (!ok) {
        ERR_clear_error();
        tu_wipe(subkey, TU_STREAM_KEY_LEN);
        return tu_error(TEEU_ERR_CRYPTO, "OpenSSL HKDF-SHA256 failed deriving the stream key");
    }
    return TEEU_OK;
}

/* Allocates the stream and keys its cipher context from the header. */
static teeu_status tu_stream_new(const uint8_t *key, const uint8_t *aad, size_t aad_len,
                                 const uint8_t header[TU_STREAM_HEADER_LEN], bool sealing, tu_stream **out)
{
    tu_stream *s = calloc(1, sizeof *s);
    if (s == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory for a stream");
    s->sealing = sealing;
    s->segment_size = tu_rd_be32(header + 4);
    memcpy(s->header, header, TU_STREAM_HEADER_LEN);
    s->aad = tu_memdup(aad_len ? aad : (const uint8_t *)"", aad_len);
    s->aad_len = aad_len;
    s->ctx = EVP_CIPHER_CTX_new();
    if (s->aad == NULL || s->ctx == NULL) {
        tu_stream_free(s);
        return tu_error(TEEU_ERR_NOMEM, "out of memory for a stream");
    }
    uint8_t subkey[TU_STREAM_KEY_LEN];
    teeu_status st = tu_stream_subkey(key, header, subkey);
    if (st == TEEU_OK) {
        /* The key schedule is computed once here; segments only change the IV. */
        if (EVP_CipherInit_ex(s->ctx, EVP_aes_256_gcm(), NULL, subkey, NULL, sealing ? 1 : 0) != 1) {
            ERR_clear_error();
            st = tu_error(TEEU_ERR_CRYPTO, "OpenSSL cannot set up AES-256-GCM for a stream");
        }
    }
    tu_wipe(subkey, sizeof subkey);
    if (st != TEEU_OK) {
        tu_stream_free(s);
        return st;
    }
    *out = s;
    return TEEU_OK;
}

teeu_status tu_stream_seal_init(const uint8_t key[TU_STREAM_KEY_LEN], const uint8_t *aad, size_t aad_len,
                                size_t segment_size, uint8_t header[TU_STREAM_HEADER_LEN], tu_stream **out)
{
    if (out == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "stream seal: NULL output pointer");
    *out = NULL;
    if (key == NULL || header == NULL || (aad == NULL && aad_len > 0))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "stream seal: NULL argument");
    if (segment_size == 0)
        segment_size = TU_STREAM_DEFAULT_SEGMENT;
    if (segment_size > TU_STREAM_MAX_SEGMENT)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "stream seal: segment size %zu exceeds the %u-byte maximum",
                        segment_size, TU_STREAM_MAX_SEGMENT);
    uint8_t h[TU_STREAM_HEADER_LEN] = {'T', 'S', TU_STREAM_VERSION, 0};
    tu_be32(h + 4, (uint32_t)segment_size);
    teeu_status st = tu_random(h + TU_STREAM_SALT_OFF, TU_STREAM_SALT_LEN + TU_STREAM_PREFIX_LEN);
    if (st != TEEU_OK)
        return st;
    st = tu_stream_new(key, aad, aad_len, h, true, out);
    if (st == TEEU_OK)
        memcpy(header, h, sizeof h);
    return st;
}

teeu_status tu_stream_open_init(const uint8_t key[TU_STREAM_KEY_LEN], const uint8_t *aad, size_t aad_len,
                                const uint8_t header[TU_STREAM_HEADER_LEN], tu_stream **out)
{
    if (out == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "stream open: NULL output pointer");
    *out = NULL;
    if (key == NULL || header == NULL || (aad == NULL && aad_len > 0))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "stream open: NULL argument");
    if (header[0] != 'T' || header[1] != 'S')
        return tu_error(TEEU_ERR_DECRYPT, "not a libteeu encrypted stream: bad magic bytes %02x %02x",
                        header[0], header[1]);
    if (header[2] != TU_STREAM_VERSION)
        return tu_error(TEEU_ERR_UNSUPPORTED,
                        "encrypted stream version %u is not supported (this libteeu reads version %u); "
                        "upgrade libteeu", header[2], TU_STREAM_VERSION);
    if (header[3] != 0 || header[31] != 0)
        return tu_error(TEEU_ERR_DECRYPT, "encrypted stream header has non-zero reserved bytes");
    uint32_t seg = tu_rd_be32(header + 4);
    if (seg == 0 || seg > TU_STREAM_MAX_SEGMENT)
        return tu_error(TEEU_ERR_DECRYPT, "encrypted stream header: segment size %u outside 1..%u", seg,
                        TU_STREAM_MAX_SEGMENT);
    return tu_stream_new(key, aad, aad_len, header, false, out);
}

/* Checks the stream can take another segment of in_len plaintext bytes. */
static teeu_status tu_stream_admit(tu_stream *s, bool sealing, size_t pt_len, bool final)
{
    const char *op = sealing ? "stream seal" : "stream open";
    if (s->sealing != sealing)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "%s: this stream was started for %s", op,
                        s->sealing ? "sealing" : "opening");
    if (s->failed)
        return tu_error(TEEU_ERR_STREAM_ORDER, "%s: an earlier segment failed; the stream cannot continue", op);
    if (s->done)
        return tu_error(TEEU_ERR_STREAM_ORDER, "%s: segment %llu comes after the final segment", op,
                        (unsigned long long)s->next_index);
    if (s->next_index >= TU_STREAM_MAX_SEGMENTS)
        return tu_error(TEEU_ERR_LIMIT, "%s: a stream holds at most 2^32 segments", op);
    if (final ? pt_len > s->segment_size : pt_len != s->segment_size)
        return tu_error(sealing ? TEEU_ERR_INVALID_ARGUMENT : TEEU_ERR_DECRYPT,
                        "%s: segment %llu holds %zu plaintext bytes, but %s segments hold %s%zu", op,
                        (unsigned long long)s->next_index, pt_len, final ? "final" : "non-final",
                        final ? "at most " : "exactly ", s->segment_size);
    return TEEU_OK;
}

/* Installs segment i's nonce and feeds header || AAD. */
static int tu_stream_start_segment(tu_stream *s, bool final)
{
    uint8_t nonce[TU_GCM_NONCE_LEN];
    memcpy(nonce, s->header + TU_STREAM_PREFIX_OFF, TU_STREAM_PREFIX_LEN);
    tu_be32(nonce + TU_STREAM_PREFIX_LEN, (uint32_t)s->next_index);
    nonce[11] = final ? 1 : 0;
    return EVP_CipherInit_ex(s->ctx, NULL, NULL, NULL, nonce, -1) == 1 &&
           tu_evp_update(s->ctx, NULL, s->header, TU_STREAM_HEADER_LEN) &&
           tu_evp_update(s->ctx, NULL, s->aad, s->aad_len);
}

teeu_status tu_stream_seal_segment2(tu_stream *s, const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len,
                                    bool final, uint8_t *out)
{
    size_t in_len = 0;
    if (s == NULL || out == NULL || (a == NULL && a_len > 0) || (b == NULL && b_len > 0))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "stream seal: NULL argument");
    if (tu_add_overflows(a_len, b_len, &in_len))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "stream seal: segment length overflows");
    teeu_status st = tu_stream_admit(s, true, in_len, final);
    if (st != TEEU_OK)
        return st;
    uint8_t fin[16];
    int outl = 0;
    int ok = tu_stream_start_segment(s, final) && tu_evp_update(s->ctx, out, a, a_len) &&
             tu_evp_update(s->ctx, out + a_len, b, b_len) && EVP_EncryptFinal_ex(s->ctx, fin, &outl) == 1 &&
             EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_AEAD_GET_TAG, TU_GCM_TAG_LEN, out + in_len) == 1;
    if (!ok) {
        ERR_clear_error();
        s->failed = true;
        tu_wipe(out, in_len + TU_GCM_TAG_LEN);
        return tu_error(TEEU_ERR_CRYPTO, "OpenSSL AES-GCM failed sealing stream segment %llu",
                        (unsigned long long)s->next_index);
    }
    s->next_index++;
    s->done = final;
    return TEEU_OK;
}

teeu_status tu_stream_seal_segment(tu_stream *s, const uint8_t *in, size_t in_len, bool final, uint8_t *out)
{
    return tu_stream_seal_segment2(s, in, in_len, NULL, 0, final, out);
}

teeu_status tu_stream_open_segment(tu_stream *s, const uint8_t *in, size_t in_len, bool final, uint8_t *out)
{
    if (s == NULL || in == NULL || (out == NULL && in_len > TU_GCM_TAG_LEN))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "stream open: NULL argument");
    if (s->sealing)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "stream open: this stream was started for sealing");
    if (in_len < TU_GCM_TAG_LEN && !s->failed && !s->done) {
        s->failed = true;
        return tu_error(TEEU_ERR_DECRYPT, "stream open: segment %llu is %zu bytes, shorter than its 16-byte tag",
                        (unsigned long long)s->next_index, in_len);
    }
    size_t pt_len = in_len >= TU_GCM_TAG_LEN ? in_len - TU_GCM_TAG_LEN : 0;
    teeu_status st = tu_stream_admit(s, false, pt_len, final);
    if (st != TEEU_OK) {
        s->failed = true;
        return st;
    }
    uint8_t tag[TU_GCM_TAG_LEN];
    memcpy(tag, in + pt_len, sizeof tag); /* before an in-place pass could overwrite it */
    uint8_t fin[16];
    int outl = 0;
    int ok = tu_stream_start_segment(s, final) && tu_evp_update(s->ctx, out, in, pt_len) &&
             EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_AEAD_SET_TAG, TU_GCM_TAG_LEN, tag) == 1;
    int verified = ok && EVP_DecryptFinal_ex(s->ctx, fin, &outl) == 1;
    if (!verified) {
        ERR_clear_error();
        s->failed = true;
        if (out != NULL)
            tu_wipe(out, pt_len);
        if (!ok)
            return tu_error(TEEU_ERR_CRYPTO, "OpenSSL AES-GCM failed opening stream segment %llu",
                            (unsigned long long)s->next_index);
        return tu_error(TEEU_ERR_DECRYPT,
                        "stream segment %llu%s does not authenticate: wrong key or AAD, or the stream was "
                        "altered, reordered, cut or spliced",
                        (unsigned long long)s->next_index, final ? " (final)" : "");
    }
    s->next_index++;
    s->done = final;
    return TEEU_OK;
}

teeu_status tu_stream_finish(tu_stream *s)
{
    if (s == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "stream finish: NULL stream");
    if (s->failed)
        return tu_error(TEEU_ERR_STREAM_ORDER, "stream finish: a segment failed earlier");
    if (!s->done)
        return tu_error(TEEU_ERR_STREAM_TRUNCATED,
                        "encrypted stream ended after %llu segment(s) without its final segment: "
                        "the data is truncated",
                        (unsigned long long)s->next_index);
    return TEEU_OK;
}

size_t tu_stream_segment_size(const tu_stream *s)
{
    return s ? s->segment_size : 0;
}

uint64_t tu_stream_segments_done(const tu_stream *s)
{
    return s ? s->next_index : 0;
}

teeu_status tu_stream_sealed_len(uint64_t pt_len, size_t segment_size, uint64_t *out)
{
    if (out == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "tu_stream_sealed_len: NULL output");
    *out = 0;
    if (segment_size == 0)
        segment_size = TU_STREAM_DEFAULT_SEGMENT;
    if (segment_size > TU_STREAM_MAX_SEGMENT)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "segment size %zu exceeds the maximum", segment_size);
    uint64_t segments = pt_len == 0 ? 1 : (pt_len - 1) / segment_size + 1;
    if (segments > TU_STREAM_MAX_SEGMENTS)
        return tu_error(TEEU_ERR_LIMIT, "%llu bytes need more than 2^32 segments of %zu bytes",
                        (unsigned long long)pt_len, segment_size);
    /* segments <= 2^32 and tag 16: the product fits; only the sum can overflow. */
    uint64_t total = TU_STREAM_HEADER_LEN + segments * TU_GCM_TAG_LEN;
    if (__builtin_add_overflow(total, pt_len, &total))
        return tu_error(TEEU_ERR_OVERFLOW, "sealed stream size overflows");
    *out = total;
    return TEEU_OK;
}

void tu_stream_free(tu_stream *s)
{
    if (s == NULL)
        return;
    EVP_CIPHER_CTX_free(s->ctx); /* cleanses the key schedule */
    free(s->aad);
    tu_wipe(s, sizeof *s);
    free(s);
}

/* ---- whole-buffer helpers ------------------------------------------------------ */

teeu_status tu_stream_seal_all(const uint8_t key[TU_STREAM_KEY_LEN], const uint8_t *aad, size_t aad_len,
                               size_t segment_size, const uint8_t *pt, size_t pt_len, uint8_t **out,
                               size_t *out_len)
{
    if (out == NULL || out_len == NULL || (pt == NULL && pt_len > 0))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "stream seal: NULL argument");
    *out = NULL;
    *out_len = 0;
    uint64_t total = 0;
    teeu_status st = tu_stream_sealed_len(pt_len, segment_size, &total);
    if (st != TEEU_OK)
        return st;
    if (total > SIZE_MAX)
        return tu_error(TEEU_ERR_OVERFLOW, "sealed stream of %zu bytes does not fit in memory", pt_len);
    uint8_t *buf = malloc((size_t)total);
    if (buf == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory for a %llu-byte sealed stream", (unsigned long long)total);
    tu_stream *s = NULL;
    st = tu_stream_seal_init(key, aad, aad_len, segment_size, buf, &s);
    size_t seg = st == TEEU_OK ? tu_stream_segment_size(s) : 0;
    size_t in_off = 0, out_off = TU_STREAM_HEADER_LEN;
    while (st == TEEU_OK) {
        size_t n = pt_len - in_off < seg ? pt_len - in_off : seg;
        bool final = in_off + n == pt_len;
        st = tu_stream_seal_segment(s, pt ? pt + in_off : NULL, n, final, buf + out_off);
        in_off += n;
        out_off += n + TU_GCM_TAG_LEN;
        if (final)
            break;
    }
    if (st == TEEU_OK)
        st = tu_stream_finish(s);
    tu_stream_free(s);
    if (st != TEEU_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    *out_len = out_off;
    return TEEU_OK;
}

teeu_status tu_stream_open_all(const uint8_t key[TU_STREAM_KEY_LEN], const uint8_t *aad, size_t aad_len,
                               const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len)
{
    if (out == NULL || out_len == NULL || (in == NULL && in_len > 0))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "stream open: NULL argument");
    *out = NULL;
    *out_len = 0;
    if (in_len < TU_STREAM_HEADER_LEN + TU_GCM_TAG_LEN)
        return tu_error(TEEU_ERR_STREAM_TRUNCATED,
                        "encrypted stream of %zu bytes is shorter than a header and one tag (%d bytes)", in_len,
                        TU_STREAM_HEADER_LEN + TU_GCM_TAG_LEN);
    tu_stream *s = NULL;
    teeu_status st = tu_stream_open_init(key, aad, aad_len, in, &s);
    if (st != TEEU_OK)
        return st;
    size_t unit = tu_stream_segment_size(s) + TU_GCM_TAG_LEN;
    size_t body = in_len - TU_STREAM_HEADER_LEN;
    /* Room for every chunk's plaintext: full chunks hold unit - tag bytes, the
     * last (possibly short, even shorter than a tag) chunk what is left. */
    size_t full = (body - 1) / unit;
    size_t last = body - full * unit;
    size_t pt_cap = full * (unit - TU_GCM_TAG_LEN) + (last > TU_GCM_TAG_LEN ? last - TU_GCM_TAG_LEN : 0);
    uint8_t *buf = malloc(pt_cap ? pt_cap : 1);
    if (buf == NULL) {
        tu_stream_free(s);
        return tu_error(TEEU_ERR_NOMEM, "out of memory opening a %zu-byte stream", in_len);
    }
    size_t in_off = TU_STREAM_HEADER_LEN, out_off = 0;
    while (st == TEEU_OK && in_off < in_len) {
        size_t n = in_len - in_off < unit ? in_len - in_off : unit;
        bool final = in_off + n == in_len;
        /* OpenSSL's assembly writes the output, where sanitizers cannot see
         * an overrun: check the room explicitly. */
        if (n > TU_GCM_TAG_LEN && n - TU_GCM_TAG_LEN > pt_cap - out_off) {
            st = tu_error(TEEU_ERR_INTERNAL_BUG, "stream open: output bound miscomputed (%zu > %zu)",
                          n - TU_GCM_TAG_LEN, pt_cap - out_off);
            break;
        }
        st = tu_stream_open_segment(s, in + in_off, n, final, buf + out_off);
        in_off += n;
        if (st == TEEU_OK)
            out_off += n - TU_GCM_TAG_LEN;
    }
    if (st == TEEU_OK)
        st = tu_stream_finish(s);
    tu_stream_free(s);
    if (st != TEEU_OK) {
        tu_free_secret(buf, pt_cap);
        return st;
    }
    *out = buf;
    *out_len = out_off;
    return TEEU_OK;
}
