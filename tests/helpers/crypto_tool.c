/*
 * crypto_tool — drives libteeu's crypto layer from tests in other languages.
 * Byte strings are given and printed as lowercase hex; keys as PEM files.
 *
 *   crypto_tool genkey PRIV_OUT PUB_OUT [BITS [PASSPHRASE]]
 *   crypto_tool owner-id KEYFILE                (private or public PEM)
 *   crypto_tool load-private KEYFILE [PASSPHRASE]   -> bits, or the error
 *   crypto_tool sign PRIVFILE HEX...            -> signature over the concatenated parts
 *   crypto_tool verify PUBFILE SIGHEX HEX...    -> exit 0 if it verifies
 *   crypto_tool oaep-enc PUBFILE HEX
 *   crypto_tool oaep-dec PRIVFILE HEX
 *   crypto_tool gcm-seal KEYHEX NONCEHEX AADHEX PTHEX   -> ct||tag
 *   crypto_tool gcm-open KEYHEX NONCEHEX AADHEX CTTAGHEX
 *   crypto_tool env-seal PUBFILE KEYLEN AADHEX PTHEX -> sealed_key nonce aad ct tag (one per line)
 *   crypto_tool env-open PRIVFILE SEALEDKEYHEX NONCEHEX AADHEX CTHEX TAGHEX
 *   crypto_tool sha256-sep HEX...  /  hmac-sep KEYHEX HEX...
 *   crypto_tool stream-seal KEYHEX AADHEX SEGSIZE IN OUT   (files)
 *   crypto_tool stream-open KEYHEX AADHEX IN OUT
 *
 * Exit status: 0 success, 1 crypto refusal (message on stderr: status name
 * and detail), 2 usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto_internal.h"

static int fail(teeu_status st)
{
    fprintf(stderr, "%s (%d): %s\n", teeu_status_str(st), (int)st, teeu_last_error());
    return 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: see the comment at the top of tests/helpers/crypto_tool.c\n");
    return 2;
}

static void print_hex(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        printf("%02x", p[i]);
    printf("\n");
}

/* Decodes hex or exits with a usage error; "" and "-" are empty. */
static uint8_t *unhex(const char *s, size_t *len)
{
    if (strcmp(s, "-") == 0)
        s = "";
    uint8_t *out = NULL;
    if (tu_hex_decode(s, strlen(s), &out, len) != TEEU_OK) {
        fprintf(stderr, "bad hex: %s\n", s);
        exit(2);
    }
    return out;
}

static teeu_status load_any(const char *path, teeu_key **key)
{
    uint8_t *text = NULL;
    size_t len = 0;
    teeu_status st = tu_read_file(path, 1 << 20, &text, &len);
    if (st != TEEU_OK)
        return st;
    if (memmem(text, len, "PRIVATE KEY", 11) != NULL)
        st = tu_key_load_private_pem_min((const char *)text, len, NULL, TEEU_PEER_KEY_MIN_BITS, path, key);
    else
        st = teeu_key_load_public_pem((const char *)text, len, 0, key);
    tu_free_secret(text, len);
    return st;
}

static int cmd_genkey(int argc, char **argv)
{
    if (argc < 4)
        return usage();
    unsigned bits = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 10) : 0;
    const char *pass = argc > 5 ? argv[5] : NULL;
    teeu_key *k = NULL;
    char *priv = NULL, *pub = NULL;
    size_t priv_len = 0, pub_len = 0;
    teeu_status st = teeu_key_generate(bits, &k);
    if (st == TEEU_OK)
        st = teeu_key_private_pem(k, pass, &priv, &priv_len);
    if (st == TEEU_OK)
        st = teeu_key_public_pem(k, &pub, &pub_len);
    if (st == TEEU_OK)
        st = tu_write_file_atomic(argv[2], priv, priv_len, 0600);
    if (st == TEEU_OK)
        st = tu_write_file_atomic(argv[3], pub, pub_len, 0644);
    teeu_free_secret(priv, priv_len);
    teeu_free(pub);
    teeu_key_free(k);
    return st == TEEU_OK ? 0 : fail(st);
}

