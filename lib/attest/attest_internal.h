/*
 * libteeu attest layer — internal API shared by the library, the
 * teeu-attest tool and the services (AuthManager, teeud).
 *
 * quote.c    quote v3 parsing (pure, bounds-checked)
 * x509.c     OpenSSL helpers: PEM chains, CRLs, ECDSA raw r||s, SGX extension
 * collateral.c  collateral JSON form
 * verify.c   DCAP.md steps 1-10
 * ua.c       SecretFlow UnifiedAttestationReport
 * pccs.c     collateral from a PCCS over HTTPS
 * sim.c      simulation attestation authority
 * root.c     the pinned Intel SGX Root CA
 */
#ifndef TEEU_ATTEST_INTERNAL_H
#define TEEU_ATTEST_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <teeu/attest.h>

#include "core/core_internal.h"
#include "core/json_internal.h"
#include "secretflowapis/v1/sdc/sdc.pb-c.h"

#define TU_QUOTE_HEADER_LEN 48
#define TU_REPORT_BODY_LEN 384
#define TU_QUOTE_SIGNED_LEN (TU_QUOTE_HEADER_LEN + TU_REPORT_BODY_LEN) /* 432 */
#define TU_QUOTE_MAX_LEN ((size_t)1 << 20)
#define TU_ECDSA_SIG_LEN 64
#define TU_ECDSA_PUB_LEN 64
#define TU_CERT_TYPE_PCK_CHAIN 5

/** A parsed SGX report body (ISV enclave's or QE's). */
typedef struct tu_report_body {
    const uint8_t *raw;          /**< the 384 bytes inside the quote */
    uint8_t cpu_svn[16];
    uint32_t misc_select;
    uint8_t attributes[16];      /**< flags u64 LE then xfrm u64 LE */
    uint64_t flags;
    uint8_t mr_enclave[32];
    uint8_t mr_signer[32];
    uint16_t isv_prod_id;
    uint16_t isv_svn;
    uint8_t report_data[64];
} tu_report_body;

/** A parsed quote v3; every pointer points into the caller's buffer. */
typedef struct tu_quote {
    const uint8_t *raw;
    size_t raw_len;
    uint16_t version;
    uint16_t att_key_type;
    uint32_t tee_type;
    uint16_t qe_svn;
    uint16_t pce_svn;
    tu_report_body isv;
    const uint8_t *isv_sig;      /**< 64 bytes r||s */
    const uint8_t *att_key;      /**< 64 bytes x||y */
    tu_report_body qe;
    const uint8_t *qe_sig;       /**< 64 bytes */
    const uint8_t *qe_auth;
    size_t qe_auth_len;
    uint16_t cert_type;
    const uint8_t *cert_data;    /**< PEM chain, leaf first (type 5) */
    size_t cert_data_len;
} tu_quote;

teeu_status tu_quote_parse(const uint8_t *quote, size_t len, tu_quote *out) TU_NODISCARD;
void tu_report_body_parse(const uint8_t raw[TU_REPORT_BODY_LEN], tu_report_body *out);

/* ---- X.509 / ECDSA helpers (x509.c) ------------------------------------- */

/** The SGX extension of a PCK certificate (OID 1.2.840.113741.1.13.1). */
typedef struct tu_sgx_ext {
    uint8_t comp_svn[16];
    uint16_t pce_svn;
    uint8_t cpu_svn[16];
    uint8_t pce_id[2];
    uint8_t fmspc[6];
} tu_sgx_ext;

/** Parses a PEM chain (1..8 certificates, in order). */
teeu_status tu_pem_chain_parse(const char *pem, size_t len, const char *what,
                               STACK_OF(X509) **out) TU_NODISCARD;
/** Parses one PEM certificate. */
teeu_status tu_pem_cert_parse(const char *pem, size_t len, const char *what, X509 **out) TU_NODISCARD;
/** Parses a CRL given as hex DER, PEM or raw DER. */
teeu_status tu_crl_parse(const uint8_t *data, size_t len, const char *what,
                         X509_CRL **out) TU_NODISCARD;
