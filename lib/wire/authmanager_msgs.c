/*
 * AuthManager request construction and response parsing (docs/WIRE.md).
 * Every signature, MAC and sealed key follows WIRE.md byte for byte; the
 * Python test AuthManager recomputes each of them independently.
 */
#include <string.h>

#include "crypto/crypto_internal.h"
#include "wire/wire_internal.h"

/* protobuf-c wants char * for string fields it never writes to. */
#define PB_STR(s) ((char *)((s) ? (s) : ""))

static teeu_status pack_into(const ProtobufCMessage *m, tu_buf *out)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    teeu_status st = tu_buf_reserve(out, n ? n : 1);
    if (st != TEEU_OK)
        return st;
    protobuf_c_message_pack(m, out->data + out->len);
    out->len += n;
    return TEEU_OK;
}

static teeu_status unpack(const ProtobufCMessageDescriptor *d, const uint8_t *msg, size_t len, const char *what,
                          ProtobufCMessage **out)
{
    if (!msg && len)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "%s: NULL message", what);
    static const uint8_t empty[1] = {0};
    *out = protobuf_c_message_unpack(d, NULL, len, msg ? msg : empty);
    if (!*out)
        return tu_error(TEEU_ERR_PROTOBUF, "%s: the AuthManager's answer is not a valid %s message (%zu bytes)",
                        what, d->name, len);
    return TEEU_OK;
}

teeu_status tu_wire_check_status(const Secretflowapis__V1__Status *status, const char *what, bool already_exists_ok)
{
    if (!status || status->code == 0)
        return TEEU_OK;
    if (already_exists_ok && status->code == 6)
        return TEEU_OK;
    teeu_status st = status->code > 0 && status->code <= 16 ? (teeu_status)(300 + status->code) : TEEU_ERR_RPC_UNKNOWN;
    /* The message is remote text: keep it printable and bounded. */
    char msg[512];
    size_t o = 0;
    for (const char *p = status->message ? status->message : ""; *p && o + 1 < sizeof msg; p++)
        msg[o++] = ((unsigned char)*p < 0x20 || *p == 0x7f) ? '?' : *p;
    msg[o] = '\0';
    return tu_error(st, "%s: AuthManager answered status %d: %s", what, (int)status->code, o ? msg : "(no message)");
}

/* ---- validation of caller input ---------------------------------------------- */

static bool is_hex_string(const char *s, size_t want_len, bool lower_only)
{
    if (!s || strlen(s) != want_len)
        return false;
    for (const char *p = s; *p; p++) {
        bool ok = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (!lower_only && *p >= 'A' && *p <= 'F');
        if (!ok)
            return false;
    }
    return true;
}

static teeu_status check_uuid(const char *uuid, const char *what)
{
    if (!is_hex_string(uuid, TU_WIRE_UUID_HEX_LEN, true))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "%s: data_uuid \"%.64s\" must be 32 lowercase hex digits", what,
                        uuid ? uuid : "(null)");
    return TEEU_OK;
}

/* Identifiers that end up inside JSON or signatures: printable, no quotes. */
static teeu_status check_token(const char *s, const char *kind)
{
    if (!s || !*s || strlen(s) > 1024)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "%s must be a non-empty string of at most 1024 characters", kind);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\')
            return tu_error(TEEU_ERR_INVALID_ARGUMENT, "%s \"%.64s\" contains a character not allowed there", kind, s);
    }
    return TEEU_OK;
}

/* ---- GetRaCertPems ------------------------------------------------------------- */

teeu_status tu_wire_new_nonce(char out[TU_WIRE_NONCE_HEX_LEN + 1])
{
    uint8_t raw[TU_WIRE_NONCE_HEX_LEN / 2];
    teeu_status st = tu_random(raw, sizeof raw);
    if (st != TEEU_OK)
        return st;
    tu_hex_encode_to(raw, sizeof raw, true, out);
    return TEEU_OK;
}

teeu_status tu_wire_build_get_ra_cert_pems(const char *nonce, tu_buf *out)
{
    if (!is_hex_string(nonce, TU_WIRE_NONCE_HEX_LEN, false) || !out)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "GetRaCertPems: the nonce must be 64 hex digits");
    Secretflowapis__V1__Sdc__Dataagent__GetRaCertPemsRequest req =
        SECRETFLOWAPIS__V1__SDC__DATAAGENT__GET_RA_CERT_PEMS_REQUEST__INIT;
    char *nonces[1] = {PB_STR(nonce)};
    req.secret_shard_num = 1;
    req.n_nonces = 1;
    req.nonces = nonces;
    return pack_into(&req.base, out);
}

teeu_status tu_wire_parse_get_ra_cert_pems(const uint8_t *msg, size_t len, const char *nonce,
                                           Secretflowapis__V1__Sdc__Dataagent__GetRaCertPemsResponse **resp,
                                           const Secretflowapis__V1__Sdc__Dataagent__ReportWithCertPem **chosen)
{
    *resp = NULL;
    *chosen = NULL;
    ProtobufCMessage *m = NULL;
    teeu_status st = unpack(&secretflowapis__v1__sdc__dataagent__get_ra_cert_pems_response__descriptor, msg, len,
                            "GetRaCertPems", &m);
    if (st != TEEU_OK)
        return st;
    Secretflowapis__V1__Sdc__Dataagent__GetRaCertPemsResponse *r = (void *)m;
    st = tu_wire_check_status(r->status, "GetRaCertPems", false);
    const Secretflowapis__V1__Sdc__Dataagent__ReportWithCertPem *pick = NULL;
    for (size_t i = 0; st == TEEU_OK && i < r->n_report_with_certs; i++) {
        if (r->report_with_certs[i] && r->report_with_certs[i]->secret_shard_id == 0) {
            pick = r->report_with_certs[i];
            break;
        }
    }
    if (st == TEEU_OK && (!pick || !pick->cert_pem || !*pick->cert_pem))
        st = tu_error(TEEU_ERR_PROTOBUF, "GetRaCertPems: the answer holds no certificate for shard 0");
    if (st == TEEU_OK && pick->nonce && *pick->nonce && strcmp(pick->nonce, nonce) != 0)
        st = tu_error(TEEU_ERR_REPORT_DATA,
                      "GetRaCertPems: the answer is for another nonce (a replayed or mixed-up response)");
    if (st != TEEU_OK) {
        protobuf_c_message_free_unpacked(m, NULL);
        return st;
    }
    *resp = r;
    *chosen = pick;
    return TEEU_OK;
}