static int cmd_owner_id(int argc, char **argv)
{
    if (argc != 3)
        return usage();
    teeu_key *k = NULL;
    teeu_status st = load_any(argv[2], &k);
    char id[TEEU_OWNER_ID_LEN + 1];
    if (st == TEEU_OK)
        st = teeu_key_owner_id(k, id);
    teeu_key_free(k);
    if (st != TEEU_OK)
        return fail(st);
    printf("%s\n", id);
    return 0;
}

static int cmd_load_private(int argc, char **argv)
{
    if (argc < 3)
        return usage();
    teeu_key *k = NULL;
    teeu_status st = teeu_key_load_private_file(argv[2], argc > 3 ? argv[3] : NULL, &k);
    if (st != TEEU_OK)
        return fail(st);
    printf("%u\n", teeu_key_bits(k));
    teeu_key_free(k);
    return 0;
}

/* Parts from argv[first..argc). */
static tu_bytes *parts_from(int argc, char **argv, int first, size_t *n)
{
    *n = argc > first ? (size_t)(argc - first) : 0;
    tu_bytes *parts = calloc(*n + 1, sizeof *parts);
    for (size_t i = 0; i < *n; i++) {
        size_t len;
        uint8_t *p = unhex(argv[first + (int)i], &len);
        parts[i] = TU_BYTES(p, len);
    }
    return parts;
}

static void parts_free(tu_bytes *parts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free((void *)parts[i].data);
    free(parts);
}

static int cmd_sign(int argc, char **argv)
{
    if (argc < 3)
        return usage();
    teeu_key *k = NULL;
    teeu_status st = load_any(argv[2], &k);
    size_t n;
    tu_bytes *parts = parts_from(argc, argv, 3, &n);
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    if (st == TEEU_OK)
        st = tu_rsa_sign(k, parts, n, &sig, &sig_len);
    if (st == TEEU_OK)
        print_hex(sig, sig_len);
    free(sig);
    parts_free(parts, n);
    teeu_key_free(k);
    return st == TEEU_OK ? 0 : fail(st);
}

static int cmd_verify(int argc, char **argv)
{
    if (argc < 4)
        return usage();
    teeu_key *k = NULL;
    teeu_status st = load_any(argv[2], &k);
    size_t sig_len, n;
    uint8_t *sig = unhex(argv[3], &sig_len);
    tu_bytes *parts = parts_from(argc, argv, 4, &n);
    if (st == TEEU_OK)
        st = tu_rsa_verify(k, parts, n, sig, sig_len);
    free(sig);
    parts_free(parts, n);
    teeu_key_free(k);
    return st == TEEU_OK ? 0 : fail(st);
}

static int cmd_oaep(int argc, char **argv, bool decrypt)
{
    if (argc != 4)
        return usage();
    teeu_key *k = NULL;
    teeu_status st = load_any(argv[2], &k);
    size_t in_len, out_len = 0;
    uint8_t *in = unhex(argv[3], &in_len);
    uint8_t *out = NULL;
    if (st == TEEU_OK)
        st = decrypt ? tu_rsa_oaep_decrypt(k, in, in_len, &out, &out_len)
                     : tu_rsa_oaep_encrypt(k, in, in_len, &out, &out_len);
    if (st == TEEU_OK)
        print_hex(out, out_len);
    tu_free_secret(out, out_len);
    free(in);
    teeu_key_free(k);
    return st == TEEU_OK ? 0 : fail(st);
}

static int cmd_gcm(int argc, char **argv, bool open)
{
    if (argc != 6)
        return usage();
    size_t key_len, nonce_len, aad_len, in_len;
    uint8_t *key = unhex(argv[2], &key_len);
    uint8_t *nonce = unhex(argv[3], &nonce_len);
    uint8_t *aad = unhex(argv[4], &aad_len);
    uint8_t *in = unhex(argv[5], &in_len);
    if (nonce_len != TU_GCM_NONCE_LEN || (open && in_len < TU_GCM_TAG_LEN)) {
        fprintf(stderr, "nonce must be 12 bytes; ciphertext must include the 16-byte tag\n");
        return 2;
    }
    teeu_status st;
    uint8_t *out = malloc(in_len + TU_GCM_TAG_LEN);
    if (open) {
        size_t ct_len = in_len - TU_GCM_TAG_LEN;
        st = tu_aes_gcm_open(key, key_len, nonce, aad, aad_len, in, ct_len, in + ct_len, out);
        if (st == TEEU_OK)
            print_hex(out, ct_len);
    } else {
        st = tu_aes_gcm_seal(key, key_len, nonce, aad, aad_len, in, in_len, out, out + in_len);
        if (st == TEEU_OK)
            print_hex(out, in_len + TU_GCM_TAG_LEN);
    }
    free(out);
    free(key);
    free(nonce);
    free(aad);
    free(in);
    return st == TEEU_OK ? 0 : fail(st);
}

