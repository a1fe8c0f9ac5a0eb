/* SGX ECDSA quote v3 parsing: pure, bounds-checked, no allocation. */
#include <string.h>

#include "attest_internal.h"

static uint16_t tu_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t tu_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t tu_le64(const uint8_t *p)
{
    return (uint64_t)tu_le32(p) | (uint64_t)tu_le32(p + 4) << 32;
}

void tu_report_body_parse(const uint8_t raw[TU_REPORT_BODY_LEN], tu_report_body *out)
{
    out->raw = raw;
    memcpy(out->cpu_svn, raw, 16);
    out->misc_select = tu_le32(raw + 16);
    memcpy(out->attributes, raw + 48, 16);
    out->flags = tu_le64(raw + 48);
    memcpy(out->mr_enclave, raw + 64, 32);
    memcpy(out->mr_signer, raw + 128, 32);
    out->isv_prod_id = tu_le16(raw + 256);
    out->isv_svn = tu_le16(raw + 258);
    memcpy(out->report_data, raw + 320, 64);
}

/* A cursor over the signature data; every take is checked against the end. */
typedef struct tu_cursor {
    const uint8_t *p;
    size_t left;
} tu_cursor;

static bool tu_take(tu_cursor *c, size_t n, const uint8_t **out)
{
    if (c->left < n)
        return false;
    *out = c->p;
    c->p += n;
    c->left -= n;
    return true;
}

teeu_status tu_quote_parse(const uint8_t *q, size_t len, tu_quote *out)
{
    memset(out, 0, sizeof *out);
    if (q == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "quote: NULL buffer");
    if (len > TU_QUOTE_MAX_LEN)
        return tu_error(TEEU_ERR_QUOTE_FORMAT, "quote: %zu bytes exceeds the %zu-byte limit",
                        len, TU_QUOTE_MAX_LEN);
    if (len < TU_QUOTE_SIGNED_LEN + 4)
        return tu_error(TEEU_ERR_QUOTE_FORMAT,
                        "quote: truncated, %zu bytes is shorter than the 436-byte header and report",
                        len);
    out->raw = q;
    out->raw_len = len;
    out->version = tu_le16(q);
    out->att_key_type = tu_le16(q + 2);
    out->tee_type = tu_le32(q + 4);
    out->qe_svn = tu_le16(q + 8);
    out->pce_svn = tu_le16(q + 10);
    if (out->version != 3)
        return tu_error(TEEU_ERR_QUOTE_FORMAT, "quote: version %u, only version 3 is supported",
                        out->version);
    if (out->att_key_type != 2)
        return tu_error(TEEU_ERR_QUOTE_FORMAT,
                        "quote: attestation key type %u, only 2 (ECDSA P-256) is supported",
                        out->att_key_type);
    if (out->tee_type != 0)
        return tu_error(TEEU_ERR_QUOTE_FORMAT, "quote: TEE type 0x%x is not SGX (0)",
                        (unsigned)out->tee_type);
    tu_report_body_parse(q + TU_QUOTE_HEADER_LEN, &out->isv);

    uint32_t sig_len = tu_le32(q + TU_QUOTE_SIGNED_LEN);
    size_t avail = len - TU_QUOTE_SIGNED_LEN - 4;
    if (sig_len > avail)
        return tu_error(TEEU_ERR_QUOTE_FORMAT,
                        "quote: truncated, signature data length %u but only %zu bytes follow",
                        (unsigned)sig_len, avail);
    if (sig_len < avail)
        return tu_error(TEEU_ERR_QUOTE_FORMAT,
                        "quote: %zu unexpected bytes after the signature data", avail - sig_len);
    tu_cursor c = {q + TU_QUOTE_SIGNED_LEN + 4, sig_len};
    const uint8_t *qe_raw;
    const uint8_t *p;
    if (!tu_take(&c, TU_ECDSA_SIG_LEN, &out->isv_sig) || !tu_take(&c, TU_ECDSA_PUB_LEN, &out->att_key) ||
        !tu_take(&c, TU_REPORT_BODY_LEN, &qe_raw) || !tu_take(&c, TU_ECDSA_SIG_LEN, &out->qe_sig))
        return tu_error(TEEU_ERR_QUOTE_FORMAT,
                        "quote: signature data of %u bytes is too short for the signatures and QE report",
                        (unsigned)sig_len);
    tu_report_body_parse(qe_raw, &out->qe);
    if (!tu_take(&c, 2, &p))
        return tu_error(TEEU_ERR_QUOTE_FORMAT, "quote: truncated before the QE auth data length");
    out->qe_auth_len = tu_le16(p);
    if (!tu_take(&c, out->qe_auth_len, &out->qe_auth))
        return tu_error(TEEU_ERR_QUOTE_FORMAT, "quote: QE auth data of %zu bytes is truncated",
                        out->qe_auth_len);
    if (!tu_take(&c, 6, &p))
        return tu_error(TEEU_ERR_QUOTE_FORMAT, "quote: truncated before the certification data header");
    out->cert_type = tu_le16(p);
    uint32_t cert_len = tu_le32(p + 2);
    if (!tu_take(&c, cert_len, &out->cert_data))
        return tu_error(TEEU_ERR_QUOTE_FORMAT,
                        "quote: certification data length %u exceeds the %zu bytes left",
                        (unsigned)cert_len, c.left);
    out->cert_data_len = cert_len;
    if (c.left != 0)
        return tu_error(TEEU_ERR_QUOTE_FORMAT,
                        "quote: %zu unexpected bytes after the certification data", c.left);
    if (out->cert_type != TU_CERT_TYPE_PCK_CHAIN)
        return tu_error(TEEU_ERR_QUOTE_FORMAT,
                        "quote: certification data type %u, only 5 (PCK certificate chain) is supported",
                        out->cert_type);
    return TEEU_OK;
}
