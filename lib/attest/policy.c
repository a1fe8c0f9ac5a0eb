/* Step 10 (policy) and the public verification API. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "attest_internal.h"

void teeu_attest_policy_init(teeu_attest_policy *p)
{
    if (p == NULL)
        return;
    memset(p, 0, sizeof *p);
    p->isv_prod_id = -1;
    p->min_isv_svn = -1;
    p->accepted_statuses = TEEU_TCB_DEFAULT_ACCEPTED;
}

void teeu_attest_options_init(teeu_attest_options *o)
{
    if (o != NULL)
        memset(o, 0, sizeof *o);
}

static void tu_hex32(const uint8_t *b, char out[65])
{
    tu_hex_encode_to(b, 32, true, out);
}

teeu_status tu_policy_check(const tu_verdict *v, const teeu_attest_policy *p)
{
    teeu_attest_policy defaults;
    if (p == NULL) {
        teeu_attest_policy_init(&defaults);
        p = &defaults;
    }
    char a[65], b[65];
    if ((v->platform_status_bit & p->accepted_statuses) == 0)
        return tu_error(TEEU_ERR_TCB_STATUS,
                        "policy: platform TCB status %s is not accepted (Revoked and OutOfDate are "
                        "refused unless the policy accepts them)",
                        v->platform_status);
    if ((v->qe_status_bit & p->accepted_statuses) == 0)
        return tu_error(TEEU_ERR_TCB_STATUS, "policy: quoting enclave TCB status %s is not accepted",
                        v->qe_status);
    if (p->mr_enclave != NULL && CRYPTO_memcmp(p->mr_enclave, v->mr_enclave, 32) != 0) {
        tu_hex32(v->mr_enclave, a);
        tu_hex32(p->mr_enclave, b);
        return tu_error(TEEU_ERR_POLICY, "policy: MRENCLAVE %s is not the expected %s", a, b);
    }
    if (p->mr_signer != NULL && CRYPTO_memcmp(p->mr_signer, v->mr_signer, 32) != 0) {
        tu_hex32(v->mr_signer, a);
        tu_hex32(p->mr_signer, b);
        return tu_error(TEEU_ERR_POLICY, "policy: MRSIGNER %s is not the expected %s", a, b);
    }
    if (p->isv_prod_id >= 0 && v->isv_prod_id != p->isv_prod_id)
        return tu_error(TEEU_ERR_POLICY, "policy: isv_prod_id %u is not the expected %d",
                        v->isv_prod_id, (int)p->isv_prod_id);
    if (p->min_isv_svn >= 0 && v->isv_svn < p->min_isv_svn)
        return tu_error(TEEU_ERR_POLICY, "policy: isv_svn %u is below the minimum %d", v->isv_svn,
                        (int)p->min_isv_svn);
    if (v->debug && !p->allow_debug)
        return tu_error(TEEU_ERR_POLICY,
                        "policy: the enclave runs in DEBUG mode (its memory is readable by the host); "
                        "debug enclaves are refused");
    if (p->report_data != NULL) {
        if (p->report_data_len == 0 || p->report_data_len > 64)
            return tu_error(TEEU_ERR_INVALID_ARGUMENT,
                            "policy: expected report_data must be 1..64 bytes, got %zu",
                            p->report_data_len);
        if (CRYPTO_memcmp(p->report_data, v->report_data, p->report_data_len) != 0)
            return tu_error(TEEU_ERR_REPORT_DATA,
                            "policy: report_data does not start with the expected %zu-byte binding: "
                            "the quote is not bound to this key/session",
                            p->report_data_len);
    }
    return TEEU_OK;
}

static teeu_status tu_result_from(const tu_verdict *v, teeu_attest_result **out)
{
    teeu_attest_result *r = calloc(1, sizeof *r);
    if (r == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory for the attestation result");
    r->v = *v;
    *out = r;
    return TEEU_OK;
}

teeu_status teeu_attest_verify_quote(const uint8_t *quote, size_t quote_len,
                                     const teeu_collateral *collateral,
                                     const teeu_attest_options *options,
                                     const teeu_attest_policy *policy, teeu_attest_result **result)
{
    if (result == NULL || quote == NULL || collateral == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT,
                        "teeu_attest_verify_quote: quote, collateral and result are required");
    *result = NULL;
    tu_verifier v;
    teeu_status st = tu_verifier_init(&v, options);
    if (st != TEEU_OK) {
        tu_verifier_clear(&v);
        return st;
    }
    tu_verdict verdict;
    st = tu_dcap_verify(&v, quote, quote_len, collateral, &verdict);
    tu_verifier_clear(&v);
    if (st != TEEU_OK)
        return st;
    teeu_status pst = tu_policy_check(&verdict, policy);
    /* Hand over the identity even on a policy refusal; keep its message. */
    st = tu_result_from(&verdict, result);
    return st != TEEU_OK ? st : pst;
}

const char *teeu_attest_result_platform_status(const teeu_attest_result *r)
{
    return r != NULL ? r->v.platform_status : "";
}

const char *teeu_attest_result_qe_status(const teeu_attest_result *r)
{
    return r != NULL ? r->v.qe_status : "";
}

size_t teeu_attest_result_advisory_count(const teeu_attest_result *r)
{
    return r != NULL ? r->v.advisory_count : 0;
}

const char *teeu_attest_result_advisory(const teeu_attest_result *r, size_t i)
{
    return r != NULL && i < r->v.advisory_count ? r->v.advisories[i] : NULL;
}

const uint8_t *teeu_attest_result_mr_enclave(const teeu_attest_result *r)
{
    return r != NULL ? r->v.mr_enclave : NULL;
}

const uint8_t *teeu_attest_result_mr_signer(const teeu_attest_result *r)
{
    return r != NULL ? r->v.mr_signer : NULL;
}

const uint8_t *teeu_attest_result_report_data(const teeu_attest_result *r)
{
    return r != NULL ? r->v.report_data : NULL;
}

uint16_t teeu_attest_result_isv_prod_id(const teeu_attest_result *r)
{
    return r != NULL ? r->v.isv_prod_id : 0;
}

uint16_t teeu_attest_result_isv_svn(const teeu_attest_result *r)
{
    return r != NULL ? r->v.isv_svn : 0;
}

bool teeu_attest_result_debug(const teeu_attest_result *r)
{
    return r != NULL && r->v.debug;
}

bool teeu_attest_result_simulated(const teeu_attest_result *r)
{
    return r != NULL && r->v.simulated;
}

void teeu_attest_result_free(teeu_attest_result *r)
{
    free(r);
}
