/* Collateral in the JSON form of docs/DCAP.md: parse, build from parts, serialize. */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "attest_internal.h"

#define TU_COLLATERAL_MAX_JSON ((size_t)8 << 20)

void teeu_collateral_free(teeu_collateral *c)
{
    if (c == NULL)
        return;
    sk_X509_pop_free(c->pck_crl_chain, X509_free);
    sk_X509_pop_free(c->tcb_info_chain, X509_free);
    sk_X509_pop_free(c->qe_identity_chain, X509_free);
    X509_CRL_free(c->root_crl);
    X509_CRL_free(c->pck_crl);
    free(c->tcb_info);
    free(c->qe_identity);
    free(c->pck_crl_chain_pem);
    free(c->tcb_info_chain_pem);
    free(c->qe_identity_chain_pem);
    free(c->root_crl_der);
    free(c->pck_crl_der);
    free(c);
}

static teeu_status tu_sig_hex(const char *hex, size_t len, const char *what, uint8_t sig[64])
{
    if (hex == NULL || len != 128 || tu_hex_decode_to(hex, len, sig, 64) != TEEU_OK)
        return tu_error(TEEU_ERR_COLLATERAL_FORMAT,
                        "collateral: %s must be 128 hex digits (raw r||s), got %zu characters",
                        what, hex == NULL ? 0 : len);
    return TEEU_OK;
}

static teeu_status tu_crl_keep(const uint8_t *data, size_t len, const char *what, X509_CRL **crl,
                               uint8_t **der, size_t *der_len)
{
    teeu_status st = tu_crl_parse(data, len, what, crl);
    if (st != TEEU_OK)
        return st;
    unsigned char *p = NULL;
    int n = i2d_X509_CRL(*crl, &p);
    if (n <= 0)
        return tu_error(TEEU_ERR_CRYPTO, "%s: cannot re-encode the CRL", what);
    *der = tu_memdup(p, (size_t)n);
    *der_len = (size_t)n;
    OPENSSL_free(p);
    return *der != NULL ? TEEU_OK : tu_error(TEEU_ERR_NOMEM, "out of memory");
}

static teeu_status tu_chain_keep(const char *pem, size_t len, const char *what,
                                 STACK_OF(X509) **chain, char **copy)
{
    teeu_status st = tu_pem_chain_parse(pem, len, what, chain);
    if (st != TEEU_OK)
        return tu_error_context(TEEU_ERR_COLLATERAL_FORMAT, "collateral");
    *copy = tu_memdup(pem, len);
    return *copy != NULL ? TEEU_OK : tu_error(TEEU_ERR_NOMEM, "out of memory");
}

