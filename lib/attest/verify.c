/*
 * DCAP quote verification, in the order of docs/DCAP.md "Verification":
 * 1 PCK chain, 2 CRLs, 3 QE report signature, 4 attestation key binding,
 * 5 ISV report signature, 6 TCB info, 7 TCB level, 8 QE identity, 9 verdict.
 * Step 10 (policy) is tu_policy_check in policy.c.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "attest_internal.h"

/* ---- the verifier: one trust anchor, one time ------------------------------ */

teeu_status tu_verifier_init(tu_verifier *v, const teeu_attest_options *o)
{
    memset(v, 0, sizeof *v);
    teeu_attest_options defaults;
    if (o == NULL) {
        teeu_attest_options_init(&defaults);
        o = &defaults;
    }
    v->time = o->verify_time != 0 ? o->verify_time : (int64_t)time(NULL);
    if (o->sim_root_pem != NULL) {
        if (!o->simulation)
            return tu_error(TEEU_ERR_SIMULATION_ONLY,
                            "a simulation root CA was given but simulation is off: only the pinned "
                            "Intel SGX Root CA is trusted outside tee_simulation");
        size_t len = o->sim_root_pem_len != 0 ? o->sim_root_pem_len : strlen(o->sim_root_pem);
        teeu_status st = tu_pem_cert_parse(o->sim_root_pem, len, "simulation root CA", &v->root);
        if (st != TEEU_OK)
            return st;
        if (X509_check_issued(v->root, v->root) != X509_V_OK) {
            ERR_clear_error();
            return tu_error(TEEU_ERR_CERT_CHAIN, "the simulation root CA is not self-signed");
        }
        v->simulated = true;
    } else {
        teeu_status st = tu_intel_root_ca(&v->root);
        if (st != TEEU_OK)
            return st;
    }
    v->store = X509_STORE_new();
    if (v->store == NULL || X509_STORE_add_cert(v->store, v->root) != 1) {
        ERR_clear_error();
        return tu_error(TEEU_ERR_CRYPTO, "cannot set up the certificate store for the trusted root");
    }
    return TEEU_OK;
}

void tu_verifier_clear(tu_verifier *v)
{
    X509_STORE_free(v->store);
    X509_free(v->root);
    v->store = NULL;
    v->root = NULL;
}

static const char *tu_root_name(const tu_verifier *v)
{
    return v->simulated ? "the simulation root CA" : "the pinned Intel SGX Root CA";
}

/* ---- step 1 and the collateral chains ------------------------------------- */

/*
 * Verifies `given` (leaf first) up to the verifier's root at its time. The
 * root carried in `given`, if any, must be that very root: a chain that
 * ends anywhere else is refused, whatever it claims. *leaf and *issuer are
 * borrowed from `given`/the root.
 */
