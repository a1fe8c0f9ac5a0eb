/*
 * libteeu wire — AuthManager messages (docs/WIRE.md) built and parsed as
 * pure functions over buffers: requests come out as serialized protobuf
 * bytes, responses go in as bytes. Signatures, MACs and sealed keys are
 * computed here exactly as WIRE.md specifies; no I/O happens in this layer
 * (the rpc layer's AuthManager client sends what it builds).
 */
#ifndef TEEU_WIRE_INTERNAL_H
#define TEEU_WIRE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <teeu/keys.h>

#include "core/core_internal.h"
#include "crypto/crypto_internal.h"
#include "secretflowapis/v1/common.pb-c.h"
#include "secretflowapis/v1/sdc/authmanager.pb-c.h"
#include "secretflowapis/v1/sdc/dataagent.pb-c.h"
#include "secretflowapis/v1/sdc/sdc.pb-c.h"
#include "secretflowapis/v1/sdc/teeapps.pb-c.h"

#define TU_WIRE_PARTITION_ID "default"
#define TU_WIRE_NONCE_HEX_LEN 64   /* uppercase hex of 32 random bytes */
#define TU_WIRE_DATA_KEY_LEN 32
#define TU_WIRE_UUID_HEX_LEN 32

/** The gRPC method paths of the AuthManager service. */
#define TU_AM_SERVICE "/secretflowapis.v1.sdc.authmanager.AuthManager/"
#define TU_AM_GET_RA_CERT_PEMS TU_AM_SERVICE "GetRaCertPems"
#define TU_AM_REGISTER_INS_PUB_KEY TU_AM_SERVICE "RegisterInsPubKey"
#define TU_AM_CREATE_DATA_WITH_AUTH TU_AM_SERVICE "CreateDataWithAuth"
#define TU_AM_GET_EXPORT_DATA_KEY TU_AM_SERVICE "GetExportDataKey"
#define TU_AM_GET_COMPUTE_META TU_AM_SERVICE "GetComputeMeta"

/**
 * Checks the status inside a response body (a missing status is OK, as in
 * proto3). A non-zero code becomes TEEU_ERR_RPC_<code> (ALREADY_EXISTS is
 * accepted when already_exists_ok) with the AuthManager's message.
 */
teeu_status tu_wire_check_status(const Secretflowapis__V1__Status *status, const char *what,
                                 bool already_exists_ok) TU_NODISCARD;

/* ---- GetRaCertPems --------------------------------------------------------- */

/** A fresh nonce: uppercase hex of 32 random bytes, NUL-terminated. */
teeu_status tu_wire_new_nonce(char out[TU_WIRE_NONCE_HEX_LEN + 1]) TU_NODISCARD;
/** GetRaCertPemsRequest{secret_shard_num=1, nonces=[nonce]}, serialized into out. */
teeu_status tu_wire_build_get_ra_cert_pems(const char *nonce, tu_buf *out) TU_NODISCARD;
/**
 * Decodes a GetRaCertPemsResponse, checks its status and that it carries a
 * report for shard 0 whose nonce (when set) is ours. *resp: free with
 * protobuf_c_message_free_unpacked; *chosen points into it.
 */
teeu_status tu_wire_parse_get_ra_cert_pems(const uint8_t *msg, size_t len, const char *nonce,
                                           Secretflowapis__V1__Sdc__Dataagent__GetRaCertPemsResponse **resp,
                                           const Secretflowapis__V1__Sdc__Dataagent__ReportWithCertPem **chosen)
    TU_NODISCARD;

/* ---- RegisterInsPubKey ------------------------------------------------------ */

/**
 * RegisterInsPubKeyRequest{ins_id=owner_id(party), public_key={"RSA", SPKI
 * PEM}, signature=SIG(party, ins_id || serialized PublicKey)}.
 */
teeu_status tu_wire_build_register_ins_pub_key(const teeu_key *party, tu_buf *out) TU_NODISCARD;
/** Status 0 or ALREADY_EXISTS is success. */
teeu_status tu_wire_parse_register_ins_pub_key(const uint8_t *msg, size_t len) TU_NODISCARD;

