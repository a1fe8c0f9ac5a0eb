/*
 * libteeu — remote attestation: Intel SGX DCAP (ECDSA) quote v3 checks.
 *
 * A quote is checked against its collateral (PCK CRL, root CA CRL, TCB info,
 * QE identity and their issuer chains) at a verification time, up to the
 * pinned Intel SGX Root CA, then matched against a policy (expected enclave
 * identity, accepted TCB statuses, report data binding). See
 * docs/attestation.md for what each step proves.
 *
 * Simulation: a simulation attestation authority (teeu-attest sim-init)
 * signs quotes and collateral in the same formats under its own root. Such
 * quotes verify only when the caller passes that root explicitly AND turns
 * simulation on; in production only the pinned Intel root is trusted.
 */
#ifndef TEEU_ATTEST_H
#define TEEU_ATTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <teeu/export.h>
#include <teeu/status.h>

TEEU_BEGIN_DECLS

/** Parsed collateral for one quote. Opaque; free with teeu_collateral_free. */
typedef struct teeu_collateral teeu_collateral;

/**
 * Parses collateral in the JSON form of docs/DCAP.md (pck_crl_issuer_chain,
 * root_ca_crl, pck_crl, tcb_info_issuer_chain, tcb_info, tcb_info_signature,
 * qe_identity_issuer_chain, qe_identity, qe_identity_signature). The input
 * is copied; the caller keeps ownership of json.
 */
TEEU_API teeu_status teeu_collateral_parse(const char *json, size_t len, teeu_collateral **out);
/**
 * Fetches collateral for a quote from a PCCS / Intel PCS base URL (e.g.
 * "https://pccs.example:8081/sgx/certification/v4"). ca_file: PEM bundle to
 * trust for the HTTPS server (NULL: system defaults).
 */
TEEU_API teeu_status teeu_collateral_fetch(const char *base_url, const char *ca_file,
                                           const uint8_t *quote, size_t quote_len,
                                           teeu_collateral **out);
/** Serializes collateral back to the JSON form; free *json with teeu_free. */
TEEU_API teeu_status teeu_collateral_to_json(const teeu_collateral *c, char **json);
TEEU_API void teeu_collateral_free(teeu_collateral *c);

/* TCB statuses, as bits for teeu_attest_policy.accepted_statuses. */
#define TEEU_TCB_UP_TO_DATE                       (1u << 0)
#define TEEU_TCB_SW_HARDENING_NEEDED              (1u << 1)
#define TEEU_TCB_CONFIGURATION_NEEDED             (1u << 2)
#define TEEU_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED (1u << 3)
#define TEEU_TCB_OUT_OF_DATE                      (1u << 4)
#define TEEU_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED (1u << 5)
#define TEEU_TCB_REVOKED                          (1u << 6)
/**
 * Default: everything except Revoked and the two out-of-date statuses
 * (OutOfDateConfigurationNeeded is an out-of-date TCB too).
 */
#define TEEU_TCB_DEFAULT_ACCEPTED                                                        \
    (TEEU_TCB_UP_TO_DATE | TEEU_TCB_SW_HARDENING_NEEDED | TEEU_TCB_CONFIGURATION_NEEDED | \
     TEEU_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED)

/**
 * What to accept. Initialise with teeu_attest_policy_init (accepts any
 * enclave with an acceptable TCB and debug off), then set what you expect.
 * Pointers are borrowed for the duration of the verify call.
 */
typedef struct teeu_attest_policy {
    const uint8_t *mr_enclave;   /**< 32 bytes expected, or NULL for any */
    const uint8_t *mr_signer;    /**< 32 bytes expected, or NULL for any */
    int32_t isv_prod_id;         /**< expected value, or -1 for any */
    int32_t min_isv_svn;         /**< minimum isv_svn, or -1 for any */
    bool allow_debug;            /**< accept enclaves with the DEBUG attribute */
    uint32_t accepted_statuses;  /**< TEEU_TCB_* bits, for platform and QE */
    const uint8_t *report_data;  /**< expected prefix of report_data, or NULL */
    size_t report_data_len;      /**< 1..64 when report_data is set */
} teeu_attest_policy;

