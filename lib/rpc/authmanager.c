/* The AuthManager client: wire-layer messages over a gRPC channel. */
#include <string.h>

#include "rpc/authmanager_internal.h"

/* Reads and registrations are safe to repeat; object creation is not. */
static tu_rpc_call_opts call_opts(const tu_rpc_call_opts *opts, bool idempotent)
{
    tu_rpc_call_opts o = {0};
    if (opts)
        o = *opts;
    o.retry_unavailable = o.retry_unavailable && idempotent;
    return o;
}

teeu_status tu_am_get_ra_cert_pems(tu_rpc_channel *ch, tu_am_attest_check_fn check, void *check_ctx,
                                   const tu_rpc_call_opts *opts, teeu_key **am_key, char **cert_pem)
{
    if (!ch || !am_key)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "GetRaCertPems: channel and output are required");
    *am_key = NULL;
    if (cert_pem)
        *cert_pem = NULL;
    char nonce[TU_WIRE_NONCE_HEX_LEN + 1];
    tu_buf req = {0};
    tu_buf resp = {0};
    teeu_status st = tu_wire_new_nonce(nonce);
    if (st == TEEU_OK)
        st = tu_wire_build_get_ra_cert_pems(nonce, &req);
    tu_rpc_call_opts o = call_opts(opts, true);
    if (st == TEEU_OK)
        st = tu_rpc_unary(ch, TU_AM_GET_RA_CERT_PEMS, req.data, req.len, &resp, &o);
    tu_buf_free(&req);
    if (st != TEEU_OK) {
        tu_buf_free(&resp);
        return st;
    }
    Secretflowapis__V1__Sdc__Dataagent__GetRaCertPemsResponse *r = NULL;
    const Secretflowapis__V1__Sdc__Dataagent__ReportWithCertPem *pick = NULL;
    st = tu_wire_parse_get_ra_cert_pems(resp.data, resp.len, nonce, &r, &pick);
    tu_buf_free(&resp);
    if (st != TEEU_OK)
        return tu_error_context(st, "AuthManager at %s", tu_rpc_channel_endpoint(ch));
    if (check) {
        st = check(check_ctx, pick->attestation_report, pick->cert_pem, nonce);
        if (st != TEEU_OK)
            st = tu_error_context(st, "AuthManager at %s failed its attestation check", tu_rpc_channel_endpoint(ch));
    }
    if (st == TEEU_OK) {
        st = teeu_key_load_public_pem(pick->cert_pem, strlen(pick->cert_pem), TEEU_PEER_KEY_MIN_BITS, am_key);
        if (st != TEEU_OK)
            st = tu_error_context(st, "AuthManager at %s sent an unusable key", tu_rpc_channel_endpoint(ch));
    }
    if (st == TEEU_OK && cert_pem && !(*cert_pem = tu_strdup(pick->cert_pem)))
        st = tu_error(TEEU_ERR_NOMEM, "out of memory copying the AuthManager key");
    if (st != TEEU_OK) {
        teeu_key_free(*am_key);
        *am_key = NULL;
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return st;
}

/* Builds, calls, and hands the response bytes to the parser. */
typedef teeu_status (*parse_fn)(const uint8_t *msg, size_t len);

static teeu_status simple_call(tu_rpc_channel *ch, const char *method, tu_buf *req, parse_fn parse,
                               const tu_rpc_call_opts *opts)
{
    tu_buf resp = {0};
    teeu_status st = tu_rpc_unary(ch, method, req->data, req->len, &resp, opts);
    if (st == TEEU_OK) {
        st = parse(resp.data, resp.len);
        if (st != TEEU_OK)
            st = tu_error_context(st, "AuthManager at %s", tu_rpc_channel_endpoint(ch));
    }
    tu_buf_free(&resp);
    return st;
}

teeu_status tu_am_register_ins_pub_key(tu_rpc_channel *ch, const teeu_key *party, const tu_rpc_call_opts *opts)
{
    if (!ch)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "RegisterInsPubKey: channel is required");
    tu_buf req = {0};
    teeu_status st = tu_wire_build_register_ins_pub_key(party, &req);
    tu_rpc_call_opts o = call_opts(opts, true);
    if (st == TEEU_OK)
        st = simple_call(ch, TU_AM_REGISTER_INS_PUB_KEY, &req, tu_wire_parse_register_ins_pub_key, &o);
    tu_buf_free(&req);
    return st;
}