teeu_status tu_collateral_from_parts(const tu_collateral_parts *pp, teeu_collateral **out)
{
    *out = NULL;
    teeu_collateral *c = calloc(1, sizeof *c);
    if (c == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory for collateral");
    teeu_status st =
        tu_chain_keep(pp->pck_crl_chain, pp->pck_crl_chain_len, "pck_crl_issuer_chain",
                      &c->pck_crl_chain, &c->pck_crl_chain_pem);
    if (st == TEEU_OK)
        st = tu_chain_keep(pp->tcb_info_chain, pp->tcb_info_chain_len, "tcb_info_issuer_chain",
                           &c->tcb_info_chain, &c->tcb_info_chain_pem);
    if (st == TEEU_OK)
        st = tu_chain_keep(pp->qe_identity_chain, pp->qe_identity_chain_len,
                           "qe_identity_issuer_chain", &c->qe_identity_chain,
                           &c->qe_identity_chain_pem);
    if (st == TEEU_OK)
        st = tu_crl_keep(pp->root_crl, pp->root_crl_len, "collateral: root_ca_crl", &c->root_crl,
                         &c->root_crl_der, &c->root_crl_der_len);
    if (st == TEEU_OK)
        st = tu_crl_keep(pp->pck_crl, pp->pck_crl_len, "collateral: pck_crl", &c->pck_crl,
                         &c->pck_crl_der, &c->pck_crl_der_len);
    if (st == TEEU_OK)
        st = tu_sig_hex(pp->tcb_info_sig_hex, pp->tcb_info_sig_hex_len, "tcb_info_signature",
                        c->tcb_info_sig);
    if (st == TEEU_OK)
        st = tu_sig_hex(pp->qe_identity_sig_hex, pp->qe_identity_sig_hex_len,
                        "qe_identity_signature", c->qe_identity_sig);
    if (st == TEEU_OK && (pp->tcb_info == NULL || pp->tcb_info_len == 0 ||
                          pp->qe_identity == NULL || pp->qe_identity_len == 0))
        st = tu_error(TEEU_ERR_COLLATERAL_FORMAT, "collateral: tcb_info or qe_identity is empty");
    if (st == TEEU_OK) {
        c->tcb_info = tu_memdup(pp->tcb_info, pp->tcb_info_len);
        c->tcb_info_len = pp->tcb_info_len;
        c->qe_identity = tu_memdup(pp->qe_identity, pp->qe_identity_len);
        c->qe_identity_len = pp->qe_identity_len;
        if (c->tcb_info == NULL || c->qe_identity == NULL)
            st = tu_error(TEEU_ERR_NOMEM, "out of memory for collateral");
    }
    if (st != TEEU_OK) {
        teeu_collateral_free(c);
        return st;
    }
    *out = c;
    return TEEU_OK;
}

/* Length without trailing NULs (Intel's C structs count the terminator). */
static size_t tu_trim_nul(const char *s, size_t len)
{
    while (len > 0 && s[len - 1] == '\0')
        len--;
    return len;
}

/*
 * SecretFlow's (kubetee) SgxQlQveCollateral JSON: str_-prefixed members;
 * str_tcb_info / str_qe_identity hold the whole PCCS answers
 * ({"tcbInfo":{...},"signature":"..."}), whose signed bodies are cut out.
 */
static teeu_status tu_collateral_parse_kubetee(const tu_json *root, teeu_collateral **out)
{
    static const char *const keys[] = {"str_pck_crl_issuer_chain", "str_root_ca_crl", "str_pck_crl",
                                       "str_tcb_info_issuer_chain", "str_tcb_info",
                                       "str_qe_identity_issuer_chain", "str_qe_identity"};
    const char *v[7];
    size_t l[7];
    for (size_t i = 0; i < 7; i++) {
        if (tu_json_get_string(root, keys[i], "collateral", &v[i], &l[i]) != TEEU_OK)
            return tu_error_context(TEEU_ERR_COLLATERAL_FORMAT, "collateral JSON");
        l[i] = tu_trim_nul(v[i], l[i]);
    }
    char *tcb = NULL, *tcb_sig = NULL, *qe = NULL, *qe_sig = NULL;
    size_t tcb_len = 0, qe_len = 0;
    teeu_status st = tu_json_cut_member(v[4], l[4], "tcbInfo", &tcb, &tcb_len, &tcb_sig);
    if (st == TEEU_OK) {
        st = tu_json_cut_member(v[6], l[6], "enclaveIdentity", &qe, &qe_len, &qe_sig);
        if (st != TEEU_OK)
            st = tu_json_cut_member(v[6], l[6], "qeIdentity", &qe, &qe_len, &qe_sig);
    }
    if (st == TEEU_OK) {
        tu_collateral_parts parts = {
            .pck_crl_chain = v[0], .pck_crl_chain_len = l[0],
            .root_crl = (const uint8_t *)v[1], .root_crl_len = l[1],
            .pck_crl = (const uint8_t *)v[2], .pck_crl_len = l[2],
            .tcb_info_chain = v[3], .tcb_info_chain_len = l[3],
            .tcb_info = tcb, .tcb_info_len = tcb_len,
            .tcb_info_sig_hex = tcb_sig, .tcb_info_sig_hex_len = strlen(tcb_sig),
            .qe_identity_chain = v[5], .qe_identity_chain_len = l[5],
            .qe_identity = qe, .qe_identity_len = qe_len,
            .qe_identity_sig_hex = qe_sig, .qe_identity_sig_hex_len = strlen(qe_sig)};
        st = tu_collateral_from_parts(&parts, out);
    }
    free(tcb);
    free(tcb_sig);
    free(qe);
    free(qe_sig);
    return st;
}

teeu_status teeu_collateral_parse(const char *json, size_t len, teeu_collateral **out)
{
    if (out == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_collateral_parse: out is NULL");
    *out = NULL;
    if (json == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_collateral_parse: json is NULL");
    tu_json_limits lim = {.max_input = TU_COLLATERAL_MAX_JSON, .max_depth = 8, .max_nodes = 256};
    tu_json *root;
    teeu_status st = tu_json_parse(json, len, &lim, &root);
    if (st != TEEU_OK)
        return tu_error_context(TEEU_ERR_COLLATERAL_FORMAT, "collateral");
    if (tu_json_get(root, "tcb_info") == NULL && tu_json_get(root, "str_tcb_info") != NULL) {
        st = tu_collateral_parse_kubetee(root, out);
        tu_json_free(root);
        return st;
    }
    static const char *const keys[] = {
        "pck_crl_issuer_chain", "root_ca_crl", "pck_crl", "tcb_info_issuer_chain", "tcb_info",
        "tcb_info_signature", "qe_identity_issuer_chain", "qe_identity", "qe_identity_signature"};
    const char *v[9];
    size_t l[9];
    for (size_t i = 0; i < 9; i++) {
        if (tu_json_get_string(root, keys[i], "collateral", &v[i], &l[i]) != TEEU_OK) {
            tu_json_free(root);
            return tu_error_context(TEEU_ERR_COLLATERAL_FORMAT, "collateral JSON");
        }
    }
    tu_collateral_parts parts = {
        .pck_crl_chain = v[0], .pck_crl_chain_len = l[0],
        .root_crl = (const uint8_t *)v[1], .root_crl_len = l[1],
        .pck_crl = (const uint8_t *)v[2], .pck_crl_len = l[2],
        .tcb_info_chain = v[3], .tcb_info_chain_len = l[3],
        .tcb_info = v[4], .tcb_info_len = l[4],
        .tcb_info_sig_hex = v[5], .tcb_info_sig_hex_len = l[5],
        .qe_identity_chain = v[6], .qe_identity_chain_len = l[6],
        .qe_identity = v[7], .qe_identity_len = l[7],
        .qe_identity_sig_hex = v[8], .qe_identity_sig_hex_len = l[8]};
    st = tu_collateral_from_parts(&parts, out);
    tu_json_free(root);
    return st;
}

static teeu_status tu_json_member(tu_buf *b, bool first, const char *key, const char *val,
                                  size_t len)
{
    teeu_status st = tu_buf_append_str(b, first ? "{" : ",");
    if (st == TEEU_OK)
        st = tu_json_append_string(b, key, strlen(key));
    if (st == TEEU_OK)
        st = tu_buf_append(b, ":", 1);
    if (st == TEEU_OK)
        st = tu_json_append_string(b, val, len);
    return st;
}

teeu_status teeu_collateral_to_json(const teeu_collateral *c, char **json)
{
    if (c == NULL || json == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_collateral_to_json: NULL argument");
    *json = NULL;
    char *root_hex = NULL, *pck_hex = NULL, tcb_sig[129], qe_sig[129];
    teeu_status st = tu_hex_encode(c->root_crl_der, c->root_crl_der_len, false, &root_hex);
    if (st == TEEU_OK)
        st = tu_hex_encode(c->pck_crl_der, c->pck_crl_der_len, false, &pck_hex);
    tu_hex_encode_to(c->tcb_info_sig, 64, false, tcb_sig);
    tu_hex_encode_to(c->qe_identity_sig, 64, false, qe_sig);
    tu_buf b = {0};
    if (st == TEEU_OK)
        st = tu_json_member(&b, true, "pck_crl_issuer_chain", c->pck_crl_chain_pem,
                            strlen(c->pck_crl_chain_pem));
    if (st == TEEU_OK)
        st = tu_json_member(&b, false, "root_ca_crl", root_hex, strlen(root_hex));
    if (st == TEEU_OK)
        st = tu_json_member(&b, false, "pck_crl", pck_hex, strlen(pck_hex));
    if (st == TEEU_OK)
        st = tu_json_member(&b, false, "tcb_info_issuer_chain", c->tcb_info_chain_pem,
                            strlen(c->tcb_info_chain_pem));
    if (st == TEEU_OK)
        st = tu_json_member(&b, false, "tcb_info", c->tcb_info, c->tcb_info_len);
    if (st == TEEU_OK)
        st = tu_json_member(&b, false, "tcb_info_signature", tcb_sig, 128);
    if (st == TEEU_OK)
        st = tu_json_member(&b, false, "qe_identity_issuer_chain", c->qe_identity_chain_pem,
                            strlen(c->qe_identity_chain_pem));
    if (st == TEEU_OK)
        st = tu_json_member(&b, false, "qe_identity", c->qe_identity, c->qe_identity_len);
    if (st == TEEU_OK)
        st = tu_json_member(&b, false, "qe_identity_signature", qe_sig, 128);
    if (st == TEEU_OK)
        st = tu_buf_append(&b, "}", 2); /* includes the NUL */
    free(root_hex);
    free(pck_hex);
    if (st != TEEU_OK) {
        tu_buf_free(&b);
        return st;
    }
    size_t n;
    *json = (char *)tu_buf_release(&b, &n);
    return TEEU_OK;
}