static teeu_status tu_chain_verify(const tu_verifier *v, STACK_OF(X509) *given, const char *what,
                                   X509 **leaf, X509 **issuer)
{
    int n = sk_X509_num(given);
    if (n < 2)
        return tu_error(TEEU_ERR_CERT_CHAIN, "%s: a chain needs at least a leaf and its issuer",
                        what);
    X509 *last = sk_X509_value(given, n - 1);
    char cn[128];
    if (X509_check_issued(last, last) == X509_V_OK && X509_cmp(last, v->root) != 0) {
        tu_cert_cn(last, cn, sizeof cn);
        ERR_clear_error();
        if (!v->simulated && strstr(cn, "Simulation") != NULL)
            return tu_error(TEEU_ERR_SIMULATION_ONLY,
                            "%s: chain ends at the simulation root '%s': simulation quotes are "
                            "accepted only with tee_simulation on and the simulation root given",
                            what, cn);
        return tu_error(TEEU_ERR_CERT_CHAIN, "%s: chain ends at root '%s', which is not %s", what,
                        cn, tu_root_name(v));
    }
    ERR_clear_error();
    teeu_status st = TEEU_OK;
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (ctx == NULL || X509_STORE_CTX_init(ctx, v->store, sk_X509_value(given, 0), given) != 1) {
        st = tu_error(TEEU_ERR_CRYPTO, "%s: cannot set up certificate verification", what);
        goto out;
    }
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), (time_t)v->time);
    if (X509_verify_cert(ctx) != 1) {
        int err = X509_STORE_CTX_get_error(ctx);
        int depth = X509_STORE_CTX_get_error_depth(ctx);
        tu_cert_cn(X509_STORE_CTX_get_current_cert(ctx), cn, sizeof cn);
        char at[32];
        tu_rfc3339_format(v->time, at);
        if (err == X509_V_ERR_CERT_NOT_YET_VALID || err == X509_V_ERR_CERT_HAS_EXPIRED)
            st = tu_error(TEEU_ERR_CERT_EXPIRED,
                          "%s: certificate '%s' (depth %d) is not valid at the verification time %s (%s)",
                          what, cn, depth, at, X509_verify_cert_error_string(err));
        else
            st = tu_error(TEEU_ERR_CERT_CHAIN,
                          "%s: certificate '%s' (depth %d) does not chain to %s: %s", what, cn,
                          depth, tu_root_name(v), X509_verify_cert_error_string(err));
        goto out;
    }
    STACK_OF(X509) *built = X509_STORE_CTX_get0_chain(ctx);
    if (sk_X509_num(built) < 2 || X509_cmp(sk_X509_value(built, sk_X509_num(built) - 1), v->root) != 0) {
        st = tu_error(TEEU_ERR_CERT_CHAIN, "%s: chain does not end at %s", what, tu_root_name(v));
        goto out;
    }
    /* The leaf's issuer as OpenSSL built it (either from given or the root). */
    X509 *iss = sk_X509_value(built, 1);
    *leaf = sk_X509_value(given, 0);
    *issuer = iss == v->root ? v->root : NULL;
    for (int i = 0; i < n && *issuer == NULL; i++)
        if (X509_cmp(sk_X509_value(given, i), iss) == 0)
            *issuer = sk_X509_value(given, i);
    if (*issuer == NULL)
        st = tu_error(TEEU_ERR_INTERNAL_BUG, "%s: issuer lost after verification", what);
out:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    return st;
}

/* ---- step 2: CRLs ------------------------------------------------------------ */

/*
 * Checks that subject is not on crl. The CRL itself (issuer, signature,
 * validity window) is checked once per verification: *validated caches it.
 */
static teeu_status tu_crl_check(const tu_verifier *v, X509_CRL *crl, X509 *issuer, X509 *subject,
                                const char *crl_name, const char *subject_name, bool *validated)
{
    char a[128], b[128], at[32], when[32];
    if (*validated)
        goto lookup;
    tu_rfc3339_format(v->time, at);
    if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0) {
        X509_NAME_get_text_by_NID(X509_CRL_get_issuer(crl), NID_commonName, a, sizeof a);
        tu_cert_cn(issuer, b, sizeof b);
        ERR_clear_error();
        return tu_error(TEEU_ERR_COLLATERAL_SIGNATURE,
                        "%s is issued by '%s', but the %s is issued by '%s'", crl_name, a,
                        subject_name, b);
    }
    if (X509_CRL_verify(crl, X509_get0_pubkey(issuer)) != 1) {
        ERR_clear_error();
        return tu_error(TEEU_ERR_COLLATERAL_SIGNATURE, "%s signature does not verify", crl_name);
    }
    int64_t this_update, next_update;
    if (!tu_asn1_time_to_unix(X509_CRL_get0_lastUpdate(crl), &this_update) ||
        !tu_asn1_time_to_unix(X509_CRL_get0_nextUpdate(crl), &next_update))
        return tu_error(TEEU_ERR_COLLATERAL_FORMAT, "%s lacks a valid thisUpdate/nextUpdate",
                        crl_name);
    if (this_update > v->time) {
        tu_rfc3339_format(this_update, when);
        return tu_error(TEEU_ERR_COLLATERAL_EXPIRED,
                        "collateral not yet valid: %s thisUpdate %s is after verification time %s",
                        crl_name, when, at);
    }
    if (next_update < v->time) {
        tu_rfc3339_format(next_update, when);
        return tu_error(TEEU_ERR_COLLATERAL_EXPIRED,
                        "collateral expired: %s nextUpdate %s is before verification time %s; "
                        "fetch fresh collateral",
                        crl_name, when, at);
    }
    *validated = true;