teeu_status tu_am_create_data_with_auth(tu_rpc_channel *ch, const teeu_key *party, const teeu_key *am_key,
                                        const tu_wire_data_auth *auth, const tu_rpc_call_opts *opts,
                                        tu_buf *data_auth_out)
{
    if (!ch)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "CreateDataWithAuth: channel is required");
    tu_buf req = {.secret = false};
    teeu_status st = tu_wire_build_create_data_with_auth(party, am_key, auth, &req);
    if (st == TEEU_OK && data_auth_out != NULL)
        st = tu_wire_data_auth_of_request(req.data, req.len, data_auth_out);
    tu_rpc_call_opts o = call_opts(opts, false);
    if (st == TEEU_OK)
        st = simple_call(ch, TU_AM_CREATE_DATA_WITH_AUTH, &req, tu_wire_parse_create_data_with_auth, &o);
    tu_buf_free(&req);
    return st;
}

teeu_status tu_am_get_export_data_key(tu_rpc_channel *ch, const teeu_key *requester, const char *data_uuid,
                                      const tu_rpc_call_opts *opts, uint8_t key[TU_WIRE_DATA_KEY_LEN])
{
    if (!ch || !key)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "GetExportDataKey: channel and output are required");
    tu_buf req = {0};
    tu_buf resp = {0};
    teeu_status st = tu_wire_build_get_export_data_key(requester, data_uuid, &req);
    tu_rpc_call_opts o = call_opts(opts, true);
    if (st == TEEU_OK)
        st = tu_rpc_unary(ch, TU_AM_GET_EXPORT_DATA_KEY, req.data, req.len, &resp, &o);
    if (st == TEEU_OK) {
        st = tu_wire_parse_get_export_data_key(resp.data, resp.len, requester, data_uuid, key);
        if (st != TEEU_OK)
            st = tu_error_context(st, "AuthManager at %s", tu_rpc_channel_endpoint(ch));
    }
    tu_buf_free(&req);
    tu_buf_free(&resp);
    return st;
}

teeu_status tu_am_get_compute_meta(tu_rpc_channel *ch, const tu_wire_task *task, teeu_key *fresh_key,
                                   tu_am_report_fn report_fn, void *report_ctx, const tu_rpc_call_opts *opts,
                                   uint8_t **keys)
{
    teeu_key *fresh = fresh_key;
    if (!ch || !task || !keys) {
        teeu_key_free(fresh);
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "GetComputeMeta: channel, task and output are required");
    }
    *keys = NULL;
    char *pem = NULL;
    size_t pem_len = 0;
    tu_buf params = {0};
    tu_buf report = {0};
    tu_buf req = {0};
    tu_buf resp = {0};
    teeu_status st = fresh != NULL ? TEEU_OK : teeu_key_generate(3072, &fresh);
    if (st == TEEU_OK)
        st = teeu_key_public_pem(fresh, &pem, &pem_len);
    if (st == TEEU_OK)
        st = tu_wire_build_tee_task_params(task, &params);
    if (st == TEEU_OK && report_fn) {
        char user_data[65];
        st = tu_wire_compute_meta_user_data(params.data, params.len, pem, user_data);
        if (st == TEEU_OK)
            st = report_fn(report_ctx, user_data, &report);
        if (st == TEEU_OK && report.len == 0)
            st = tu_error(TEEU_ERR_INVALID_ARGUMENT, "the report hook produced an empty report");
        if (st != TEEU_OK)
            st = tu_error_context(st, "GetComputeMeta: producing the attestation report");
    }
    if (st == TEEU_OK)
        st = tu_wire_build_get_compute_meta(params.data, params.len, pem, report.len ? report.data : NULL,
                                            report.len, &req);
    tu_rpc_call_opts o = call_opts(opts, true);
    if (st == TEEU_OK)
        st = tu_rpc_unary(ch, TU_AM_GET_COMPUTE_META, req.data, req.len, &resp, &o);
    if (st == TEEU_OK) {
        st = tu_wire_parse_get_compute_meta(resp.data, resp.len, fresh, task, keys);
        if (st != TEEU_OK)
            st = tu_error_context(st, "AuthManager at %s", tu_rpc_channel_endpoint(ch));
    }
    tu_buf_free(&params);
    tu_buf_free(&report);
    tu_buf_free(&req);
    tu_buf_free(&resp);
    teeu_free(pem);
    teeu_key_free(fresh);
    return st;
}
