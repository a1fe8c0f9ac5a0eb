/*
 * Bridges between the protobuf-c messages of SecretFlow's unified
 * attestation (sdc.proto) and the attest layer, for the services and the
 * client: UnifiedAttestationReport in and out, and a
 * UnifiedAttestationPolicy (any of its main_attributes may match).
 */
#include <stdlib.h>
#include <string.h>

#include "attest_internal.h"

static void tu_pb_free_str(char **s)
{
    if (*s != NULL && *s != protobuf_c_empty_string)
        free(*s);
    *s = (char *)protobuf_c_empty_string;
}

void tu_ua_report_pb_clear(Secretflowapis__V1__Sdc__UnifiedAttestationReport *m)
{
    if (m == NULL)
        return;
    tu_pb_free_str(&m->str_report_version);
    tu_pb_free_str(&m->str_report_type);
    tu_pb_free_str(&m->str_tee_platform);
    tu_pb_free_str(&m->json_report);
    tu_pb_free_str(&m->json_nested_reports);
}

teeu_status tu_ua_report_to_pb(const uint8_t *quote, size_t quote_len, const char *collateral_json,
                               Secretflowapis__V1__Sdc__UnifiedAttestationReport *m)
{
    secretflowapis__v1__sdc__unified_attestation_report__init(m);
    char *json_report = NULL;
    teeu_status st = tu_ua_json_report_make(quote, quote_len, collateral_json, &json_report);
    if (st != TEEU_OK)
        return st;
    m->json_report = json_report;
    m->str_report_version = tu_strdup("1.0");
    m->str_report_type = tu_strdup(collateral_json != NULL ? "Passport" : "BackgroundCheck");
    m->str_tee_platform = tu_strdup("SGX_DCAP");
    if (m->str_report_version == NULL || m->str_report_type == NULL || m->str_tee_platform == NULL) {
        if (m->str_report_version == NULL) m->str_report_version = (char *)protobuf_c_empty_string;
        if (m->str_report_type == NULL) m->str_report_type = (char *)protobuf_c_empty_string;
        if (m->str_tee_platform == NULL) m->str_tee_platform = (char *)protobuf_c_empty_string;
        tu_ua_report_pb_clear(m);
        return tu_error(TEEU_ERR_NOMEM, "out of memory for the attestation report");
    }
    return TEEU_OK;
}

teeu_status tu_ua_report_from_pb(const Secretflowapis__V1__Sdc__UnifiedAttestationReport *m,
                                 tu_ua_report *out)
{
    if (m == NULL || m->json_report == NULL)
        return tu_error(TEEU_ERR_COLLATERAL_FORMAT, "unified attestation report is missing");
    return tu_ua_report_parse_fields(m->str_report_version, m->str_report_type,
                                     m->str_tee_platform, m->json_report, strlen(m->json_report),
                                     out);
}

teeu_status tu_ua_policy_from_pb(const Secretflowapis__V1__Sdc__UnifiedAttestationAttributes *a,
                                 uint8_t storage[128], teeu_attest_policy *p)
{
    if (a->str_tee_platform != NULL && a->str_tee_platform[0] != '\0' &&
        strcmp(a->str_tee_platform, "SGX_DCAP") != 0)
        return tu_error(TEEU_ERR_UNSUPPORTED, "policy for platform \"%.32s\": only SGX_DCAP is checked",
                        a->str_tee_platform);
    tu_ua_attributes attrs = {
        .hex_ta_measurement = a->hex_ta_measurement,
        .hex_signer = a->hex_signer,
        .hex_prod_id = a->hex_prod_id,
        .str_min_isvsvn = a->str_min_isvsvn,
        .bool_debug_disabled = a->bool_debug_disabled,
        .hex_user_data = a->hex_user_data,
    };
    return tu_ua_attributes_to_policy(&attrs, storage, p);
}

teeu_status tu_ua_policy_check_any(const tu_verdict *v,
                                   const Secretflowapis__V1__Sdc__UnifiedAttestationPolicy *policy)
{
    if (policy == NULL || policy->n_main_attributes == 0)
        return tu_error(TEEU_ERR_CONFIG, "unified attestation policy has no main_attributes");
    teeu_status st = TEEU_ERR_POLICY;
    for (size_t i = 0; i < policy->n_main_attributes; i++) {
        uint8_t storage[128];
        teeu_attest_policy p;
        st = tu_ua_policy_from_pb(policy->main_attributes[i], storage, &p);
        if (st == TEEU_OK)
            st = tu_policy_check(v, &p);
        if (st == TEEU_OK)
            return TEEU_OK;
    }
    /* The message of the last attempt says why it failed. */
    return policy->n_main_attributes == 1
               ? st
               : tu_error_context(st, "none of the %zu policy attribute sets matches; last",
                                  policy->n_main_attributes);
}