/* ---- RegisterInsPubKey --------------------------------------------------------- */

static teeu_status public_key_msg(const teeu_key *key, char **pem, Secretflowapis__V1__Sdc__PublicKey *pk)
{
    size_t pem_len = 0;
    teeu_status st = teeu_key_public_pem(key, pem, &pem_len);
    if (st != TEEU_OK)
        return st;
    Secretflowapis__V1__Sdc__PublicKey init = SECRETFLOWAPIS__V1__SDC__PUBLIC_KEY__INIT;
    *pk = init;
    pk->scheme = (char *)"RSA";
    pk->public_key = *pem;
    return TEEU_OK;
}

teeu_status tu_wire_build_register_ins_pub_key(const teeu_key *party, tu_buf *out)
{
    if (!party || !out || !teeu_key_is_private(party))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "RegisterInsPubKey needs the party's private key");
    char owner_id[TEEU_OWNER_ID_LEN + 1];
    teeu_status st = teeu_key_owner_id(party, owner_id);
    if (st != TEEU_OK)
        return st;
    char *pem = NULL;
    Secretflowapis__V1__Sdc__PublicKey pk;
    st = public_key_msg(party, &pem, &pk);
    if (st != TEEU_OK)
        return st;
    tu_buf pk_bytes = {0};
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    st = pack_into(&pk.base, &pk_bytes);
    if (st == TEEU_OK) {
        tu_bytes parts[2] = {TU_STR(owner_id), TU_BYTES(pk_bytes.data, pk_bytes.len)};
        st = tu_rsa_sign(party, parts, 2, &sig, &sig_len);
    }
    if (st == TEEU_OK) {
        Secretflowapis__V1__Sdc__Dataagent__RegisterInsPubKeyRequest req =
            SECRETFLOWAPIS__V1__SDC__DATAAGENT__REGISTER_INS_PUB_KEY_REQUEST__INIT;
        req.ins_id = owner_id;
        req.public_key = &pk;
        req.signature.data = sig;
        req.signature.len = sig_len;
        st = pack_into(&req.base, out);
    }
    free(sig);
    tu_buf_free(&pk_bytes);
    free(pem);
    return st;
}

teeu_status tu_wire_parse_register_ins_pub_key(const uint8_t *msg, size_t len)
{
    ProtobufCMessage *m = NULL;
    teeu_status st = unpack(&secretflowapis__v1__sdc__dataagent__register_ins_pub_key_response__descriptor, msg,
                            len, "RegisterInsPubKey", &m);
    if (st != TEEU_OK)
        return st;
    st = tu_wire_check_status(((Secretflowapis__V1__Sdc__Dataagent__RegisterInsPubKeyResponse *)m)->status,
                              "RegisterInsPubKey", true);
    protobuf_c_message_free_unpacked(m, NULL);
    return st;
}

/* ---- CreateDataWithAuth -------------------------------------------------------- */

teeu_status tu_wire_extra_limits(const char *const *function_ids, size_t n, char **out)
{
    *out = NULL;
    tu_buf b = {0};
    teeu_status st = tu_buf_append_str(&b, "{\"limit_functions\": [");
    for (size_t i = 0; st == TEEU_OK && i < n; i++) {
        st = check_token(function_ids[i], "function id");
        if (st == TEEU_OK)
            st = tu_buf_printf(&b, "%s\"%s\"", i ? ", " : "", function_ids[i]);
    }
    if (st == TEEU_OK)
        st = tu_buf_append(&b, "]}", 3); /* with the NUL */
    if (st != TEEU_OK) {
        tu_buf_free(&b);
        return st;
    }
    *out = (char *)tu_buf_release(&b, NULL);
    return TEEU_OK;
}

/* Everything a CreateDataWithAuth request owns while it is built. */
typedef struct cdwa {
    char owner_id[TEEU_OWNER_ID_LEN + 1];
    uint8_t *enc_key;
    size_t enc_key_len;
    uint8_t mac[TU_SHA256_LEN];
    uint8_t *seg_sig;
    size_t seg_sig_len;
    uint8_t *auth_sig;
    size_t auth_sig_len;
    char *extra_limits;
    Secretflowapis__V1__Sdc__EnclaveInfo *apps;
    Secretflowapis__V1__Sdc__EnclaveInfo **app_ptrs;
    tu_buf *app_bytes;
    size_t n_apps;
    tu_bytes *parts;
} cdwa;

static void cdwa_free(cdwa *c)
{
    free(c->enc_key);
    free(c->seg_sig);
    free(c->auth_sig);
    free(c->extra_limits);
    free(c->apps);
    free(c->app_ptrs);
    for (size_t i = 0; c->app_bytes && i < c->n_apps; i++)
        tu_buf_free(&c->app_bytes[i]);
    free(c->app_bytes);
    free(c->parts);
    tu_wipe(c->mac, sizeof c->mac);
}