lookup:;
    X509_REVOKED *rev = NULL;
    if (X509_CRL_get0_by_serial(crl, &rev, X509_get0_serialNumber(subject)) == 1) {
        tu_cert_cn(subject, a, sizeof a);
        return tu_error(TEEU_ERR_REVOKED, "%s '%s' is revoked: its serial is on the %s",
                        subject_name, a, crl_name);
    }
    ERR_clear_error();
    return TEEU_OK;
}

/* ---- signed JSON collateral (steps 6 and 8) ------------------------------- */

/* What one verification has already established, so nothing is checked twice. */
typedef struct tu_vstate {
    bool root_crl_ok;            /* root CA CRL issuer, signature and window checked */
    bool pck_crl_ok;
    X509 *signer_ok;             /* a collateral signing certificate already verified */
} tu_vstate;

static teeu_status tu_signed_json(const tu_verifier *v, const teeu_collateral *c, tu_vstate *vs,
                                  STACK_OF(X509) *chain, const char *body, size_t body_len,
                                  const uint8_t sig[64], const char *what, tu_json **out)
{
    X509 *leaf, *issuer;
    *out = NULL;
    char chain_name[96];
    snprintf(chain_name, sizeof chain_name, "%s issuer chain", what);
    teeu_status st;
    leaf = sk_X509_num(chain) > 0 ? sk_X509_value(chain, 0) : NULL;
    /* TCB info and QE identity usually share their signer: verify it once. */
    if (leaf == NULL || vs->signer_ok == NULL || X509_cmp(leaf, vs->signer_ok) != 0) {
        st = tu_chain_verify(v, chain, chain_name, &leaf, &issuer);
        if (st != TEEU_OK)
            return st;
        if (issuer == v->root) {
            st = tu_crl_check(v, c->root_crl, v->root, leaf, "root CA CRL", chain_name,
                              &vs->root_crl_ok);
            if (st != TEEU_OK)
                return st;
        }
        vs->signer_ok = leaf;
    }
    int ok = tu_ecdsa_verify_raw(X509_get0_pubkey(leaf), sig, (const uint8_t *)body, body_len);
    if (ok != 1)
        return tu_error(TEEU_ERR_COLLATERAL_SIGNATURE,
                        "%s signature does not verify over its body with the signing certificate",
                        what);
    tu_json_limits lim = {.max_input = (size_t)4 << 20, .max_depth = 16, .max_nodes = 100000};
    st = tu_json_parse(body, body_len, &lim, out);
    if (st != TEEU_OK)
        return tu_error_context(TEEU_ERR_COLLATERAL_FORMAT, "%s", what);
    return TEEU_OK;
}

static teeu_status tu_json_window(const tu_verifier *v, const tu_json *doc, const char *what)
{
    const char *issue, *next;
    size_t il, nl;
    int64_t ti, tn;
    if (tu_json_get_string(doc, "issueDate", what, &issue, &il) != TEEU_OK ||
        tu_json_get_string(doc, "nextUpdate", what, &next, &nl) != TEEU_OK)
        return tu_error_context(TEEU_ERR_COLLATERAL_FORMAT, "collateral");
    if (!tu_rfc3339_parse(issue, il, &ti) || !tu_rfc3339_parse(next, nl, &tn))
        return tu_error(TEEU_ERR_COLLATERAL_FORMAT, "%s: issueDate/nextUpdate is not an RFC 3339 time",
                        what);
    char at[32];
    tu_rfc3339_format(v->time, at);
    if (ti > v->time)
        return tu_error(TEEU_ERR_COLLATERAL_EXPIRED,
                        "collateral not yet valid: %s issueDate %s is after verification time %s",
                        what, issue, at);
    if (tn < v->time)
        return tu_error(TEEU_ERR_COLLATERAL_EXPIRED,
                        "collateral expired: %s nextUpdate %s is before verification time %s; "
                        "fetch fresh collateral",
                        what, next, at);
    return TEEU_OK;
}

