/* Base64 (RFC 4648, standard alphabet, padded) and hex, strict on input. */
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"

static const char tu_b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

teeu_status tu_base64_encode(const uint8_t *in, size_t len, char **out)
{
    *out = NULL;
    if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
        return tu_error(TEEU_ERR_OVERFLOW, "base64 input too large");
    size_t out_len = (len + 2) / 3 * 4;
    char *s = malloc(out_len + 1);
    if (s == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory for base64");
    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        s[o++] = tu_b64_alphabet[v >> 18 & 63];
        s[o++] = tu_b64_alphabet[v >> 12 & 63];
        s[o++] = tu_b64_alphabet[v >> 6 & 63];
        s[o++] = tu_b64_alphabet[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        s[o++] = tu_b64_alphabet[v >> 18 & 63];
        s[o++] = tu_b64_alphabet[v >> 12 & 63];
        s[o++] = i + 1 < len ? tu_b64_alphabet[v >> 6 & 63] : '=';
        s[o++] = '=';
    }
    s[o] = '\0';
    *out = s;
    return TEEU_OK;
}

static int tu_b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

teeu_status tu_base64_decode(const char *in, size_t in_len, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (in_len % 4 != 0)
        return tu_error(TEEU_ERR_ENCODING, "base64 length %zu is not a multiple of 4", in_len);
    size_t pad = 0;
    if (in_len >= 1 && in[in_len - 1] == '=') pad++;
    if (in_len >= 2 && in[in_len - 2] == '=') pad++;
    size_t n = in_len / 4 * 3 - pad;
    uint8_t *bytes = malloc(n + 1);
    if (bytes == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory for base64");
    size_t o = 0;
    for (size_t i = 0; i < in_len; i += 4) {
        uint32_t v = 0;
        bool last = i + 4 == in_len;
        for (size_t k = 0; k < 4; k++) {
            int d;
            if (last && in[i + k] == '=' && k >= 4 - pad)
                d = 0;
            else if ((d = tu_b64_value((unsigned char)in[i + k])) < 0) {
                free(bytes);
                return tu_error(TEEU_ERR_ENCODING, "invalid base64 character at offset %zu", i + k);
            }
            v = v << 6 | (uint32_t)d;
        }
        uint8_t chunk[3] = {(uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
        size_t take = last ? 3 - pad : 3;
        /* Non-canonical encodings (stray bits under the padding) are refused. */
        if (last && pad > 0 && (v & ((1u << (8 * pad)) - 1)) != 0) {
            free(bytes);
            return tu_error(TEEU_ERR_ENCODING, "non-canonical base64 padding");
        }
        memcpy(bytes + o, chunk, take);
        o += take;
    }
    bytes[o] = 0;
    *out = bytes;
    *out_len = o;
    return TEEU_OK;
}

void tu_hex_encode_to(const uint8_t *in, size_t len, bool upper, char *out)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

teeu_status tu_hex_encode(const uint8_t *in, size_t len, bool upper, char **out)
{
    *out = NULL;
    if (len > (SIZE_MAX - 1) / 2)
        return tu_error(TEEU_ERR_OVERFLOW, "hex input too large");
    char *s = malloc(2 * len + 1);
    if (s == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory for hex");
    tu_hex_encode_to(in, len, upper, s);
    *out = s;
    return TEEU_OK;
}

static int tu_hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

teeu_status tu_hex_decode_to(const char *in, size_t in_len, uint8_t *out, size_t out_len)
{
    if (in_len != 2 * out_len)
        return tu_error(TEEU_ERR_ENCODING, "expected %zu hex digits, got %zu", 2 * out_len, in_len);
    for (size_t i = 0; i < out_len; i++) {
        int hi = tu_hex_value((unsigned char)in[2 * i]);
        int lo = tu_hex_value((unsigned char)in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return tu_error(TEEU_ERR_ENCODING, "invalid hex digit near offset %zu", 2 * i);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return TEEU_OK;
}

teeu_status tu_hex_decode(const char *in, size_t in_len, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (in_len % 2 != 0)
        return tu_error(TEEU_ERR_ENCODING, "hex string has odd length %zu", in_len);
    uint8_t *bytes = malloc(in_len / 2 + 1);
    if (bytes == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory for hex");
    teeu_status st = tu_hex_decode_to(in, in_len, bytes, in_len / 2);
    if (st != TEEU_OK) {
        free(bytes);
        return st;
    }
    bytes[in_len / 2] = 0;
    *out = bytes;
    *out_len = in_len / 2;
    return TEEU_OK;
}