static teeu_status check_data_auth(const tu_wire_data_auth *a)
{
    teeu_status st = check_uuid(a->data_uuid, "CreateDataWithAuth");
    if (st != TEEU_OK)
        return st;
    if (!a->data_key || a->data_key_len != TU_WIRE_DATA_KEY_LEN)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "CreateDataWithAuth: the data key must be %d bytes",
                        TU_WIRE_DATA_KEY_LEN);
    for (size_t i = 0; i < a->n_allowed_ins_ids; i++)
        if ((st = check_token(a->allowed_ins_ids[i], "allowed ins_id")) != TEEU_OK)
            return st;
    for (size_t i = 0; i < a->n_allowed_mrenclaves; i++)
        if (!is_hex_string(a->allowed_mrenclaves[i], 64, false))
            return tu_error(TEEU_ERR_INVALID_ARGUMENT, "allowed MRENCLAVE \"%.70s\" must be 64 hex digits",
                            a->allowed_mrenclaves[i] ? a->allowed_mrenclaves[i] : "(null)");
    for (size_t i = 0; i < a->n_operators; i++)
        if ((st = check_token(a->operators[i], "operator")) != TEEU_OK)
            return st;
    if ((a->n_allowed_ins_ids && !a->allowed_ins_ids) || (a->n_allowed_mrenclaves && !a->allowed_mrenclaves) ||
        (a->n_function_ids && !a->function_ids) || (a->n_operators && !a->operators))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "CreateDataWithAuth: a list with a count has no items");
    return TEEU_OK;
}

teeu_status tu_wire_presign_segment(const teeu_key *party, const teeu_key *am_key, const char *data_uuid,
                                    const uint8_t *data_key, size_t data_key_len, uint8_t **enc_key,
                                    size_t *enc_key_len, uint8_t mac[32], uint8_t **seg_sig,
                                    size_t *seg_sig_len)
{
    static const uint8_t le0[4] = {0, 0, 0, 0}; /* LE32(segment_id 0), LE32(secret_shard_id 0) */
    *enc_key = NULL;
    *seg_sig = NULL;
    teeu_status st = check_uuid(data_uuid, "CreateDataWithAuth");
    if (st != TEEU_OK)
        return st;
    if (!party || !am_key || !data_key || data_key_len != TU_WIRE_DATA_KEY_LEN)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "CreateDataWithAuth: the party key, the AuthManager key and a "
                        "%d-byte data key are required", TU_WIRE_DATA_KEY_LEN);
    st = tu_rsa_oaep_encrypt(am_key, data_key, data_key_len, enc_key, enc_key_len);
    if (st != TEEU_OK)
        return tu_error_context(st, "sealing the data key to the AuthManager");
    tu_bytes mac_parts[4] = {TU_STR(data_uuid), TU_STR(TU_WIRE_PARTITION_ID), TU_BYTES(le0, 4), TU_BYTES(le0, 4)};
    st = tu_hmac_sha256_sep(data_key, data_key_len, mac_parts, 4, mac);
    if (st == TEEU_OK) {
        tu_bytes sig_parts[5] = {TU_STR(data_uuid), TU_STR(TU_WIRE_PARTITION_ID), TU_BYTES(le0, 4),
                                 TU_BYTES(le0, 4), TU_BYTES(data_key, data_key_len)};
        st = tu_rsa_sign(party, sig_parts, 5, seg_sig, seg_sig_len);
    }
    if (st != TEEU_OK) {
        free(*enc_key);
        *enc_key = NULL;
        tu_wipe(mac, 32);
    }
    return st;
}

static teeu_status copy_bytes(const uint8_t *src, size_t len, uint8_t **dst, size_t *dst_len)
{
    *dst = malloc(len ? len : 1);
    if (*dst == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory building CreateDataWithAuth");
    memcpy(*dst, src, len);
    *dst_len = len;
    return TEEU_OK;
}

/* Steps 3-5: the sealed key, its MAC and the owner's signature over it (or the precomputed ones). */
static teeu_status build_segment(cdwa *c, const teeu_key *party, const teeu_key *am_key, const tu_wire_data_auth *a)
{
    const tu_wire_presigned *p = a->presigned;
    if (p == NULL)
        return tu_wire_presign_segment(party, am_key, a->data_uuid, a->data_key, a->data_key_len, &c->enc_key,
                                       &c->enc_key_len, c->mac, &c->seg_sig, &c->seg_sig_len);
    if (!p->enc_key || !p->mac || !p->seg_sig)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "CreateDataWithAuth: precomputed parts lack the sealed key, "
                        "MAC or segment signature");
    memcpy(c->mac, p->mac, sizeof c->mac);
    teeu_status st = copy_bytes(p->enc_key, p->enc_key_len, &c->enc_key, &c->enc_key_len);
    if (st == TEEU_OK)
        st = copy_bytes(p->seg_sig, p->seg_sig_len, &c->seg_sig, &c->seg_sig_len);
    return st;
}