static int cmd_env_seal(int argc, char **argv)
{
    if (argc != 6)
        return usage();
    teeu_key *k = NULL;
    teeu_status st = load_any(argv[2], &k);
    size_t aad_len, pt_len;
    uint8_t *aad = unhex(argv[4], &aad_len);
    uint8_t *pt = unhex(argv[5], &pt_len);
    tu_envelope env = {0};
    if (st == TEEU_OK)
        st = tu_envelope_seal(k, strtoul(argv[3], NULL, 10), aad, aad_len, pt, pt_len, &env);
    if (st == TEEU_OK) {
        print_hex(env.sealed_key, env.sealed_key_len);
        print_hex(env.nonce, sizeof env.nonce);
        print_hex(env.aad, env.aad_len);
        print_hex(env.ciphertext, env.ciphertext_len);
        print_hex(env.tag, sizeof env.tag);
    }
    tu_envelope_free(&env);
    free(aad);
    free(pt);
    teeu_key_free(k);
    return st == TEEU_OK ? 0 : fail(st);
}

static int cmd_env_open(int argc, char **argv)
{
    if (argc != 8)
        return usage();
    teeu_key *k = NULL;
    teeu_status st = load_any(argv[2], &k);
    tu_envelope env = {0};
    size_t nonce_len, tag_len;
    env.sealed_key = unhex(argv[3], &env.sealed_key_len);
    uint8_t *nonce = unhex(argv[4], &nonce_len);
    env.aad = unhex(argv[5], &env.aad_len);
    env.ciphertext = unhex(argv[6], &env.ciphertext_len);
    uint8_t *tag = unhex(argv[7], &tag_len);
    if (nonce_len != TU_GCM_NONCE_LEN || tag_len != TU_GCM_TAG_LEN) {
        fprintf(stderr, "nonce must be 12 bytes and tag 16\n");
        return 2;
    }
    memcpy(env.nonce, nonce, nonce_len);
    memcpy(env.tag, tag, tag_len);
    uint8_t *out = NULL;
    size_t out_len = 0;
    if (st == TEEU_OK)
        st = tu_envelope_open(k, &env, &out, &out_len);
    if (st == TEEU_OK)
        print_hex(out, out_len);
    tu_free_secret(out, out_len);
    tu_envelope_free(&env);
    free(nonce);
    free(tag);
    teeu_key_free(k);
    return st == TEEU_OK ? 0 : fail(st);
}

static int cmd_hash(int argc, char **argv, bool hmac)
{
    if (hmac && argc < 3)
        return usage();
    size_t key_len = 0, n;
    uint8_t *key = hmac ? unhex(argv[2], &key_len) : NULL;
    tu_bytes *parts = parts_from(argc, argv, hmac ? 3 : 2, &n);
    uint8_t md[TU_SHA256_LEN];
    teeu_status st = hmac ? tu_hmac_sha256_sep(key, key_len, parts, n, md) : tu_sha256_sep(parts, n, md);
    if (st == TEEU_OK)
        print_hex(md, sizeof md);
    parts_free(parts, n);
    free(key);
    return st == TEEU_OK ? 0 : fail(st);
}

