/*
 * SecretFlow's UnifiedAttestationReport (JSON form) for SGX DCAP:
 * {"str_report_version":"1.0","str_report_type":"Passport"|"BackgroundCheck",
 *  "str_tee_platform":"SGX_DCAP","json_report":"<JSON string>"}, where
 * json_report is {"b64_quote":..., "json_collateral":"<collateral JSON>"}.
 */
#include <stdlib.h>
#include <string.h>

#include "attest_internal.h"

#define TU_UA_MAX_JSON ((size_t)16 << 20)

teeu_status tu_ua_json_report_make(const uint8_t *quote, size_t quote_len,
                                  const char *collateral_json, char **out)
{
    *out = NULL;
    char *b64 = NULL;
    tu_buf inner = {0};
    teeu_status st = tu_base64_encode(quote, quote_len, &b64);
    if (st == TEEU_OK)
        st = tu_buf_append_str(&inner, "{\"b64_quote\":\"");
    if (st == TEEU_OK)
        st = tu_buf_append_str(&inner, b64);
    if (st == TEEU_OK)
        st = tu_buf_append_str(&inner, "\"");
    if (st == TEEU_OK && collateral_json != NULL) {
        st = tu_buf_append_str(&inner, ",\"json_collateral\":");
        if (st == TEEU_OK)
            st = tu_json_append_string(&inner, collateral_json, strlen(collateral_json));
    }
    if (st == TEEU_OK)
        st = tu_buf_append(&inner, "}", 2); /* with the NUL */
    free(b64);
    if (st != TEEU_OK) {
        tu_buf_free(&inner);
        return st;
    }
    size_t n;
    *out = (char *)tu_buf_release(&inner, &n);
    return TEEU_OK;
}

teeu_status tu_ua_report_make(const uint8_t *quote, size_t quote_len, const char *collateral_json,
                              char **out)
{
    *out = NULL;
    char *inner = NULL;
    tu_buf outer = {0};
    teeu_status st = tu_ua_json_report_make(quote, quote_len, collateral_json, &inner);
    if (st == TEEU_OK)
        st = tu_buf_printf(&outer,
                           "{\"str_report_version\":\"1.0\",\"str_report_type\":\"%s\","
                           "\"str_tee_platform\":\"SGX_DCAP\",\"json_report\":",
                           collateral_json != NULL ? "Passport" : "BackgroundCheck");
    if (st == TEEU_OK)
        st = tu_json_append_string(&outer, inner, strlen(inner));
    if (st == TEEU_OK)
        st = tu_buf_append(&outer, "}", 2); /* with the NUL */
    free(inner);
    if (st != TEEU_OK) {
        tu_buf_free(&outer);
        return st;
    }
    size_t n;
    *out = (char *)tu_buf_release(&outer, &n);
    return TEEU_OK;
}

void tu_ua_report_clear(tu_ua_report *r)
{
    if (r == NULL)
        return;
    free(r->quote);
    free(r->collateral_json);
    memset(r, 0, sizeof *r);
}

static teeu_status tu_ua_bad(const char *what)
{
    return tu_error(TEEU_ERR_COLLATERAL_FORMAT, "unified attestation report: %s", what);
}

teeu_status tu_ua_report_parse_fields(const char *version, const char *type, const char *platform,
                                     const char *json_report, size_t json_report_len,
                                     tu_ua_report *out)
{
    memset(out, 0, sizeof *out);
    if (version == NULL || type == NULL || platform == NULL || json_report == NULL)
        return tu_ua_bad("a field is missing");
    if (strcmp(version, "1.0") != 0)
        return tu_ua_bad("str_report_version is not \"1.0\"");
    if (strcmp(platform, "SGX_DCAP") != 0)
        return tu_error(TEEU_ERR_UNSUPPORTED,
                        "unified attestation report: platform \"%.32s\" is not supported (only SGX_DCAP)",
                        platform);
    bool passport = strcmp(type, "Passport") == 0;
    if (!passport && strcmp(type, "BackgroundCheck") != 0)
        return tu_ua_bad("str_report_type is neither \"Passport\" nor \"BackgroundCheck\"");
    snprintf(out->report_type, sizeof out->report_type, "%s", type);
    tu_json_limits lim = {.max_input = TU_UA_MAX_JSON, .max_depth = 8, .max_nodes = 1000};
    tu_json *inner = NULL;
    const char *b64;
    size_t b64_len;
    teeu_status st = tu_json_parse(json_report, json_report_len, &lim, &inner);
    if (st != TEEU_OK) {
        st = tu_error_context(TEEU_ERR_COLLATERAL_FORMAT, "unified attestation report json_report");
        goto out;
    }
    if (tu_json_get_string(inner, "b64_quote", "json_report", &b64, &b64_len) != TEEU_OK) {
        st = tu_error_context(TEEU_ERR_COLLATERAL_FORMAT, "unified attestation report");
        goto out;
    }
    if (tu_base64_decode(b64, b64_len, &out->quote, &out->quote_len) != TEEU_OK) {
        st = tu_error_context(TEEU_ERR_QUOTE_FORMAT, "unified attestation report b64_quote");
        goto out;
    }
    const tu_json *coll = tu_json_get(inner, "json_collateral");
    if (coll != NULL && coll->type == TU_JSON_STRING && coll->str_len > 0) {
        out->collateral_json = tu_memdup(coll->str, coll->str_len);
        out->collateral_json_len = coll->str_len;
        if (out->collateral_json == NULL)
            st = tu_error(TEEU_ERR_NOMEM, "out of memory");
    } else if (coll != NULL && coll->type != TU_JSON_STRING) {
        st = tu_ua_bad("json_collateral is not a JSON string");
    } else if (passport) {
        st = tu_ua_bad("a Passport report must carry json_collateral");
    }
out:
    tu_json_free(inner);
    if (st != TEEU_OK)
        tu_ua_report_clear(out);
    return st;
}