/* Step 6: the EnclaveInfos, extra_limits and the DataAuth signature. */
static teeu_status build_auth_signature(cdwa *c, const teeu_key *party, const tu_wire_data_auth *a,
                                        const char *const *ins_ids, size_t n_ins)
{
    teeu_status st = TEEU_OK;
    if (a->n_function_ids)
        st = tu_wire_extra_limits(a->function_ids, a->n_function_ids, &c->extra_limits);
    else
        c->extra_limits = tu_strdup("");
    if (st != TEEU_OK)
        return st;
    c->n_apps = a->n_allowed_mrenclaves;
    c->apps = tu_alloc_array(c->n_apps ? c->n_apps : 1, sizeof *c->apps);
    c->app_ptrs = tu_alloc_array(c->n_apps ? c->n_apps : 1, sizeof *c->app_ptrs);
    c->app_bytes = calloc(c->n_apps ? c->n_apps : 1, sizeof *c->app_bytes);
    size_t n_parts = 2 + n_ins + c->n_apps + a->n_operators;
    c->parts = tu_alloc_array(n_parts, sizeof *c->parts);
    if (!c->extra_limits || !c->apps || !c->app_ptrs || !c->app_bytes || !c->parts)
        return tu_error(TEEU_ERR_NOMEM, "out of memory building a DataAuth");
    size_t k = 0;
    c->parts[k++] = TU_STR(a->data_uuid);
    for (size_t i = 0; i < n_ins; i++)
        c->parts[k++] = TU_STR(ins_ids[i]);
    for (size_t i = 0; i < c->n_apps; i++) {
        Secretflowapis__V1__Sdc__EnclaveInfo init = SECRETFLOWAPIS__V1__SDC__ENCLAVE_INFO__INIT;
        c->apps[i] = init;
        c->apps[i].hex_mrenclave = PB_STR(a->allowed_mrenclaves[i]);
        c->app_ptrs[i] = &c->apps[i];
        /* protobuf-c writes fields in number order without unknowns: the
         * deterministic serialization the signature covers. */
        st = pack_into(&c->apps[i].base, &c->app_bytes[i]);
        if (st != TEEU_OK)
            return st;
        c->parts[k++] = TU_BYTES(c->app_bytes[i].data, c->app_bytes[i].len);
    }
    for (size_t i = 0; i < a->n_operators; i++)
        c->parts[k++] = TU_STR(a->operators[i]);
    c->parts[k++] = TU_STR(c->extra_limits);
    if (a->presigned != NULL && a->presigned->auth_sig != NULL)
        return copy_bytes(a->presigned->auth_sig, a->presigned->auth_sig_len, &c->auth_sig, &c->auth_sig_len);
    return tu_rsa_sign(party, c->parts, k, &c->auth_sig, &c->auth_sig_len);
}

teeu_status tu_wire_sign_data_auth(const teeu_key *party, const tu_wire_data_auth *a, uint8_t **sig,
                                   size_t *sig_len)
{
    *sig = NULL;
    if (!party || !a || !teeu_key_is_private(party))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "signing a DataAuth needs the party's private key and the object");
    tu_wire_data_auth plain = *a;
    plain.presigned = NULL;
    static const uint8_t unused_key[TU_WIRE_DATA_KEY_LEN];
    plain.data_key = unused_key; /* only the policy and the uuid are signed; check_data_auth wants a key */
    plain.data_key_len = sizeof unused_key;
    teeu_status st = check_data_auth(&plain);
    if (st != TEEU_OK)
        return st;
    static const char *const all[1] = {"all"};
    cdwa c;
    memset(&c, 0, sizeof c);
    st = build_auth_signature(&c, party, &plain, plain.n_allowed_ins_ids ? plain.allowed_ins_ids : all,
                              plain.n_allowed_ins_ids ? plain.n_allowed_ins_ids : 1);
    if (st == TEEU_OK) {
        *sig = c.auth_sig;
        *sig_len = c.auth_sig_len;
        c.auth_sig = NULL;
    }
    cdwa_free(&c);
    return st;
}

teeu_status tu_wire_build_create_data_with_auth(const teeu_key *party, const teeu_key *am_key,
                                                const tu_wire_data_auth *a, tu_buf *out)
{
    if (!party || !am_key || !a || !out || !teeu_key_is_private(party))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT,
                        "CreateDataWithAuth needs the party's private key, the AuthManager key and the object");
    teeu_status st = check_data_auth(a);
    if (st != TEEU_OK)
        return st;
    static const char *const all[1] = {"all"};
    const char *const *ins_ids = a->n_allowed_ins_ids ? a->allowed_ins_ids : all;
    size_t n_ins = a->n_allowed_ins_ids ? a->n_allowed_ins_ids : 1;

    cdwa c;
    memset(&c, 0, sizeof c);
    st = teeu_key_owner_id(party, c.owner_id);
    if (st == TEEU_OK)
        st = build_segment(&c, party, am_key, a);
    if (st == TEEU_OK)
        st = build_auth_signature(&c, party, a, ins_ids, n_ins);
    if (st != TEEU_OK) {
        cdwa_free(&c);
        return st;
    }

    Secretflowapis__V1__Sdc__SegmentDataMeta seg = SECRETFLOWAPIS__V1__SDC__SEGMENT_DATA_META__INIT;
    seg.segment_id = 0;
    seg.secret_shard_id = 0;
    seg.encrypted_data_key = (ProtobufCBinaryData){c.enc_key_len, c.enc_key};
    seg.mac = (ProtobufCBinaryData){sizeof c.mac, c.mac};
    seg.signature = (ProtobufCBinaryData){c.seg_sig_len, c.seg_sig};
    Secretflowapis__V1__Sdc__SegmentDataMeta *segs[1] = {&seg};

    Secretflowapis__V1__Sdc__PartitionDataMeta part = SECRETFLOWAPIS__V1__SDC__PARTITION_DATA_META__INIT;
    part.partition_id = (char *)TU_WIRE_PARTITION_ID;
    part.segment_num = 1;
    part.n_segment_data = 1;
    part.segment_data = segs;
    Secretflowapis__V1__Sdc__PartitionDataMeta *parts[1] = {&part};

    Secretflowapis__V1__Sdc__DataMeta meta = SECRETFLOWAPIS__V1__SDC__DATA_META__INIT;
    meta.data_uuid = PB_STR(a->data_uuid);
    meta.owner_id = c.owner_id;
    meta.name = PB_STR(a->name);
    meta.description = PB_STR(a->description);
    meta.data_type = (char *)"NONE";
    meta.source_type = (char *)"USER";
    meta.partition_num = 1;
    meta.secret_shard_num = 1;
    meta.n_partition_data = 1;
    meta.partition_data = parts;

    Secretflowapis__V1__Sdc__DataAuth auth = SECRETFLOWAPIS__V1__SDC__DATA_AUTH__INIT;
    auth.data_uuid = PB_STR(a->data_uuid);
    auth.data_owner_id = c.owner_id;
    auth.n_allowed_ins_ids = n_ins;
    auth.allowed_ins_ids = (char **)ins_ids;
    auth.n_allowed_apps = c.n_apps;
    auth.allowed_apps = c.app_ptrs;
    auth.n_operators = a->n_operators;
    auth.operators = (char **)a->operators;
    auth.extra_limits = c.extra_limits;
    auth.signature = (ProtobufCBinaryData){c.auth_sig_len, c.auth_sig};

    Secretflowapis__V1__Sdc__Dataagent__CreateDataWithAuthRequest req =
        SECRETFLOWAPIS__V1__SDC__DATAAGENT__CREATE_DATA_WITH_AUTH_REQUEST__INIT;
    req.data_info = &meta;
    req.data_auth = &auth;
    st = pack_into(&req.base, out);
    cdwa_free(&c);
    return st;
}