/* ---- CreateDataWithAuth ----------------------------------------------------- */

/** What a data party authorizes for one object. */
typedef struct tu_wire_data_auth {
    /** 32 lowercase hex digits (tu_uuid4_hex). */
    const char *data_uuid;
    /** The object's AES-256-GCM data key (TU_WIRE_DATA_KEY_LEN bytes). */
    const uint8_t *data_key;
    size_t data_key_len;
    /** owner_ids allowed to compute; NULL/0 means ["all"]. */
    const char *const *allowed_ins_ids;
    size_t n_allowed_ins_ids;
    /** Hex MRENCLAVE of each allowed TEEU enclave (one EnclaveInfo each). */
    const char *const *allowed_mrenclaves;
    size_t n_allowed_mrenclaves;
    /**
     * base64(SHA-256(function descriptor)) of each allowed function, put
     * in extra_limits; NULL/0 leaves extra_limits empty (no function limit).
     */
    const char *const *function_ids;
    size_t n_function_ids;
    /** app_types allowed (DataAuth.operators); usually none. */
    const char *const *operators;
    size_t n_operators;
    /** Optional DataMeta name/description (NULL: empty). */
    const char *name;
    const char *description;
    /** Parts computed ahead for this uuid and key (see tu_wire_presigned), or NULL: all computed here. */
    const struct tu_wire_presigned *presigned;
} tu_wire_data_auth;

/**
 * The data-independent parts of a CreateDataWithAuth computed ahead of
 * time (a client precomputes them while idle): steps 3-5 for one uuid and
 * data key (tu_wire_presign_segment), and optionally the step-6 DataAuth
 * signature (tu_wire_sign_data_auth) for the exact same uuid and policy.
 * The builder uses them as given: the caller guarantees they were made for
 * the tu_wire_data_auth they accompany.
 */
typedef struct tu_wire_presigned {
    const uint8_t *enc_key;   /**< OAEP(am_key, data_key) */
    size_t enc_key_len;
    const uint8_t *mac;       /**< 32 bytes: step 4 */
    const uint8_t *seg_sig;   /**< step 5 */
    size_t seg_sig_len;
    const uint8_t *auth_sig;  /**< step 6, or NULL: signed by the builder */
    size_t auth_sig_len;
} tu_wire_presigned;

/**
 * Steps 3-5 for one object: *enc_key (free with free()), mac (32 secret
 * bytes: wipe after use) and *seg_sig (free with free()). 1 RSA
 * private-key operation.
 */
teeu_status tu_wire_presign_segment(const teeu_key *party, const teeu_key *am_key, const char *data_uuid,
                                    const uint8_t *data_key, size_t data_key_len, uint8_t **enc_key,
                                    size_t *enc_key_len, uint8_t mac[32], uint8_t **seg_sig,
                                    size_t *seg_sig_len) TU_NODISCARD;

/**
 * Step 6: the DataAuth signature over a's uuid, allowed parties,
 * enclaves, operators and function limits (a->data_key is not used and
 * may be NULL). *sig: free with free(). 1 RSA private-key operation.
 */
teeu_status tu_wire_sign_data_auth(const teeu_key *party, const tu_wire_data_auth *a, uint8_t **sig,
                                   size_t *sig_len) TU_NODISCARD;

/** extra_limits as SecretFlow's client writes it: {"limit_functions": ["a", "b"]}. */
teeu_status tu_wire_extra_limits(const char *const *function_ids, size_t n, char **out) TU_NODISCARD;

/**
 * CreateDataWithAuthRequest per WIRE.md steps 3-7: the data key sealed to
 * am_key by OAEP, the segment MAC and signature, the DataAuth and its
 * signature by party.
 */
teeu_status tu_wire_build_create_data_with_auth(const teeu_key *party, const teeu_key *am_key,
                                                const tu_wire_data_auth *auth, tu_buf *out) TU_NODISCARD;
