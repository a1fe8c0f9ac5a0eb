/*
 * Collateral from a PCCS (or Intel's PCS) over HTTPS with libcurl.
 *
 * Paths (API v3/v4): pckcrl?ca=processor|platform&encoding=der, tcb?fmspc=,
 * qe/identity, rootcacrl. Issuer chains come URL-encoded in response
 * headers. The TCB info and QE identity answers wrap the signed body and
 * its signature in one object: the body is cut from the raw response bytes
 * by its span, never re-serialized, because the signature covers exactly
 * those bytes.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "attest_internal.h"

#define TU_PCCS_MAX_BODY ((size_t)4 << 20)
#define TU_PCCS_MAX_HEADER ((size_t)64 << 10)

teeu_status tu_json_cut_member(const char *raw, size_t len, const char *key, char **body,
                               size_t *body_len, char **sig_hex)
{
    *body = NULL;
    *sig_hex = NULL;
    tu_json_limits lim = {.max_input = TU_PCCS_MAX_BODY, .max_depth = 16, .max_nodes = 100000};
    tu_json *root;
    teeu_status st = tu_json_parse(raw, len, &lim, &root);
    if (st != TEEU_OK)
        return tu_error_context(TEEU_ERR_COLLATERAL_FORMAT, "PCCS answer");
    const tu_json *m;
    const char *sig;
    size_t sig_len;
    if (tu_json_get_typed(root, key, "PCCS answer", TU_JSON_OBJECT, &m) != TEEU_OK ||
        tu_json_get_string(root, "signature", "PCCS answer", &sig, &sig_len) != TEEU_OK) {
        tu_json_free(root);
        return tu_error_context(TEEU_ERR_COLLATERAL_FORMAT, "collateral");
    }
    *body = tu_memdup(raw + m->start, m->end - m->start);
    *body_len = m->end - m->start;
    *sig_hex = tu_memdup(sig, sig_len);
    tu_json_free(root);
    if (*body == NULL || *sig_hex == NULL) {
        free(*body);
        free(*sig_hex);
        *body = *sig_hex = NULL;
        return tu_error(TEEU_ERR_NOMEM, "out of memory");
    }
    return TEEU_OK;
}

typedef struct tu_http {
    tu_buf body;
    bool too_large;
    const char *want_header;  /* issuer-chain header names to capture */
    const char *want_header2;
    char *header_value;
} tu_http;

static size_t tu_http_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    tu_http *h = ud;
    size_t n = size * nmemb;
    if (h->body.len + n > TU_PCCS_MAX_BODY) {
        h->too_large = true;
        return 0;
    }
    return tu_buf_append(&h->body, ptr, n) == TEEU_OK ? n : 0;
}

static size_t tu_http_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    tu_http *h = ud;
    size_t n = size * nmemb;
    const char *names[2] = {h->want_header, h->want_header2};
    for (int i = 0; i < 2; i++) {
        const char *name = names[i];
        if (name == NULL)
            continue;
        size_t nl = strlen(name);
        if (n > nl + 1 && n < TU_PCCS_MAX_HEADER && strncasecmp(ptr, name, nl) == 0 && ptr[nl] == ':') {
            size_t b = nl + 1, e = n;
            while (b < e && isspace((unsigned char)ptr[b]))
                b++;
            while (e > b && isspace((unsigned char)ptr[e - 1]))
                e--;
            free(h->header_value);
            h->header_value = tu_memdup(ptr + b, e - b);
        }
    }
    return n;
}