teeu_status tu_wire_parse_create_data_with_auth(const uint8_t *msg, size_t len)
{
    ProtobufCMessage *m = NULL;
    teeu_status st = unpack(&secretflowapis__v1__sdc__dataagent__create_data_with_auth_response__descriptor, msg,
                            len, "CreateDataWithAuth", &m);
    if (st != TEEU_OK)
        return st;
    st = tu_wire_check_status(((Secretflowapis__V1__Sdc__Dataagent__CreateDataWithAuthResponse *)m)->status,
                              "CreateDataWithAuth", false);
    protobuf_c_message_free_unpacked(m, NULL);
    return st;
}

/* ---- GetExportDataKey ----------------------------------------------------------- */

teeu_status tu_wire_build_get_export_data_key(const teeu_key *requester, const char *data_uuid, tu_buf *out)
{
    if (!requester || !out)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "GetExportDataKey needs the requester's key");
    teeu_status st = check_uuid(data_uuid, "GetExportDataKey");
    if (st != TEEU_OK)
        return st;
    char *pem = NULL;
    Secretflowapis__V1__Sdc__PublicKey pk;
    st = public_key_msg(requester, &pem, &pk);
    if (st != TEEU_OK)
        return st;
    Secretflowapis__V1__Sdc__Authmanager__GetExportDataKeyRequest req =
        SECRETFLOWAPIS__V1__SDC__AUTHMANAGER__GET_EXPORT_DATA_KEY_REQUEST__INIT;
    req.data_uuid = PB_STR(data_uuid);
    req.partition_id = (char *)TU_WIRE_PARTITION_ID;
    req.public_key = &pk;
    st = pack_into(&req.base, out);
    free(pem);
    return st;
}

/* Wipes every key-bearing field of an unpacked message before freeing it. */
static void wipe_segment(Secretflowapis__V1__Sdc__SegmentDataMeta *s)
{
    if (s && s->encrypted_data_key.data)
        tu_wipe(s->encrypted_data_key.data, s->encrypted_data_key.len);
}

teeu_status tu_wire_parse_get_export_data_key(const uint8_t *msg, size_t len, const teeu_key *requester,
                                              const char *data_uuid, uint8_t key[TU_WIRE_DATA_KEY_LEN])
{
    ProtobufCMessage *m = NULL;
    teeu_status st = unpack(&secretflowapis__v1__sdc__authmanager__get_export_data_key_response__descriptor, msg,
                            len, "GetExportDataKey", &m);
    if (st != TEEU_OK)
        return st;
    Secretflowapis__V1__Sdc__Authmanager__GetExportDataKeyResponse *r = (void *)m;
    st = tu_wire_check_status(r->status, "GetExportDataKey", false);
    Secretflowapis__V1__Sdc__SegmentDataMeta *seg = NULL;
    if (st == TEEU_OK && (r->n_data_keys < 1 || !(seg = r->data_keys[0])))
        st = tu_error(TEEU_ERR_PROTOBUF, "GetExportDataKey: the answer holds no data key");
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    if (st == TEEU_OK)
        st = tu_rsa_oaep_decrypt(requester, seg->encrypted_data_key.data, seg->encrypted_data_key.len, &plain,
                                 &plain_len);
    if (st == TEEU_OK && plain_len != TU_WIRE_DATA_KEY_LEN)
        st = tu_error(TEEU_ERR_PROTOBUF, "GetExportDataKey: the data key is %zu bytes, expected %d", plain_len,
                      TU_WIRE_DATA_KEY_LEN);
    if (st == TEEU_OK && seg->mac.len) {
        uint8_t le_seg[4], le_shard[4], mac[TU_SHA256_LEN];
        for (int i = 0; i < 4; i++) {
            le_seg[i] = (uint8_t)((uint32_t)seg->segment_id >> (8 * i));
            le_shard[i] = (uint8_t)((uint32_t)seg->secret_shard_id >> (8 * i));
        }
        tu_bytes parts[4] = {TU_STR(data_uuid), TU_STR(TU_WIRE_PARTITION_ID), TU_BYTES(le_seg, 4),
                             TU_BYTES(le_shard, 4)};
        st = tu_hmac_sha256_sep(plain, plain_len, parts, 4, mac);
        if (st == TEEU_OK && (seg->mac.len != sizeof mac || !tu_ct_equal(mac, seg->mac.data, sizeof mac)))
            st = tu_error(TEEU_ERR_SIGNATURE, "GetExportDataKey: the data key's MAC does not match data %s",
                          data_uuid);
        tu_wipe(mac, sizeof mac);
    }
    if (st == TEEU_OK)
        memcpy(key, plain, TU_WIRE_DATA_KEY_LEN);
    tu_free_secret(plain, plain_len);
    for (size_t i = 0; i < r->n_data_keys; i++)
        wipe_segment(r->data_keys[i]);
    protobuf_c_message_free_unpacked(m, NULL);
    return st;
}

/* ---- GetComputeMeta ---------------------------------------------------------------- */

typedef struct task_msg {
    Secretflowapis__V1__Sdc__Teeapps__TeeTaskParams params;
    Secretflowapis__V1__Sdc__Teeapps__TeeTaskParams__Input *inputs;
    Secretflowapis__V1__Sdc__Teeapps__TeeTaskParams__Input **input_ptrs;
} task_msg;