/** Verifies a raw r||s P-256 signature with SHA-256 over msg; 1 ok, 0 bad, <0 error. */
int tu_ecdsa_verify_raw(EVP_PKEY *key, const uint8_t sig[64], const uint8_t *msg, size_t len);
/** Signs msg with SHA-256, output raw r||s. */
teeu_status tu_ecdsa_sign_raw(EVP_PKEY *key, const uint8_t *msg, size_t len,
                              uint8_t sig[64]) TU_NODISCARD;
/** A P-256 public key from raw x||y. */
teeu_status tu_ec_pub_from_raw(const uint8_t xy[64], EVP_PKEY **out) TU_NODISCARD;
/** The raw x||y of a P-256 key. */
teeu_status tu_ec_pub_to_raw(EVP_PKEY *key, uint8_t xy[64]) TU_NODISCARD;
/** Extracts and parses the SGX extension of a PCK certificate. */
teeu_status tu_sgx_ext_from_cert(X509 *cert, tu_sgx_ext *out) TU_NODISCARD;
/** Parses the DER of the SGX extension value (bounded DER reader). */
teeu_status tu_sgx_ext_parse(const uint8_t *der, size_t len, tu_sgx_ext *out) TU_NODISCARD;
/** Encodes the SGX extension value as DER (for the simulation authority). */
teeu_status tu_sgx_ext_encode(const tu_sgx_ext *ext, const uint8_t ppid[16], tu_buf *out) TU_NODISCARD;
/** ASN1_TIME to seconds since the epoch. */
bool tu_asn1_time_to_unix(const ASN1_TIME *t, int64_t *out);
/** Parses RFC 3339 "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm)". */
bool tu_rfc3339_parse(const char *s, size_t len, int64_t *out);
/** Formats seconds since the epoch as "YYYY-MM-DDTHH:MM:SSZ" (buf >= 21 bytes). */
void tu_rfc3339_format(int64_t t, char buf[32]);
/** Subject CN of a certificate, for messages ("?" when absent). */
void tu_cert_cn(X509 *cert, char *buf, size_t len);

/* ---- the pinned root (root.c) ------------------------------------------- */

/** The Intel SGX Root CA, checked against its pinned SHA-256. Free with X509_free. */
teeu_status tu_intel_root_ca(X509 **out) TU_NODISCARD;

/* ---- collateral (collateral.c) ------------------------------------------ */

struct teeu_collateral {
    STACK_OF(X509) *pck_crl_chain;
    STACK_OF(X509) *tcb_info_chain;
    STACK_OF(X509) *qe_identity_chain;
    X509_CRL *root_crl;
    X509_CRL *pck_crl;
    char *tcb_info;              /**< exact signed bytes */
    size_t tcb_info_len;
    uint8_t tcb_info_sig[64];
    char *qe_identity;           /**< exact signed bytes */
    size_t qe_identity_len;
    uint8_t qe_identity_sig[64];
    /* The text forms, kept to re-serialize without loss. */
    char *pck_crl_chain_pem;
    char *tcb_info_chain_pem;
    char *qe_identity_chain_pem;
    uint8_t *root_crl_der;
    size_t root_crl_der_len;
    uint8_t *pck_crl_der;
    size_t pck_crl_der_len;
};

/** Builds collateral from its parts (copied). CRLs may be DER, hex DER or PEM. */
typedef struct tu_collateral_parts {
    const char *pck_crl_chain; size_t pck_crl_chain_len;
    const uint8_t *root_crl; size_t root_crl_len;
    const uint8_t *pck_crl; size_t pck_crl_len;
    const char *tcb_info_chain; size_t tcb_info_chain_len;
    const char *tcb_info; size_t tcb_info_len;
    const char *tcb_info_sig_hex; size_t tcb_info_sig_hex_len;
    const char *qe_identity_chain; size_t qe_identity_chain_len;
    const char *qe_identity; size_t qe_identity_len;
    const char *qe_identity_sig_hex; size_t qe_identity_sig_hex_len;
} tu_collateral_parts;