uint32_t tu_tcb_status_bit(const char *s)
{
    static const char *const names[] = {"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded",
                                        "ConfigurationAndSWHardeningNeeded", "OutOfDate",
                                        "OutOfDateConfigurationNeeded", "Revoked"};
    for (size_t i = 0; s != NULL && i < TU_ARRAY_LEN(names); i++)
        if (strcmp(s, names[i]) == 0)
            return 1u << i;
    return 0;
}

static teeu_status tu_add_advisories(tu_verdict *out, const tu_json *level, const char *what)
{
    const tu_json *ids = tu_json_get(level, "advisoryIDs");
    if (ids == NULL)
        return TEEU_OK;
    if (ids->type != TU_JSON_ARRAY)
        return tu_error(TEEU_ERR_COLLATERAL_FORMAT, "%s: advisoryIDs is not an array", what);
    for (const tu_json *id = ids->child; id != NULL; id = id->next) {
        if (id->type != TU_JSON_STRING || id->str_len == 0 || id->str_len >= 32)
            return tu_error(TEEU_ERR_COLLATERAL_FORMAT,
                            "%s: an advisory ID is not a string of 1..31 characters", what);
        bool dup = false;
        for (size_t i = 0; i < out->advisory_count && !dup; i++)
            dup = strcmp(out->advisories[i], id->str) == 0;
        if (dup)
            continue;
        if (out->advisory_count == TU_MAX_ADVISORIES)
            return tu_error(TEEU_ERR_COLLATERAL_FORMAT, "%s: more than %d advisory IDs", what,
                            TU_MAX_ADVISORIES);
        memcpy(out->advisories[out->advisory_count++], id->str, id->str_len + 1);
    }
    return TEEU_OK;
}

static teeu_status tu_level_status(const tu_json *level, const char *what, char dst[48],
                                   uint32_t *bit)
{
    const char *s;
    size_t l;
    if (tu_json_get_string(level, "tcbStatus", what, &s, &l) != TEEU_OK)
        return tu_error_context(TEEU_ERR_COLLATERAL_FORMAT, "collateral");
    *bit = tu_tcb_status_bit(s);
    if (*bit == 0)
        return tu_error(TEEU_ERR_TCB_STATUS, "%s: unknown tcbStatus \"%.40s\"", what, s);
    memcpy(dst, s, l + 1);
    return TEEU_OK;
}

/* Reads the 16 component SVNs and PCESVN of a TCB level (TCB info v2 or v3). */
static teeu_status tu_level_svns(const tu_json *tcb, int version, uint32_t svn[16], uint32_t *pcesvn)
{
    const char *what = "TCB info level";
    int64_t v;
    if (version >= 3) {
        const tu_json *comps;
        if (tu_json_get_typed(tcb, "sgxtcbcomponents", what, TU_JSON_ARRAY, &comps) != TEEU_OK)
            return tu_error_context(TEEU_ERR_COLLATERAL_FORMAT, "collateral");
        if (comps->count != 16)
            return tu_error(TEEU_ERR_COLLATERAL_FORMAT,
                            "TCB info level: sgxtcbcomponents has %zu entries, expected 16",
                            comps->count);
        size_t i = 0;
        for (const tu_json *e = comps->child; e != NULL; e = e->next, i++) {
            if (tu_json_get_int(e, "svn", what, 0, 255, &v) != TEEU_OK)
                return tu_error_context(TEEU_ERR_COLLATERAL_FORMAT, "collateral");
            svn[i] = (uint32_t)v;
        }
    } else {
        for (int i = 0; i < 16; i++) {
            char key[24];
            snprintf(key, sizeof key, "sgxtcbcomp%02dsvn", i + 1);
            if (tu_json_get_int(tcb, key, what, 0, 255, &v) != TEEU_OK)
                return tu_error_context(TEEU_ERR_COLLATERAL_FORMAT, "collateral");
            svn[i] = (uint32_t)v;
        }
    }
    if (tu_json_get_int(tcb, "pcesvn", what, 0, 65535, &v) != TEEU_OK)
        return tu_error_context(TEEU_ERR_COLLATERAL_FORMAT, "collateral");
    *pcesvn = (uint32_t)v;
    return TEEU_OK;
}