static teeu_status task_msg_init(const tu_wire_task *t, task_msg *tm)
{
    memset(tm, 0, sizeof *tm);
    if (!t || !t->code || (t->n_inputs && !t->data_uuids))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "GetComputeMeta: the task needs a code and its inputs");
    for (size_t i = 0; i < t->n_inputs; i++) {
        teeu_status st = check_uuid(t->data_uuids[i], "GetComputeMeta input");
        if (st != TEEU_OK)
            return st;
    }
    Secretflowapis__V1__Sdc__Teeapps__TeeTaskParams init = SECRETFLOWAPIS__V1__SDC__TEEAPPS__TEE_TASK_PARAMS__INIT;
    tm->params = init;
    tm->inputs = tu_alloc_array(t->n_inputs ? t->n_inputs : 1, sizeof *tm->inputs);
    tm->input_ptrs = tu_alloc_array(t->n_inputs ? t->n_inputs : 1, sizeof *tm->input_ptrs);
    if (!tm->inputs || !tm->input_ptrs) {
        free(tm->inputs);
        free(tm->input_ptrs);
        return tu_error(TEEU_ERR_NOMEM, "out of memory building TeeTaskParams");
    }
    for (size_t i = 0; i < t->n_inputs; i++) {
        Secretflowapis__V1__Sdc__Teeapps__TeeTaskParams__Input in =
            SECRETFLOWAPIS__V1__SDC__TEEAPPS__TEE_TASK_PARAMS__INPUT__INIT;
        tm->inputs[i] = in;
        tm->inputs[i].data_uuid = PB_STR(t->data_uuids[i]);
        tm->inputs[i].partition_id = (char *)TU_WIRE_PARTITION_ID;
        tm->input_ptrs[i] = &tm->inputs[i];
    }
    tm->params.task_id = PB_STR(t->task_id);
    tm->params.requester_id = PB_STR(t->requester_id);
    tm->params.app_type = PB_STR(t->app_type);
    tm->params.code = PB_STR(t->code);
    tm->params.n_inputs = t->n_inputs;
    tm->params.inputs = tm->input_ptrs;
    return TEEU_OK;
}

static void task_msg_free(task_msg *tm)
{
    free(tm->inputs);
    free(tm->input_ptrs);
}

teeu_status tu_wire_build_tee_task_params(const tu_wire_task *task, tu_buf *out)
{
    task_msg tm;
    teeu_status st = task_msg_init(task, &tm);
    if (st != TEEU_OK)
        return st;
    st = pack_into(&tm.params.base, out);
    task_msg_free(&tm);
    return st;
}

teeu_status tu_wire_compute_meta_user_data(const uint8_t *task_params, size_t task_params_len,
                                           const char *public_key_pem, char out[65])
{
    if ((!task_params && task_params_len) || !public_key_pem)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "GetComputeMeta user data: NULL argument");
    uint8_t digest[TU_SHA256_LEN];
    tu_bytes parts[2] = {TU_BYTES(task_params, task_params_len), TU_STR(public_key_pem)};
    teeu_status st = tu_sha256_sep(parts, 2, digest);
    if (st != TEEU_OK)
        return st;
    tu_hex_encode_to(digest, sizeof digest, true, out);
    return TEEU_OK;
}

teeu_status tu_wire_build_get_compute_meta(const uint8_t *task_params, size_t task_params_len,
                                           const char *public_key_pem, const uint8_t *report, size_t report_len,
                                           tu_buf *out)
{
    if (!public_key_pem || !out)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "GetComputeMeta needs the fresh public key");
    ProtobufCMessage *params = NULL;
    ProtobufCMessage *rep = NULL;
    teeu_status st = unpack(&secretflowapis__v1__sdc__teeapps__tee_task_params__descriptor, task_params,
                            task_params_len, "GetComputeMeta task params", &params);
    if (st == TEEU_OK && report)
        st = unpack(&secretflowapis__v1__sdc__unified_attestation_report__descriptor, report, report_len,
                    "GetComputeMeta attestation report", &rep);
    if (st == TEEU_OK) {
        Secretflowapis__V1__Sdc__PublicKey pk = SECRETFLOWAPIS__V1__SDC__PUBLIC_KEY__INIT;
        pk.scheme = (char *)"RSA";
        pk.public_key = PB_STR(public_key_pem);
        Secretflowapis__V1__Sdc__Authmanager__GetComputeMetaRequest req =
            SECRETFLOWAPIS__V1__SDC__AUTHMANAGER__GET_COMPUTE_META_REQUEST__INIT;
        req.attestation_report = (Secretflowapis__V1__Sdc__UnifiedAttestationReport *)rep;
        req.tee_task_params = (Secretflowapis__V1__Sdc__Teeapps__TeeTaskParams *)params;
        req.public_key = &pk;
        st = pack_into(&req.base, out);
    }
    if (params)
        protobuf_c_message_free_unpacked(params, NULL);
    if (rep)
        protobuf_c_message_free_unpacked(rep, NULL);
    return st;
}

static void wipe_compute_meta(Secretflowapis__V1__Sdc__Authmanager__ComputeMeta *cm)
{
    for (size_t i = 0; i < cm->n_input_metas; i++) {
        Secretflowapis__V1__Sdc__DataUri *uri = cm->input_metas[i] ? cm->input_metas[i]->data_uri_with_dks : NULL;
        for (size_t p = 0; uri && p < uri->n_part_data_uris; p++) {
            Secretflowapis__V1__Sdc__PartitionDataUri *pu = uri->part_data_uris[p];
            for (size_t s = 0; pu && s < pu->n_seg_data_uris; s++) {
                Secretflowapis__V1__Sdc__SegmentDataUri *su = pu->seg_data_uris[s];
                if (su && su->optional_seg_case == SECRETFLOWAPIS__V1__SDC__SEGMENT_DATA_URI__OPTIONAL_SEG_DATA_KEY &&
                    su->data_key.data)
                    tu_wipe(su->data_key.data, su->data_key.len);
            }
        }
    }
}