teeu_status tu_collateral_from_parts(const tu_collateral_parts *parts,
                                     teeu_collateral **out) TU_NODISCARD;

/* ---- verification (verify.c) -------------------------------------------- */

#define TU_MAX_ADVISORIES 64

typedef struct tu_verdict {
    char platform_status[48];
    char qe_status[48];
    uint32_t platform_status_bit;
    uint32_t qe_status_bit;
    size_t advisory_count;
    char advisories[TU_MAX_ADVISORIES][32]; /**< sorted, unique */
    uint8_t mr_enclave[32];
    uint8_t mr_signer[32];
    uint16_t isv_prod_id;
    uint16_t isv_svn;
    bool debug;
    uint8_t report_data[64];
    bool simulated;
    uint8_t fmspc[6];
} tu_verdict;

struct teeu_attest_result {
    tu_verdict v;
};

/** A verification context: the trust anchor and the time. */
typedef struct tu_verifier {
    X509 *root;                  /**< the one trusted root (owned) */
    X509_STORE *store;           /**< holds only root; shared read-only by verifications */
    bool simulated;              /**< root is a simulation root */
    int64_t time;                /**< verification time, seconds since the epoch */
} tu_verifier;

/** Sets up a verifier from public options (pinned root or simulation root). */
teeu_status tu_verifier_init(tu_verifier *v, const teeu_attest_options *options) TU_NODISCARD;
void tu_verifier_clear(tu_verifier *v);

/** DCAP.md steps 1-9: verifies the quote and fills the verdict. */
teeu_status tu_dcap_verify(const tu_verifier *v, const uint8_t *quote, size_t len,
                           const teeu_collateral *c, tu_verdict *out) TU_NODISCARD;
/** DCAP.md step 10 and the accepted statuses. */
teeu_status tu_policy_check(const tu_verdict *v, const teeu_attest_policy *p) TU_NODISCARD;
/** Status string to TEEU_TCB_* bit, 0 when unknown. */
uint32_t tu_tcb_status_bit(const char *s);

/* ---- unified attestation report (ua.c) ---------------------------------- */

/** Builds the JSON form of a UnifiedAttestationReport; free *out with free(). */
teeu_status tu_ua_report_make(const uint8_t *quote, size_t quote_len,
                              const char *collateral_json, /* NULL: BackgroundCheck */
                              char **out) TU_NODISCARD;
/** Only the json_report field ({"b64_quote":...,"json_collateral":...}); free with free(). */
teeu_status tu_ua_json_report_make(const uint8_t *quote, size_t quote_len,
                                   const char *collateral_json, /* NULL: no collateral */
                                   char **out) TU_NODISCARD;
/** Parts of a parsed UnifiedAttestationReport; free with tu_ua_report_clear. */
typedef struct tu_ua_report {
    char report_type[32];
    uint8_t *quote;
    size_t quote_len;
    char *collateral_json;       /**< NULL for BackgroundCheck */
    size_t collateral_json_len;
} tu_ua_report;
teeu_status tu_ua_report_parse(const char *json, size_t len, tu_ua_report *out) TU_NODISCARD;
/** The same from the message's fields (e.g. a protobuf UnifiedAttestationReport). */
teeu_status tu_ua_report_parse_fields(const char *version, const char *type, const char *platform,
                                      const char *json_report, size_t json_report_len,
                                      tu_ua_report *out) TU_NODISCARD;
void tu_ua_report_clear(tu_ua_report *r);

/** A policy as UnifiedAttestationAttributes strings (NULL or "" = any). */
typedef struct tu_ua_attributes {
    const char *hex_ta_measurement;
    const char *hex_signer;
    const char *hex_prod_id;
    const char *str_min_isvsvn;
    const char *bool_debug_disabled;  /**< "true"/"1" forbids debug; "false"/"0" allows */
    const char *hex_user_data;
} tu_ua_attributes;
/**
 * Converts attributes to a policy. Hex buffers are written to storage
 * (at least 32+32+64 bytes), which must outlive the policy.
 */