/* Streams a file through the streaming AEAD, one segment in memory at a time. */
static int cmd_stream(int argc, char **argv, bool open)
{
    if (argc != (open ? 6 : 7))
        return usage();
    size_t key_len, aad_len;
    uint8_t *key = unhex(argv[2], &key_len);
    uint8_t *aad = unhex(argv[3], &aad_len);
    if (key_len != TU_STREAM_KEY_LEN) {
        fprintf(stderr, "stream key must be 32 bytes\n");
        return 2;
    }
    size_t seg = open ? 0 : strtoul(argv[4], NULL, 10);
    FILE *in = fopen(argv[open ? 4 : 5], "rb");
    FILE *out = fopen(argv[open ? 5 : 6], "wb");
    if (in == NULL || out == NULL) {
        fprintf(stderr, "cannot open input or output file\n");
        return 2;
    }
    uint8_t header[TU_STREAM_HEADER_LEN];
    tu_stream *s = NULL;
    teeu_status st;
    if (open) {
        st = fread(header, 1, sizeof header, in) == sizeof header
                 ? tu_stream_open_init(key, aad, aad_len, header, &s)
                 : tu_error(TEEU_ERR_STREAM_TRUNCATED, "input shorter than a stream header");
    } else {
        st = tu_stream_seal_init(key, aad, aad_len, seg, header, &s);
        if (st == TEEU_OK)
            fwrite(header, 1, sizeof header, out);
    }
    size_t seg_size = st == TEEU_OK ? tu_stream_segment_size(s) : 0;
    /* Read one unit ahead so the last one is known to be final. */
    size_t unit = open ? seg_size + TU_GCM_TAG_LEN : seg_size;
    uint8_t *cur = malloc(unit + TU_GCM_TAG_LEN + 1);
    uint8_t *next = malloc(unit + TU_GCM_TAG_LEN + 1);
    uint8_t *dst = malloc(unit + TU_GCM_TAG_LEN + 1);
    size_t cur_len = st == TEEU_OK ? fread(cur, 1, unit, in) : 0;
    while (st == TEEU_OK) {
        size_t next_len = cur_len == unit ? fread(next, 1, unit, in) : 0;
        bool final = next_len == 0;
        if (open) {
            st = tu_stream_open_segment(s, cur, cur_len, final, dst);
            if (st == TEEU_OK)
                fwrite(dst, 1, cur_len - TU_GCM_TAG_LEN, out);
        } else {
            st = tu_stream_seal_segment(s, cur, cur_len, final, dst);
            if (st == TEEU_OK)
                fwrite(dst, 1, cur_len + TU_GCM_TAG_LEN, out);
        }
        if (final)
            break;
        uint8_t *t = cur;
        cur = next;
        next = t;
        cur_len = next_len;
    }
    if (st == TEEU_OK)
        st = tu_stream_finish(s);
    tu_stream_free(s);
    free(cur);
    free(next);
    free(dst);
    fclose(in);
    fclose(out);
    free(key);
    free(aad);
    return st == TEEU_OK ? 0 : fail(st);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    const char *c = argv[1];
    if (strcmp(c, "genkey") == 0) return cmd_genkey(argc, argv);
    if (strcmp(c, "owner-id") == 0) return cmd_owner_id(argc, argv);
    if (strcmp(c, "load-private") == 0) return cmd_load_private(argc, argv);
    if (strcmp(c, "sign") == 0) return cmd_sign(argc, argv);
    if (strcmp(c, "verify") == 0) return cmd_verify(argc, argv);
    if (strcmp(c, "oaep-enc") == 0) return cmd_oaep(argc, argv, false);
    if (strcmp(c, "oaep-dec") == 0) return cmd_oaep(argc, argv, true);
    if (strcmp(c, "gcm-seal") == 0) return cmd_gcm(argc, argv, false);
    if (strcmp(c, "gcm-open") == 0) return cmd_gcm(argc, argv, true);
    if (strcmp(c, "env-seal") == 0) return cmd_env_seal(argc, argv);
    if (strcmp(c, "env-open") == 0) return cmd_env_open(argc, argv);
    if (strcmp(c, "sha256-sep") == 0) return cmd_hash(argc, argv, false);
    if (strcmp(c, "hmac-sep") == 0) return cmd_hash(argc, argv, true);
    if (strcmp(c, "stream-seal") == 0) return cmd_stream(argc, argv, false);
    if (strcmp(c, "stream-open") == 0) return cmd_stream(argc, argv, true);
    return usage();
}