/* The data key of input i: input_metas[i].data_uri_with_dks.part_data_uris[0].seg_data_uris[0].data_key. */
static teeu_status input_key(const Secretflowapis__V1__Sdc__Authmanager__ComputeMeta *cm, size_t i,
                             const char *data_uuid, uint8_t *out)
{
    const Secretflowapis__V1__Sdc__DataUri *uri = cm->input_metas[i] ? cm->input_metas[i]->data_uri_with_dks : NULL;
    if (!uri || uri->n_part_data_uris < 1 || !uri->part_data_uris[0] ||
        uri->part_data_uris[0]->n_seg_data_uris < 1 || !uri->part_data_uris[0]->seg_data_uris[0])
        return tu_error(TEEU_ERR_PROTOBUF, "GetComputeMeta: input %zu (%s) has no segment in the answer", i,
                        data_uuid);
    if (uri->data_uuid && *uri->data_uuid && strcmp(uri->data_uuid, data_uuid) != 0)
        return tu_error(TEEU_ERR_PROTOBUF, "GetComputeMeta: input %zu is %s but the answer is for %.40s", i,
                        data_uuid, uri->data_uuid);
    const Secretflowapis__V1__Sdc__SegmentDataUri *su = uri->part_data_uris[0]->seg_data_uris[0];
    if (su->optional_seg_case != SECRETFLOWAPIS__V1__SDC__SEGMENT_DATA_URI__OPTIONAL_SEG_DATA_KEY ||
        su->data_key.len != TU_WIRE_DATA_KEY_LEN)
        return tu_error(TEEU_ERR_PROTOBUF, "GetComputeMeta: input %zu (%s) carries no %d-byte data key", i,
                        data_uuid, TU_WIRE_DATA_KEY_LEN);
    memcpy(out, su->data_key.data, TU_WIRE_DATA_KEY_LEN);
    return TEEU_OK;
}

bool tu_wire_envelope_of_secret(const Secretflowapis__V1__Sdc__AsymmetricSecret *sec, tu_envelope *env)
{
    memset(env, 0, sizeof *env);
    const Secretflowapis__V1__Sdc__SymmetricSecret *sym = sec ? sec->symmetric_secret : NULL;
    if (sym == NULL || sym->initial_vector.len != TU_GCM_NONCE_LEN || sym->encrypted_data_cmac.len != TU_GCM_TAG_LEN)
        return false;
    env->sealed_key = sec->asymmetric_encrypted_key.data;
    env->sealed_key_len = sec->asymmetric_encrypted_key.len;
    env->ciphertext = sym->encrypted_data.data;
    env->ciphertext_len = sym->encrypted_data.len;
    memcpy(env->tag, sym->encrypted_data_cmac.data, TU_GCM_TAG_LEN);
    memcpy(env->nonce, sym->initial_vector.data, TU_GCM_NONCE_LEN);
    env->aad = sym->additional_authentication_data.data;
    env->aad_len = sym->additional_authentication_data.len;
    return true;
}

void tu_wire_secret_of_envelope(tu_envelope *env, Secretflowapis__V1__Sdc__SymmetricSecret *sym,
                                Secretflowapis__V1__Sdc__AsymmetricSecret *asym)
{
    secretflowapis__v1__sdc__symmetric_secret__init(sym);
    secretflowapis__v1__sdc__asymmetric_secret__init(asym);
    sym->encrypted_data = (ProtobufCBinaryData){env->ciphertext_len, env->ciphertext};
    sym->encrypted_data_cmac = (ProtobufCBinaryData){TU_GCM_TAG_LEN, env->tag};
    sym->initial_vector = (ProtobufCBinaryData){TU_GCM_NONCE_LEN, env->nonce};
    sym->additional_authentication_data = (ProtobufCBinaryData){env->aad_len, env->aad};
    asym->asymmetric_encrypted_key = (ProtobufCBinaryData){env->sealed_key_len, env->sealed_key};
    asym->symmetric_secret = sym;
}

static teeu_status open_compute_meta(const Secretflowapis__V1__Sdc__AsymmetricSecret *sec, const teeu_key *priv,
                                     uint8_t **payload, size_t *payload_len)
{
    const Secretflowapis__V1__Sdc__SymmetricSecret *sym = sec ? sec->symmetric_secret : NULL;
    if (!sym)
        return tu_error(TEEU_ERR_PROTOBUF, "GetComputeMeta: the answer holds no sealed response");
    tu_envelope env;
    if (!tu_wire_envelope_of_secret(sec, &env))
        return tu_error(TEEU_ERR_PROTOBUF, "GetComputeMeta: sealed response has a %zu-byte IV and a %zu-byte tag "
                        "(expected %d and %d)", sym->initial_vector.len, sym->encrypted_data_cmac.len,
                        TU_GCM_NONCE_LEN, TU_GCM_TAG_LEN);
    teeu_status st = tu_envelope_open(priv, &env, payload, payload_len);
    if (st != TEEU_OK)
        return tu_error_context(st, "GetComputeMeta: opening the sealed response");
    return TEEU_OK;
}