teeu_status tu_ua_attributes_to_policy(const tu_ua_attributes *a, uint8_t storage[128],
                                       teeu_attest_policy *p) TU_NODISCARD;

/* ---- protobuf bridges (ua_pb.c) ----------------------------------------- */

/** Fills m (initialised here) with a report for quote; free with tu_ua_report_pb_clear. */
teeu_status tu_ua_report_to_pb(const uint8_t *quote, size_t quote_len, const char *collateral_json,
                               Secretflowapis__V1__Sdc__UnifiedAttestationReport *m) TU_NODISCARD;
/** Frees the strings tu_ua_report_to_pb allocated (not m itself). */
void tu_ua_report_pb_clear(Secretflowapis__V1__Sdc__UnifiedAttestationReport *m);
teeu_status tu_ua_report_from_pb(const Secretflowapis__V1__Sdc__UnifiedAttestationReport *m,
                                 tu_ua_report *out) TU_NODISCARD;
teeu_status tu_ua_policy_from_pb(const Secretflowapis__V1__Sdc__UnifiedAttestationAttributes *a,
                                 uint8_t storage[128], teeu_attest_policy *p) TU_NODISCARD;
/** SecretFlow semantics: the verdict passes when any main_attributes entry matches. */
teeu_status tu_ua_policy_check_any(const tu_verdict *v,
                                   const Secretflowapis__V1__Sdc__UnifiedAttestationPolicy *policy) TU_NODISCARD;

/* ---- PCCS (pccs.c) ------------------------------------------------------ */

/** Cuts the exact bytes of member `key` (an object) from a raw JSON answer. */
teeu_status tu_json_cut_member(const char *raw, size_t len, const char *key, char **body,
                               size_t *body_len, char **sig_hex) TU_NODISCARD;

/* ---- simulation authority (sim.c) --------------------------------------- */

typedef struct tu_sim_authority tu_sim_authority;

/** Creates a new simulation authority in dir (made if missing). */
teeu_status tu_sim_authority_create(const char *dir) TU_NODISCARD;
/** Loads an authority created by tu_sim_authority_create. */
teeu_status tu_sim_authority_load(const char *dir, tu_sim_authority **out) TU_NODISCARD;
/** Loads the authority in dir, creating it first (under a lock) when absent. */
teeu_status tu_sim_authority_open(const char *dir, tu_sim_authority **out) TU_NODISCARD;
void tu_sim_authority_free(tu_sim_authority *a);
/**
 * Sets the TCB status the collateral gives the simulated platform and QE
 * (to exercise policies; default UpToDate) and rewrites the collateral.
 */
teeu_status tu_sim_authority_set_status(tu_sim_authority *a, const char *platform_status,
                                        const char *qe_status) TU_NODISCARD;
/** Puts the PCK leaf's serial on the PCK CRL and rewrites the collateral. */
teeu_status tu_sim_authority_revoke_pck(tu_sim_authority *a) TU_NODISCARD;

typedef struct tu_sim_quote_params {
    const uint8_t *mr_enclave;   /**< 32 bytes, required */
    const uint8_t *mr_signer;    /**< 32 bytes or NULL (zeros) */
    const uint8_t *report_data;  /**< up to 64 bytes or NULL */
    size_t report_data_len;
    uint16_t isv_prod_id;
    uint16_t isv_svn;
    bool debug;
} tu_sim_quote_params;

/** A quote v3 signed through the authority's chain; free *quote with free(). */
teeu_status tu_sim_quote(const tu_sim_authority *a, const tu_sim_quote_params *params,
                         uint8_t **quote, size_t *len) TU_NODISCARD;
/** The authority's collateral JSON (owned by the authority). */
const char *tu_sim_collateral_json(const tu_sim_authority *a);
/** The authority's root certificate PEM (owned by the authority). */
const char *tu_sim_root_pem(const tu_sim_authority *a);

#endif /* TEEU_ATTEST_INTERNAL_H */
