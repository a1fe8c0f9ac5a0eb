/*
 * libteeu rpc — the AuthManager client (docs/WIRE.md): each call builds
 * its request with the wire layer, sends it over a gRPC channel and checks
 * both the gRPC status and the status inside the response body.
 */
#ifndef TEEU_AUTHMANAGER_INTERNAL_H
#define TEEU_AUTHMANAGER_INTERNAL_H

#include <teeu/keys.h>

#include "rpc/rpc_internal.h"
#include "wire/wire_internal.h"

/**
 * Attestation check of GetRaCertPems: receives the report (NULL when the
 * AuthManager sent none), the AuthManager's cert_pem and our nonce;
 * returns TEEU_OK to accept the key or an error to refuse it.
 */
typedef teeu_status (*tu_am_attest_check_fn)(void *ctx, const Secretflowapis__V1__Sdc__UnifiedAttestationReport *report,
                                             const char *cert_pem, const char *nonce);

/**
 * GetRaCertPems with a fresh nonce; the attestation hook (may be NULL,
 * e.g. in simulation) decides whether to trust the key. *am_key: free with
 * teeu_key_free; *cert_pem (may be NULL if not wanted): free with free().
 */
teeu_status tu_am_get_ra_cert_pems(tu_rpc_channel *ch, tu_am_attest_check_fn check, void *check_ctx,
                                   const tu_rpc_call_opts *opts, teeu_key **am_key, char **cert_pem) TU_NODISCARD;

/** RegisterInsPubKey for the party's key; "already registered" is success. */
teeu_status tu_am_register_ins_pub_key(tu_rpc_channel *ch, const teeu_key *party,
                                       const tu_rpc_call_opts *opts) TU_NODISCARD;

/**
 * CreateDataWithAuth for one object (see tu_wire_data_auth). When
 * data_auth_out is non-NULL it receives the serialized, signed DataAuth that
 * was sent (a TEEU accepts it as proof of ownership of the object).
 */
teeu_status tu_am_create_data_with_auth(tu_rpc_channel *ch, const teeu_key *party, const teeu_key *am_key,
                                        const tu_wire_data_auth *auth, const tu_rpc_call_opts *opts,
                                        tu_buf *data_auth_out) TU_NODISCARD;

/** GetExportDataKey: the object's data key, unsealed with requester (32 secret bytes). */
teeu_status tu_am_get_export_data_key(tu_rpc_channel *ch, const teeu_key *requester, const char *data_uuid,
                                      const tu_rpc_call_opts *opts, uint8_t key[TU_WIRE_DATA_KEY_LEN]) TU_NODISCARD;

/**
 * Produces a serialized UnifiedAttestationReport binding hex_user_data
 * (for GetComputeMeta); the report goes to out.
 */
typedef teeu_status (*tu_am_report_fn)(void *ctx, const char *hex_user_data, tu_buf *out);

/**
 * GetComputeMeta for the TEEU worker: a fresh RSA-3072 key, the task's
 * TeeTaskParams, a report from report_fn (NULL: no report, simulation);
 * the sealed ComputeMeta is opened with the fresh key. fresh_key is a key
 * never used before (e.g. from a tu_keypool); this call takes ownership and
 * frees it. NULL: one is generated here. *keys holds task->n_inputs * 32
 * secret bytes in input order (free with tu_free_secret(*keys, n * 32)).
 */
teeu_status tu_am_get_compute_meta(tu_rpc_channel *ch, const tu_wire_task *task, teeu_key *fresh_key,
                                   tu_am_report_fn report_fn, void *report_ctx, const tu_rpc_call_opts *opts,
                                   uint8_t **keys) TU_NODISCARD;

#endif /* TEEU_AUTHMANAGER_INTERNAL_H */