static teeu_status tu_hex_field(const tu_json *doc, const char *key, const char *what, uint8_t *out,
                                size_t n)
{
    const char *s;
    size_t l;
    if (tu_json_get_string(doc, key, what, &s, &l) != TEEU_OK)
        return tu_error_context(TEEU_ERR_COLLATERAL_FORMAT, "collateral");
    if (l != 2 * n || tu_hex_decode_to(s, l, out, n) != TEEU_OK)
        return tu_error(TEEU_ERR_COLLATERAL_FORMAT, "%s: %s must be %zu hex digits", what, key,
                        2 * n);
    return TEEU_OK;
}

/* Steps 6-7: TCB info and the platform's TCB level. */
static teeu_status tu_check_tcb_info(const tu_verifier *v, const teeu_collateral *c, tu_vstate *vs,
                                     const tu_sgx_ext *ext, tu_verdict *out)
{
    const char *what = "TCB info";
    tu_json *doc;
    teeu_status st = tu_signed_json(v, c, vs, c->tcb_info_chain, c->tcb_info, c->tcb_info_len,
                                    c->tcb_info_sig, what, &doc);
    if (st != TEEU_OK)
        return st;
    int64_t version;
    uint8_t fmspc[6], pce_id[2];
    const tu_json *id = tu_json_get(doc, "id");
    const tu_json *levels;
    if (tu_json_get_int(doc, "version", what, 2, 3, &version) != TEEU_OK) {
        st = tu_error_context(TEEU_ERR_COLLATERAL_FORMAT, "collateral");
        goto out;
    }
    if (id != NULL && (id->type != TU_JSON_STRING || strcmp(id->str, "SGX") != 0)) {
        st = tu_error(TEEU_ERR_COLLATERAL_FORMAT, "TCB info: id is not \"SGX\" (TDX collateral?)");
        goto out;
    }
    if ((st = tu_json_window(v, doc, what)) != TEEU_OK ||
        (st = tu_hex_field(doc, "fmspc", what, fmspc, 6)) != TEEU_OK ||
        (st = tu_hex_field(doc, "pceId", what, pce_id, 2)) != TEEU_OK)
        goto out;
    if (memcmp(fmspc, ext->fmspc, 6) != 0 || memcmp(pce_id, ext->pce_id, 2) != 0) {
        char a[13], b[13], p1[5], p2[5];
        tu_hex_encode_to(fmspc, 6, true, a);
        tu_hex_encode_to(ext->fmspc, 6, true, b);
        tu_hex_encode_to(pce_id, 2, true, p1);
        tu_hex_encode_to(ext->pce_id, 2, true, p2);
        st = tu_error(TEEU_ERR_TCB_STATUS,
                      "TCB info is for FMSPC %s / PCE-ID %s but the PCK certificate has FMSPC %s / "
                      "PCE-ID %s: wrong collateral for this platform",
                      a, p1, b, p2);
        goto out;
    }
    memcpy(out->fmspc, fmspc, 6);
    if (tu_json_get_typed(doc, "tcbLevels", what, TU_JSON_ARRAY, &levels) != TEEU_OK) {
        st = tu_error_context(TEEU_ERR_COLLATERAL_FORMAT, "collateral");
        goto out;
    }
    for (const tu_json *lv = levels->child; lv != NULL; lv = lv->next) {
        const tu_json *tcb;
        uint32_t svn[16] = {0}, pcesvn = 0;
        if (tu_json_get_typed(lv, "tcb", "TCB info level", TU_JSON_OBJECT, &tcb) != TEEU_OK) {
            st = tu_error_context(TEEU_ERR_COLLATERAL_FORMAT, "collateral");
            goto out;
        }
        if ((st = tu_level_svns(tcb, (int)version, svn, &pcesvn)) != TEEU_OK)
            goto out;
        bool match = pcesvn <= ext->pce_svn;
        for (int i = 0; i < 16 && match; i++)
            match = svn[i] <= ext->comp_svn[i];
        if (!match)
            continue;
        if ((st = tu_level_status(lv, "TCB info level", out->platform_status,
                                  &out->platform_status_bit)) != TEEU_OK)
            goto out;
        st = tu_add_advisories(out, lv, "TCB info level");
        goto out;
    }
    st = tu_error(TEEU_ERR_TCB_STATUS,
                  "no TCB level of the TCB info matches the PCK certificate's TCB (PCESVN %u): the "
                  "platform is below every level Intel lists",
                  ext->pce_svn);
out:
    tu_json_free(doc);
    return st;
}