TEEU_API void teeu_attest_policy_init(teeu_attest_policy *policy);

/** Trust settings for a verification. Initialise with teeu_attest_options_init. */
typedef struct teeu_attest_options {
    int64_t verify_time;         /**< seconds since the epoch; 0 means now */
    bool simulation;             /**< tee_simulation: allow a simulation root */
    /**
     * Simulation root CA (PEM). Allowed only with simulation on; when set it
     * is the ONLY trusted root for this call (the Intel root is not).
     */
    const char *sim_root_pem;
    size_t sim_root_pem_len;     /**< 0: sim_root_pem is NUL-terminated */
} teeu_attest_options;

TEEU_API void teeu_attest_options_init(teeu_attest_options *options);

/** The outcome of a successful check. Opaque; free with teeu_attest_result_free. */
typedef struct teeu_attest_result teeu_attest_result;

/**
 * Verifies a quote v3 with its collateral and matches it against policy
 * (NULL: the defaults of teeu_attest_policy_init). On TEEU_OK *result holds
 * the verdict. On a refusal the status names the failed rule (e.g.
 * TEEU_ERR_COLLATERAL_EXPIRED, TEEU_ERR_POLICY) and teeu_last_error() says
 * which; *result is still set when the quote itself verified and only the
 * policy refused it (so the caller can show the identity), else NULL.
 */
TEEU_API teeu_status teeu_attest_verify_quote(const uint8_t *quote, size_t quote_len,
                                              const teeu_collateral *collateral,
                                              const teeu_attest_options *options,
                                              const teeu_attest_policy *policy,
                                              teeu_attest_result **result);

/**
 * Verifies a SecretFlow UnifiedAttestationReport in its JSON form
 * (str_tee_platform "SGX_DCAP"). A Passport report carries its collateral;
 * for a BackgroundCheck report pass collateral (else TEEU_ERR_CONFIG).
 */
TEEU_API teeu_status teeu_attest_verify_ua_report(const char *report_json, size_t len,
                                                  const teeu_collateral *collateral,
                                                  const teeu_attest_options *options,
                                                  const teeu_attest_policy *policy,
                                                  teeu_attest_result **result);

/** Platform TCB status string ("UpToDate", ...); owned by the result. */
TEEU_API const char *teeu_attest_result_platform_status(const teeu_attest_result *r);
/** QE TCB status string; owned by the result. */
TEEU_API const char *teeu_attest_result_qe_status(const teeu_attest_result *r);
/** Number of advisory IDs (union of platform and QE levels, sorted). */
TEEU_API size_t teeu_attest_result_advisory_count(const teeu_attest_result *r);
/** Advisory ID i ("INTEL-SA-00615"), owned by the result; NULL if out of range. */
TEEU_API const char *teeu_attest_result_advisory(const teeu_attest_result *r, size_t i);
/** Pointers into the result: 32-byte MRENCLAVE / MRSIGNER, 64-byte report_data. */
TEEU_API const uint8_t *teeu_attest_result_mr_enclave(const teeu_attest_result *r);
TEEU_API const uint8_t *teeu_attest_result_mr_signer(const teeu_attest_result *r);
TEEU_API const uint8_t *teeu_attest_result_report_data(const teeu_attest_result *r);
TEEU_API uint16_t teeu_attest_result_isv_prod_id(const teeu_attest_result *r);
TEEU_API uint16_t teeu_attest_result_isv_svn(const teeu_attest_result *r);
TEEU_API bool teeu_attest_result_debug(const teeu_attest_result *r);
/** True when the quote chained to a simulation root (never in production). */
TEEU_API bool teeu_attest_result_simulated(const teeu_attest_result *r);
TEEU_API void teeu_attest_result_free(teeu_attest_result *r);

TEEU_END_DECLS

#endif /* TEEU_ATTEST_H */