teeu_status tu_ua_report_parse(const char *json, size_t len, tu_ua_report *out)
{
    memset(out, 0, sizeof *out);
    tu_json_limits lim = {.max_input = TU_UA_MAX_JSON, .max_depth = 8, .max_nodes = 1000};
    tu_json *root = NULL;
    teeu_status st = tu_json_parse(json, len, &lim, &root);
    if (st != TEEU_OK)
        return tu_error_context(TEEU_ERR_COLLATERAL_FORMAT, "unified attestation report");
    const char *ver, *type, *plat, *rep;
    size_t rep_len;
    const char *w = "unified attestation report";
    if (tu_json_get_string(root, "str_report_version", w, &ver, NULL) != TEEU_OK ||
        tu_json_get_string(root, "str_report_type", w, &type, NULL) != TEEU_OK ||
        tu_json_get_string(root, "str_tee_platform", w, &plat, NULL) != TEEU_OK ||
        tu_json_get_string(root, "json_report", w, &rep, &rep_len) != TEEU_OK)
        st = tu_error_context(TEEU_ERR_COLLATERAL_FORMAT, "report");
    else
        st = tu_ua_report_parse_fields(ver, type, plat, rep, rep_len, out);
    tu_json_free(root);
    return st;
}

static bool tu_opt(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static teeu_status tu_attr_hex(const char *name, const char *hex, uint8_t *out, size_t n,
                               size_t *got)
{
    size_t l = strlen(hex);
    if (l % 2 != 0 || l == 0 || l / 2 > n || (got == NULL && l / 2 != n) ||
        tu_hex_decode_to(hex, l, out, l / 2) != TEEU_OK)
        return tu_error(TEEU_ERR_CONFIG, "policy attribute %s must be %s%zu hex digits", name,
                        got != NULL ? "up to " : "", 2 * n);
    if (got != NULL)
        *got = l / 2;
    return TEEU_OK;
}

teeu_status tu_ua_attributes_to_policy(const tu_ua_attributes *a, uint8_t storage[128],
                                       teeu_attest_policy *p)
{
    teeu_attest_policy_init(p);
    teeu_status st;
    if (tu_opt(a->hex_ta_measurement)) {
        if ((st = tu_attr_hex("hex_ta_measurement", a->hex_ta_measurement, storage, 32, NULL)) != TEEU_OK)
            return st;
        p->mr_enclave = storage;
    }
    if (tu_opt(a->hex_signer)) {
        if ((st = tu_attr_hex("hex_signer", a->hex_signer, storage + 32, 32, NULL)) != TEEU_OK)
            return st;
        p->mr_signer = storage + 32;
    }
    if (tu_opt(a->hex_user_data)) {
        if ((st = tu_attr_hex("hex_user_data", a->hex_user_data, storage + 64, 64,
                              &p->report_data_len)) != TEEU_OK)
            return st;
        p->report_data = storage + 64;
    }
    if (tu_opt(a->hex_prod_id)) {
        /* SecretFlow writes the product id as hex digits of the number. */
        char *end;
        unsigned long v = strtoul(a->hex_prod_id, &end, 16);
        if (*end != '\0' || v > 65535)
            return tu_error(TEEU_ERR_CONFIG, "policy attribute hex_prod_id is not a hex number <= FFFF");
        p->isv_prod_id = (int32_t)v;
    }
    if (tu_opt(a->str_min_isvsvn)) {
        char *end;
        unsigned long v = strtoul(a->str_min_isvsvn, &end, 10);
        if (*end != '\0' || v > 65535)
            return tu_error(TEEU_ERR_CONFIG, "policy attribute str_min_isvsvn is not a number <= 65535");
        p->min_isv_svn = (int32_t)v;
    }
    if (tu_opt(a->bool_debug_disabled)) {
        const char *d = a->bool_debug_disabled;
        if (strcmp(d, "true") == 0 || strcmp(d, "1") == 0)
            p->allow_debug = false;
        else if (strcmp(d, "false") == 0 || strcmp(d, "0") == 0)
            p->allow_debug = true;
        else
            return tu_error(TEEU_ERR_CONFIG, "policy attribute bool_debug_disabled must be true or false");
    }
    return TEEU_OK;
}

teeu_status teeu_attest_verify_ua_report(const char *report_json, size_t len,
                                         const teeu_collateral *collateral,
                                         const teeu_attest_options *options,
                                         const teeu_attest_policy *policy,
                                         teeu_attest_result **result)
{
    if (report_json == NULL || result == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_attest_verify_ua_report: NULL argument");
    *result = NULL;
    tu_ua_report r;
    teeu_status st = tu_ua_report_parse(report_json, len, &r);
    if (st != TEEU_OK)
        return st;
    teeu_collateral *own = NULL;
    if (collateral == NULL) {
        if (r.collateral_json == NULL) {
            tu_ua_report_clear(&r);
            return tu_error(TEEU_ERR_CONFIG,
                            "BackgroundCheck report without collateral: fetch collateral and pass it");
        }
        st = teeu_collateral_parse(r.collateral_json, r.collateral_json_len, &own);
        collateral = own;
    }
    if (st == TEEU_OK)
        st = teeu_attest_verify_quote(r.quote, r.quote_len, collateral, options, policy, result);
    teeu_collateral_free(own);
    tu_ua_report_clear(&r);
    return st;
}