/* Step 8: QE identity. */
static teeu_status tu_check_qe_identity(const tu_verifier *v, const teeu_collateral *c,
                                        tu_vstate *vs, const tu_report_body *qe, tu_verdict *out)
{
    const char *what = "QE identity";
    tu_json *doc;
    teeu_status st = tu_signed_json(v, c, vs, c->qe_identity_chain, c->qe_identity,
                                    c->qe_identity_len, c->qe_identity_sig, what, &doc);
    if (st != TEEU_OK)
        return st;
    const tu_json *id = tu_json_get(doc, "id");
    const tu_json *levels;
    int64_t prod_id;
    uint8_t mrsigner[32], misc[4], misc_mask[4], attr[16], attr_mask[16];
    if (id != NULL && (id->type != TU_JSON_STRING || strcmp(id->str, "QE") != 0)) {
        st = tu_error(TEEU_ERR_COLLATERAL_FORMAT, "QE identity: id is not \"QE\"");
        goto out;
    }
    if ((st = tu_json_window(v, doc, what)) != TEEU_OK ||
        (st = tu_hex_field(doc, "mrsigner", what, mrsigner, 32)) != TEEU_OK ||
        (st = tu_hex_field(doc, "miscselect", what, misc, 4)) != TEEU_OK ||
        (st = tu_hex_field(doc, "miscselectMask", what, misc_mask, 4)) != TEEU_OK ||
        (st = tu_hex_field(doc, "attributes", what, attr, 16)) != TEEU_OK ||
        (st = tu_hex_field(doc, "attributesMask", what, attr_mask, 16)) != TEEU_OK)
        goto out;
    if (tu_json_get_int(doc, "isvprodid", what, 0, 65535, &prod_id) != TEEU_OK ||
        tu_json_get_typed(doc, "tcbLevels", what, TU_JSON_ARRAY, &levels) != TEEU_OK) {
        st = tu_error_context(TEEU_ERR_COLLATERAL_FORMAT, "collateral");
        goto out;
    }
    if (memcmp(mrsigner, qe->mr_signer, 32) != 0) {
        st = tu_error(TEEU_ERR_QE_IDENTITY,
                      "QE report MRSIGNER differs from the QE identity's: not Intel's quoting enclave");
        goto out;
    }
    if (qe->isv_prod_id != prod_id) {
        st = tu_error(TEEU_ERR_QE_IDENTITY, "QE report isv_prod_id %u differs from the QE identity's %lld",
                      qe->isv_prod_id, (long long)prod_id);
        goto out;
    }
    /*
     * The hex strings are the bytes of the u32 as they sit in the report
     * (little-endian), as Intel's verifier reads them; same for attributes.
     */
    uint32_t want_misc = (uint32_t)misc[0] | (uint32_t)misc[1] << 8 | (uint32_t)misc[2] << 16 |
                         (uint32_t)misc[3] << 24;
    uint32_t mask = (uint32_t)misc_mask[0] | (uint32_t)misc_mask[1] << 8 |
                    (uint32_t)misc_mask[2] << 16 | (uint32_t)misc_mask[3] << 24;
    if ((qe->misc_select & mask) != want_misc) {
        st = tu_error(TEEU_ERR_QE_IDENTITY, "QE report misc_select 0x%08x & mask 0x%08x != 0x%08x",
                      (unsigned)qe->misc_select, (unsigned)mask, (unsigned)want_misc);
        goto out;
    }
    for (int i = 0; i < 16; i++) {
        if ((qe->attributes[i] & attr_mask[i]) != attr[i]) {
            st = tu_error(TEEU_ERR_QE_IDENTITY,
                          "QE report attributes & attributesMask differ from the QE identity's "
                          "(byte %d)", i);
            goto out;
        }
    }
    for (const tu_json *lv = levels->child; lv != NULL; lv = lv->next) {
        const tu_json *tcb;
        int64_t isvsvn;
        if (tu_json_get_typed(lv, "tcb", "QE identity level", TU_JSON_OBJECT, &tcb) != TEEU_OK ||
            tu_json_get_int(tcb, "isvsvn", "QE identity level", 0, 65535, &isvsvn) != TEEU_OK) {
            st = tu_error_context(TEEU_ERR_COLLATERAL_FORMAT, "collateral");
            goto out;
        }
        if (isvsvn > qe->isv_svn)
            continue;
        if ((st = tu_level_status(lv, "QE identity level", out->qe_status, &out->qe_status_bit)) !=
            TEEU_OK)
            goto out;
        st = tu_add_advisories(out, lv, "QE identity level");
        goto out;
    }
    st = tu_error(TEEU_ERR_QE_IDENTITY, "QE isv_svn %u is below every level of the QE identity",
                  qe->isv_svn);
out:
    tu_json_free(doc);
    return st;
}