static teeu_status tu_http_get(const char *url, const char *ca_file, tu_http *h)
{
    CURL *c = curl_easy_init();
    if (c == NULL)
        return tu_error(TEEU_ERR_NOMEM, "PCCS: cannot create a curl handle");
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tu_http_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, tu_http_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (ca_file != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    if (h->too_large)
        return tu_error(TEEU_ERR_RESPONSE_TOO_LARGE, "PCCS: %s answered more than %zu bytes", url,
                        TU_PCCS_MAX_BODY);
    if (rc != CURLE_OK)
        return tu_error(rc == CURLE_SSL_CACERT || rc == CURLE_PEER_FAILED_VERIFICATION ||
                                rc == CURLE_SSL_CONNECT_ERROR
                            ? TEEU_ERR_TLS
                            : TEEU_ERR_CONNECT,
                        "PCCS: GET %s failed: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    if (code != 200)
        return tu_error(TEEU_ERR_RPC_UNAVAILABLE, "PCCS: GET %s answered HTTP %ld", url, code);
    return TEEU_OK;
}

static void tu_http_clear(tu_http *h)
{
    tu_buf_free(&h->body);
    free(h->header_value);
    memset(h, 0, sizeof *h);
}

/* URL-decodes a header value into a NUL-terminated string. */
static teeu_status tu_unescape(const char *v, const char *name, char **out, size_t *len)
{
    *out = NULL;
    if (v == NULL)
        return tu_error(TEEU_ERR_COLLATERAL_FORMAT, "PCCS: the answer lacks the %s header", name);
    int n = 0;
    char *d = curl_easy_unescape(NULL, v, 0, &n);
    if (d == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory");
    *out = tu_memdup(d, (size_t)n);
    *len = (size_t)n;
    curl_free(d);
    return *out != NULL ? TEEU_OK : tu_error(TEEU_ERR_NOMEM, "out of memory");
}

static char *tu_url(const char *base, const char *path)
{
    tu_buf b = {0};
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    bool has_api = memmem(base, bl, "/sgx/certification/v", 20) != NULL;
    teeu_status st = tu_buf_append(&b, base, bl);
    if (st == TEEU_OK && !has_api)
        st = tu_buf_append_str(&b, "/sgx/certification/v4");
    if (st == TEEU_OK)
        st = tu_buf_printf(&b, "/%s", path);
    if (st == TEEU_OK)
        st = tu_buf_append(&b, "", 1);
    if (st != TEEU_OK) {
        tu_buf_free(&b);
        return NULL;
    }
    size_t n;
    return (char *)tu_buf_release(&b, &n);
}

/* Trims ASCII whitespace (a hex CRL may end with a newline). */
static void tu_trim(tu_buf *b)
{
    while (b->len > 0 && isspace(b->data[b->len - 1]))
        b->len--;
}

teeu_status teeu_collateral_fetch(const char *base_url, const char *ca_file, const uint8_t *quote,
                                  size_t quote_len, teeu_collateral **out)
{
    if (base_url == NULL || quote == NULL || out == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_collateral_fetch: NULL argument");
    *out = NULL;
    tu_quote q;
    teeu_status st = tu_quote_parse(quote, quote_len, &q);
    if (st != TEEU_OK)
        return st;
    STACK_OF(X509) *chain = NULL;
    if ((st = tu_pem_chain_parse((const char *)q.cert_data, q.cert_data_len,
                                 "PCK certificate chain in the quote", &chain)) != TEEU_OK)
        return st;
    tu_sgx_ext ext;
    char issuer_cn[128] = "";
    st = tu_sgx_ext_from_cert(sk_X509_value(chain, 0), &ext);
    X509_NAME_get_text_by_NID(X509_get_issuer_name(sk_X509_value(chain, 0)), NID_commonName,
                              issuer_cn, sizeof issuer_cn);
    sk_X509_pop_free(chain, X509_free);
    if (st != TEEU_OK)
        return st;
    const char *ca = strstr(issuer_cn, "Platform") != NULL ? "platform" : "processor";
    char fmspc[13], path[96];
    tu_hex_encode_to(ext.fmspc, 6, true, fmspc);

    tu_http pck = {0}, root = {0}, tcb = {0}, qe = {0};
    char *url = NULL, *pck_chain = NULL, *tcb_chain = NULL, *qe_chain = NULL;
    char *tcb_body = NULL, *tcb_sig = NULL, *qe_body = NULL, *qe_sig = NULL;
    size_t pck_chain_len = 0, tcb_chain_len = 0, qe_chain_len = 0, tcb_len = 0, qe_len = 0;

    snprintf(path, sizeof path, "pckcrl?ca=%s&encoding=der", ca);
    pck.want_header = "SGX-PCK-CRL-Issuer-Chain";
    st = (url = tu_url(base_url, path)) != NULL ? tu_http_get(url, ca_file, &pck)
                                                : tu_error(TEEU_ERR_NOMEM, "out of memory");
    free(url);
    if (st == TEEU_OK)
        st = tu_unescape(pck.header_value, pck.want_header, &pck_chain, &pck_chain_len);
    if (st == TEEU_OK) {
        st = (url = tu_url(base_url, "rootcacrl")) != NULL ? tu_http_get(url, ca_file, &root)
                                                           : tu_error(TEEU_ERR_NOMEM, "out of memory");
        free(url);
    }
    if (st == TEEU_OK) {
        snprintf(path, sizeof path, "tcb?fmspc=%s", fmspc);
        tcb.want_header = "TCB-Info-Issuer-Chain";
        tcb.want_header2 = "SGX-TCB-Info-Issuer-Chain";
        st = (url = tu_url(base_url, path)) != NULL ? tu_http_get(url, ca_file, &tcb)
                                                    : tu_error(TEEU_ERR_NOMEM, "out of memory");
        free(url);
    }
    if (st == TEEU_OK)
        st = tu_unescape(tcb.header_value, "TCB-Info-Issuer-Chain", &tcb_chain, &tcb_chain_len);
    if (st == TEEU_OK)
        st = tu_json_cut_member((const char *)tcb.body.data, tcb.body.len, "tcbInfo", &tcb_body,
                                &tcb_len, &tcb_sig);
    if (st == TEEU_OK) {
        qe.want_header = "SGX-Enclave-Identity-Issuer-Chain";
        st = (url = tu_url(base_url, "qe/identity")) != NULL ? tu_http_get(url, ca_file, &qe)
                                                             : tu_error(TEEU_ERR_NOMEM, "out of memory");
        free(url);
    }
    if (st == TEEU_OK)
        st = tu_unescape(qe.header_value, qe.want_header, &qe_chain, &qe_chain_len);
    if (st == TEEU_OK) {
        st = tu_json_cut_member((const char *)qe.body.data, qe.body.len, "enclaveIdentity",
                                &qe_body, &qe_len, &qe_sig);
        if (st == TEEU_OK || strstr(teeu_last_error(), "missing") == NULL) {
            /* done (or a real error) */
        } else {
            st = tu_json_cut_member((const char *)qe.body.data, qe.body.len, "qeIdentity",
                                    &qe_body, &qe_len, &qe_sig);
        }
    }
    if (st == TEEU_OK) {
        tu_trim(&root.body);
        tu_trim(&pck.body);
        tu_collateral_parts parts = {
            .pck_crl_chain = pck_chain, .pck_crl_chain_len = pck_chain_len,
            .root_crl = root.body.data, .root_crl_len = root.body.len,
            .pck_crl = pck.body.data, .pck_crl_len = pck.body.len,
            .tcb_info_chain = tcb_chain, .tcb_info_chain_len = tcb_chain_len,
            .tcb_info = tcb_body, .tcb_info_len = tcb_len,
            .tcb_info_sig_hex = tcb_sig, .tcb_info_sig_hex_len = tcb_sig ? strlen(tcb_sig) : 0,
            .qe_identity_chain = qe_chain, .qe_identity_chain_len = qe_chain_len,
            .qe_identity = qe_body, .qe_identity_len = qe_len,
            .qe_identity_sig_hex = qe_sig, .qe_identity_sig_hex_len = qe_sig ? strlen(qe_sig) : 0};
        st = tu_collateral_from_parts(&parts, out);
        if (st != TEEU_OK)
            st = tu_error_context(st, "PCCS %s", base_url);
    }
    tu_http_clear(&pck);
    tu_http_clear(&root);
    tu_http_clear(&tcb);
    tu_http_clear(&qe);
    free(pck_chain);
    free(tcb_chain);
    free(qe_chain);
    free(tcb_body);
    free(tcb_sig);
    free(qe_body);
    free(qe_sig);
    return st;
}