teeu_status tu_wire_parse_create_data_with_auth(const uint8_t *msg, size_t len) TU_NODISCARD;
/** Appends the serialized DataAuth of a packed CreateDataWithAuthRequest to out. */
teeu_status tu_wire_data_auth_of_request(const uint8_t *req, size_t len, tu_buf *out) TU_NODISCARD;

/**
 * The digital envelope an AsymmetricSecret carries, as pointers into sec
 * (borrowed while sec lives). False if sec has no symmetric part or its IV
 * or tag has the wrong length; callers say what was malformed.
 */
bool tu_wire_envelope_of_secret(const Secretflowapis__V1__Sdc__AsymmetricSecret *sec, tu_envelope *env);
/** Fills sym and asym (asym->symmetric_secret = sym) with env's parts: borrowed while env lives. */
void tu_wire_secret_of_envelope(tu_envelope *env, Secretflowapis__V1__Sdc__SymmetricSecret *sym,
                                Secretflowapis__V1__Sdc__AsymmetricSecret *asym);

/**
 * Verifies a DataAuth's signature by owner (WIRE.md step 6: data_uuid ||
 * each allowed_ins_id || each EnclaveInfo serialized || each operator ||
 * extra_limits || serialized schema if present). TEEU_ERR_SIGNATURE when it
 * does not verify (or is missing).
 */
teeu_status tu_wire_verify_data_auth(const teeu_key *owner, const Secretflowapis__V1__Sdc__DataAuth *auth)
    TU_NODISCARD;

/* ---- GetExportDataKey --------------------------------------------------------- */

/** GetExportDataKeyRequest{data_uuid, partition "default", public_key of requester}. */
teeu_status tu_wire_build_get_export_data_key(const teeu_key *requester, const char *data_uuid,
                                              tu_buf *out) TU_NODISCARD;
/**
 * Decodes the response, unseals data_keys[0] with the requester's private
 * key and checks its MAC when present. key receives 32 secret bytes.
 */
teeu_status tu_wire_parse_get_export_data_key(const uint8_t *msg, size_t len, const teeu_key *requester,
                                              const char *data_uuid, uint8_t key[TU_WIRE_DATA_KEY_LEN])
    TU_NODISCARD;

/* ---- GetComputeMeta ----------------------------------------------------------- */

/** The task a TEEU asks data keys for. */
typedef struct tu_wire_task {
    const char *task_id;       /* may be NULL */
    const char *requester_id;  /* the requesting party's owner_id, may be NULL */
    const char *app_type;      /* may be NULL */
    const char *code;          /* base64(SHA-256(function descriptor)) */
    const char *const *data_uuids; /* one Input per object, partition "default" */
    size_t n_inputs;
} tu_wire_task;

/** Serialized TeeTaskParams of a task (what the attestation user data binds). */
teeu_status tu_wire_build_tee_task_params(const tu_wire_task *task, tu_buf *out) TU_NODISCARD;
/** UPPERHEX(SHA256(task_params | public_key_pem)), NUL-terminated. */
teeu_status tu_wire_compute_meta_user_data(const uint8_t *task_params, size_t task_params_len,
                                           const char *public_key_pem, char out[65]) TU_NODISCARD;
/**
 * GetComputeMetaRequest{attestation_report (serialized
 * UnifiedAttestationReport, or NULL for none), tee_task_params,
 * public_key={"RSA", public_key_pem}}.
 */
teeu_status tu_wire_build_get_compute_meta(const uint8_t *task_params, size_t task_params_len,
                                           const char *public_key_pem, const uint8_t *report,
                                           size_t report_len, tu_buf *out) TU_NODISCARD;
/**
 * Decodes the response, opens the sealed ComputeMeta with fresh_priv and
 * returns the data key of each input in order: *keys holds n_inputs * 32
 * secret bytes (free with tu_free_secret(*keys, n_inputs * 32)).
 */
teeu_status tu_wire_parse_get_compute_meta(const uint8_t *msg, size_t len, const teeu_key *fresh_priv,
                                           const tu_wire_task *task, uint8_t **keys) TU_NODISCARD;

#endif /* TEEU_WIRE_INTERNAL_H */