static int tu_cmp_adv(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

teeu_status tu_dcap_verify(const tu_verifier *v, const uint8_t *quote, size_t len,
                           const teeu_collateral *c, tu_verdict *out)
{
    memset(out, 0, sizeof *out);
    if (v == NULL || v->root == NULL || v->store == NULL || c == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "quote verification: no verifier or collateral");
    tu_quote q;
    teeu_status st = tu_quote_parse(quote, len, &q);
    if (st != TEEU_OK)
        return st;

    /* 1. PCK chain from the quote, to the trusted root. */
    STACK_OF(X509) *pck_chain = NULL;
    st = tu_pem_chain_parse((const char *)q.cert_data, q.cert_data_len,
                            "PCK certificate chain in the quote", &pck_chain);
    if (st != TEEU_OK)
        return st;
    X509 *pck, *pck_ca, *crl_leaf, *crl_iss;
    tu_sgx_ext ext;
    tu_vstate vs = {0};
    if ((st = tu_chain_verify(v, pck_chain, "PCK certificate chain", &pck, &pck_ca)) != TEEU_OK)
        goto out;
    /* The PCK CRL issuer chain: already verified when it is the PCK CA itself. */
    if (sk_X509_num(c->pck_crl_chain) == 0 || X509_cmp(sk_X509_value(c->pck_crl_chain, 0), pck_ca) != 0) {
        if ((st = tu_chain_verify(v, c->pck_crl_chain, "PCK CRL issuer chain", &crl_leaf, &crl_iss)) !=
            TEEU_OK)
            goto out;
    }
    if (pck_ca == v->root) {
        st = tu_error(TEEU_ERR_CERT_CHAIN, "PCK certificate chain: the PCK certificate must be "
                                           "issued by a PCK CA, not by the root directly");
        goto out;
    }
    /* 2. Revocation: intermediate on the root CRL, leaf on the PCK CRL. */
    if ((st = tu_crl_check(v, c->root_crl, v->root, pck_ca, "root CA CRL", "PCK CA certificate",
                           &vs.root_crl_ok)) != TEEU_OK ||
        (st = tu_crl_check(v, c->pck_crl, pck_ca, pck, "PCK CRL", "PCK certificate",
                           &vs.pck_crl_ok)) != TEEU_OK)
        goto out;
    if ((st = tu_sgx_ext_from_cert(pck, &ext)) != TEEU_OK)
        goto out;

    /* 3. The QE report is signed by the PCK key. */
    if (tu_ecdsa_verify_raw(X509_get0_pubkey(pck), q.qe_sig, q.qe.raw, TU_REPORT_BODY_LEN) != 1) {
        st = tu_error(TEEU_ERR_QUOTE_SIGNATURE,
                      "QE report signature does not verify with the PCK certificate's key");
        goto out;
    }
    /* 4. The QE report binds the attestation key and the QE auth data. */
    uint8_t h[32];
    unsigned h_len = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int md_ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
                EVP_DigestUpdate(md, q.att_key, TU_ECDSA_PUB_LEN) == 1 &&
                EVP_DigestUpdate(md, q.qe_auth, q.qe_auth_len) == 1 &&
                EVP_DigestFinal_ex(md, h, &h_len) == 1;
    EVP_MD_CTX_free(md);
    if (!md_ok) {
        st = tu_error(TEEU_ERR_CRYPTO, "SHA-256 failed");
        goto out;
    }
    static const uint8_t zeros[32];
    if (memcmp(h, q.qe.report_data, 32) != 0 || memcmp(q.qe.report_data + 32, zeros, 32) != 0) {
        st = tu_error(TEEU_ERR_QUOTE_SIGNATURE,
                      "QE report_data does not bind the attestation key and QE auth data "
                      "(SHA-256(key || auth data) || zeros)");
        goto out;
    }
    /* 5. The ISV report (with the header) is signed by the attestation key. */
    EVP_PKEY *att = NULL;
    if ((st = tu_ec_pub_from_raw(q.att_key, &att)) != TEEU_OK)
        goto out;
    int ok = tu_ecdsa_verify_raw(att, q.isv_sig, quote, TU_QUOTE_SIGNED_LEN);
    EVP_PKEY_free(att);
    if (ok != 1) {
        st = tu_error(TEEU_ERR_QUOTE_SIGNATURE,
                      "ISV enclave report signature does not verify with the attestation key");
        goto out;
    }
    /* 6-7. TCB info and level; 8. QE identity. */
    if ((st = tu_check_tcb_info(v, c, &vs, &ext, out)) != TEEU_OK ||
        (st = tu_check_qe_identity(v, c, &vs, &q.qe, out)) != TEEU_OK)
        goto out;

    /* 9. Verdict. */
    qsort(out->advisories, out->advisory_count, sizeof out->advisories[0], tu_cmp_adv);
    memcpy(out->mr_enclave, q.isv.mr_enclave, 32);
    memcpy(out->mr_signer, q.isv.mr_signer, 32);
    out->isv_prod_id = q.isv.isv_prod_id;
    out->isv_svn = q.isv.isv_svn;
    out->debug = (q.isv.flags & 2) != 0;
    memcpy(out->report_data, q.isv.report_data, 64);
    out->simulated = v->simulated;
out:
    sk_X509_pop_free(pck_chain, X509_free);
    if (st != TEEU_OK) {
        /* Keep nothing that could be mistaken for a verdict. */
        memset(out, 0, sizeof *out);
    }
    return st;
}