teeu_status tu_wire_parse_get_compute_meta(const uint8_t *msg, size_t len, const teeu_key *fresh_priv,
                                           const tu_wire_task *task, uint8_t **keys)
{
    *keys = NULL;
    if (!fresh_priv || !task || (task->n_inputs && !task->data_uuids))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "GetComputeMeta parse: NULL argument");
    ProtobufCMessage *m = NULL;
    teeu_status st = unpack(&secretflowapis__v1__sdc__authmanager__get_compute_meta_response__descriptor, msg, len,
                            "GetComputeMeta", &m);
    if (st != TEEU_OK)
        return st;
    Secretflowapis__V1__Sdc__Authmanager__GetComputeMetaResponse *r = (void *)m;
    st = tu_wire_check_status(r->status, "GetComputeMeta", false);
    uint8_t *payload = NULL;
    size_t payload_len = 0;
    if (st == TEEU_OK)
        st = open_compute_meta(r->encrypted_response, fresh_priv, &payload, &payload_len);
    protobuf_c_message_free_unpacked(m, NULL);
    if (st != TEEU_OK)
        return st;

    ProtobufCMessage *cmm = NULL;
    st = unpack(&secretflowapis__v1__sdc__authmanager__compute_meta__descriptor, payload, payload_len,
                "GetComputeMeta sealed ComputeMeta", &cmm);
    tu_free_secret(payload, payload_len);
    if (st != TEEU_OK)
        return st;
    Secretflowapis__V1__Sdc__Authmanager__ComputeMeta *cm = (void *)cmm;
    size_t total = 0;
    uint8_t *out = NULL;
    if (cm->n_input_metas != task->n_inputs)
        st = tu_error(TEEU_ERR_PROTOBUF, "GetComputeMeta: %zu input metas for %zu inputs", cm->n_input_metas,
                      task->n_inputs);
    else if (tu_mul_overflows(task->n_inputs, TU_WIRE_DATA_KEY_LEN, &total) || !(out = malloc(total ? total : 1)))
        st = tu_error(TEEU_ERR_NOMEM, "out of memory for %zu data keys", task->n_inputs);
    for (size_t i = 0; st == TEEU_OK && i < task->n_inputs; i++)
        st = input_key(cm, i, task->data_uuids[i], out + i * TU_WIRE_DATA_KEY_LEN);
    wipe_compute_meta(cm);
    protobuf_c_message_free_unpacked(cmm, NULL);
    if (st != TEEU_OK) {
        tu_free_secret(out, total);
        return st;
    }
    *keys = out;
    return TEEU_OK;
}

/* ---- DataAuth signature check (AuthManager and TEEU side) ------------------ */

teeu_status tu_wire_data_auth_of_request(const uint8_t *req, size_t len, tu_buf *out)
{
    Secretflowapis__V1__Sdc__Dataagent__CreateDataWithAuthRequest *r =
        secretflowapis__v1__sdc__dataagent__create_data_with_auth_request__unpack(NULL, len, req);
    if (r == NULL || r->data_auth == NULL) {
        if (r != NULL)
            secretflowapis__v1__sdc__dataagent__create_data_with_auth_request__free_unpacked(r, NULL);
        return tu_error(TEEU_ERR_PROTOBUF, "CreateDataWithAuthRequest without a DataAuth");
    }
    size_t n = secretflowapis__v1__sdc__data_auth__get_packed_size(r->data_auth);
    teeu_status st = tu_buf_reserve(out, n);
    if (st == TEEU_OK)
        out->len += secretflowapis__v1__sdc__data_auth__pack(r->data_auth, out->data + out->len);
    secretflowapis__v1__sdc__dataagent__create_data_with_auth_request__free_unpacked(r, NULL);
    return st;
}

/* Packs one sub-message for the signed parts; NULL on OOM. */
static uint8_t *pack_part(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(*len ? *len : 1);
    if (b != NULL)
        protobuf_c_message_pack(m, b);
    return b;
}

teeu_status tu_wire_verify_data_auth(const teeu_key *owner, const Secretflowapis__V1__Sdc__DataAuth *a)
{
    if (a->data_uuid == NULL || a->signature.len == 0)
        return tu_error(TEEU_ERR_SIGNATURE, "DataAuth has no data_uuid or no signature");
    bool has_schema = a->optional_schema_case == SECRETFLOWAPIS__V1__SDC__DATA_AUTH__OPTIONAL_SCHEMA_SCHEMA &&
                      a->schema != NULL;
    size_t n_parts = 2 + a->n_allowed_ins_ids + a->n_allowed_apps + a->n_operators + 1;
    tu_bytes *parts = tu_alloc_array(n_parts, sizeof *parts);
    /* Serialized sub-messages (each EnclaveInfo, then the schema). */
    uint8_t **packed = calloc(a->n_allowed_apps + 1, sizeof *packed);
    size_t n_packed = 0;
    size_t k = 0;
    teeu_status st = TEEU_OK;
    if (parts == NULL || packed == NULL)
        goto oom;
    parts[k++] = TU_STR(a->data_uuid);
    for (size_t i = 0; i < a->n_allowed_ins_ids; i++)
        parts[k++] = TU_STR(a->allowed_ins_ids[i] ? a->allowed_ins_ids[i] : "");
    for (size_t i = 0; i < a->n_allowed_apps; i++) {
        size_t len = 0;
        if ((packed[n_packed] = pack_part(&a->allowed_apps[i]->base, &len)) == NULL)
            goto oom;
        parts[k++] = TU_BYTES(packed[n_packed++], len);
    }
    for (size_t i = 0; i < a->n_operators; i++)
        parts[k++] = TU_STR(a->operators[i] ? a->operators[i] : "");
    parts[k++] = TU_STR(a->extra_limits ? a->extra_limits : "");
    if (has_schema) {
        size_t len = 0;
        if ((packed[n_packed] = pack_part(&a->schema->base, &len)) == NULL)
            goto oom;
        parts[k++] = TU_BYTES(packed[n_packed++], len);
    }
    if (tu_rsa_verify(owner, parts, k, a->signature.data, a->signature.len) != TEEU_OK)
        st = tu_error(TEEU_ERR_SIGNATURE, "the DataAuth signature of data %s does not verify with the owner's key",
                      a->data_uuid);
    goto out;
oom:
    st = tu_error(TEEU_ERR_NOMEM, "out of memory checking a DataAuth signature");
out:
    for (size_t i = 0; i < n_packed; i++)
        free(packed[i]);
    free(packed);
    free(parts);
    return st;
}
