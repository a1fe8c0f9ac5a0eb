/*
 * The AuthManager service: the six methods of
 * secretflowapis.v1.sdc.authmanager.AuthManager (docs/WIRE.md) with the
 * full AuthVerify.
 *
 * Outcome reporting (as SecretFlow's AuthManager): a request that decodes
 * is answered with grpc-status OK and its outcome in the response's body
 * `status` (code + message naming what failed). Transport-level problems
 * (unknown method, bad framing, oversize or undecodable messages) end the
 * call with a non-OK grpc-status instead. Clients must handle both.
 *
 * Every check of CreateDataWithAuth (owner key registered, data keys open
 * with this AuthManager's key, MACs, segment signatures, DataAuth
 * signature) is re-run on the stored bytes by GetComputeMeta and
 * GetExportDataKey, so a tampered database cannot release keys.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include <teeu/attest.h>
#include <teeu/keys.h>

#include "am_internal.h"
#include "attest/attest_internal.h"
#include "crypto/crypto_internal.h"
#include "wire/wire_internal.h"
#include "secretflowapis/v1/common.pb-c.h"
#include "secretflowapis/v1/sdc/authmanager.pb-c.h"
#include "secretflowapis/v1/sdc/dataagent.pb-c.h"
#include "secretflowapis/v1/sdc/sdc.pb-c.h"
#include "secretflowapis/v1/sdc/teeapps.pb-c.h"

#define SERVICE "/secretflowapis.v1.sdc.authmanager.AuthManager/"
#define MAX_ID_LEN 256
#define MAX_INPUTS 1024
#define MAX_SEGMENTS 4096
#define MAX_SHARDS 64
#define MAX_DATA_KEY 64
#define MAX_PEM_LEN 16384
#define KEY_FILE "authmanager_key.pem"
#define DB_FILE "authmanager.db"

typedef Secretflowapis__V1__Status PbStatus;
typedef Secretflowapis__V1__Sdc__PublicKey PbPublicKey;
typedef Secretflowapis__V1__Sdc__DataMeta PbDataMeta;
typedef Secretflowapis__V1__Sdc__DataAuth PbDataAuth;
typedef Secretflowapis__V1__Sdc__PartitionDataMeta PbPartition;
typedef Secretflowapis__V1__Sdc__SegmentDataMeta PbSegment;
typedef Secretflowapis__V1__Sdc__Schema PbSchema;
typedef Secretflowapis__V1__Sdc__Teeapps__TeeTaskParams PbTaskParams;

struct am_service {
    char *db_path;
    teeu_key *key;            /* this AuthManager's RSA-3072 key */
    char *key_pem;            /* its public half, SPKI PEM (cert_pem) */
    size_t envelope_key_len;  /* 16 or 32 */
    bool simulation;
    bool attest_required;     /* reports are checked (outside simulation, or with a sim authority) */
    tu_sim_authority *sim;    /* simulation attestation authority, or NULL */
    pthread_mutex_t sim_lock; /* serializes quote signing with the authority */
    uint8_t mrenclave[32];    /* simulated MRENCLAVE: SHA-256 of this binary */
};

/* The outcome of a request: a google.rpc code and a message naming what failed. */
typedef struct am_result {
    int code;
    char msg[600];
} am_result;

static int fail(am_result *r, int code, const char *fmt, ...) TU_PRINTF(3, 4);
static int fail(am_result *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    /* Messages quote client strings and end up in log lines: no control bytes. */
    for (char *p = r->msg; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7F)
            *p = '?';
    r->code = code;
    return code;
}

/* ---- small helpers ------------------------------------------------------ */

static bool str_empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

/* Identifiers end up in log lines and messages: printable ASCII, bounded. */
static bool id_ok(const char *s)
{
    if (str_empty(s))
        return false;
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] < 0x21 || (unsigned char)s[n] > 0x7E || n >= MAX_ID_LEN)
            return false;
    return true;
}

static void le32(int32_t v, uint8_t out[4])
{
    uint32_t u = (uint32_t)v;
    out[0] = (uint8_t)u;
    out[1] = (uint8_t)(u >> 8);
    out[2] = (uint8_t)(u >> 16);
    out[3] = (uint8_t)(u >> 24);
}

/* Packs any protobuf-c message into a fresh buffer (free with free / tu_free_secret). */
static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (buf != NULL)
        protobuf_c_message_pack(m, buf);
    return buf;
}

/* Answers with the response message (its `status` already set). */
static void reply(tu_grpc_response *resp, const ProtobufCMessage *m, const am_result *r)
{
    size_t len = 0;
    uint8_t *buf = pack(m, &len);
    if (buf == NULL) {
        tu_grpc_reply_status(resp, TU_GRPC_RESOURCE_EXHAUSTED, "out of memory packing the response");
        return;
    }
    if (tu_grpc_reply_msg(resp, buf, len) != TEEU_OK)
        tu_grpc_reply_status(resp, TU_GRPC_RESOURCE_EXHAUSTED, "response too large: %s", teeu_last_error());
    free(buf);
    /* One log line per request: the outcome and, for refusals, the reason (ids only, no secrets). */
    tu_grpc_reply_note(resp, "status=%d(%s)%s%s", r->code, tu_grpc_code_name(r->code), r->code ? ": " : "",
                       r->code ? r->msg : "");
}

static void set_status(PbStatus *st, const am_result *r)
{
    st->code = r->code;
    st->message = (char *)(r->code == TU_GRPC_OK ? "" : r->msg);
}

/* Loads a request's RSA public key; the scheme must be RSA (or empty). */
static int load_request_key(const PbPublicKey *pk, unsigned min_bits, const char *what, teeu_key **out,
                            am_result *r)
{
    *out = NULL;
    if (pk == NULL || str_empty(pk->public_key))
        return fail(r, TU_GRPC_INVALID_ARGUMENT, "%s is missing", what);
    if (!str_empty(pk->scheme) && strcmp(pk->scheme, "RSA") != 0)
        return fail(r, TU_GRPC_INVALID_ARGUMENT, "%s: scheme '%.32s' is not supported (only RSA)", what, pk->scheme);
    size_t len = strlen(pk->public_key);
    if (len > MAX_PEM_LEN)
        return fail(r, TU_GRPC_INVALID_ARGUMENT, "%s: PEM too long", what);
    if (teeu_key_load_public_pem(pk->public_key, len, min_bits, out) != TEEU_OK)
        return fail(r, TU_GRPC_INVALID_ARGUMENT, "%s: %s", what, teeu_last_error());
    return TU_GRPC_OK;
}

/* Loads the registered key of an owner; unregistered owners are refused. */
static int load_owner_key(am_db *db, const char *owner_id, teeu_key **out, am_result *r)
{
    *out = NULL;
    char *pem = NULL;
    teeu_status st = am_db_get_key(db, owner_id, &pem);
    if (st == TEEU_ERR_NOT_FOUND)
        return fail(r, TU_GRPC_PERMISSION_DENIED,
                    "owner %s has no registered public key: call RegisterInsPubKey first", owner_id);
    if (st != TEEU_OK)
        return fail(r, TU_GRPC_INTERNAL, "%s", teeu_last_error());
    st = teeu_key_load_public_pem(pem, strlen(pem), TEEU_PARTY_KEY_MIN_BITS, out);
    free(pem);
    if (st != TEEU_OK)
        return fail(r, TU_GRPC_DATA_LOSS, "registered key of %s does not load: %s", owner_id, teeu_last_error());
    return TU_GRPC_OK;
}

/* ---- extra_limits -------------------------------------------------------- */

/*
 * extra_limits is JSON {"limit_functions": ["<code>", ...]}. Empty means no
 * function limit. A non-empty value must be an object whose
 * limit_functions (if present) is an array of strings.
 */
static int parse_limits(const char *uuid, const char *extra, json_t **out, am_result *r)
{
    *out = NULL;
    if (str_empty(extra))
        return TU_GRPC_OK;
    json_error_t err;
    json_t *root = json_loads(extra, JSON_REJECT_DUPLICATES, &err);
    if (root == NULL)
        return fail(r, TU_GRPC_INVALID_ARGUMENT, "extra_limits of data %s is not JSON: %s", uuid, err.text);
    json_t *fns = json_is_object(root) ? json_object_get(root, "limit_functions") : NULL;
    bool ok = json_is_object(root) && (fns == NULL || json_is_array(fns));
    for (size_t i = 0; ok && fns && i < json_array_size(fns); i++)
        ok = json_is_string(json_array_get(fns, i));
    if (!ok) {
        json_decref(root);
        return fail(r, TU_GRPC_INVALID_ARGUMENT,
                    "extra_limits of data %s must be {\"limit_functions\": [strings]}", uuid);
    }
    *out = root;
    return TU_GRPC_OK;
}

/* Non-empty extra_limits must list code in limit_functions. */
static int check_function(const char *uuid, const char *extra, const char *code, am_result *r)
{
    json_t *root = NULL;
    if (parse_limits(uuid, extra, &root, r) != TU_GRPC_OK)
        return r->code;
    if (root == NULL)
        return TU_GRPC_OK;
    json_t *fns = json_object_get(root, "limit_functions");
    bool found = false;
    for (size_t i = 0; fns && i < json_array_size(fns) && !found; i++)
        found = !str_empty(code) && strcmp(json_string_value(json_array_get(fns, i)), code) == 0;
    json_decref(root);
    if (!found)
        return fail(r, TU_GRPC_PERMISSION_DENIED, "function %.100s is not in extra_limits of data %s",
                    str_empty(code) ? "(empty code)" : code, uuid);
    return TU_GRPC_OK;
}

/* ---- verification of a data object (create time and release time) ------ */

typedef struct seg_key {
    const PbPartition *part;
    const PbSegment *seg;
    uint8_t key[MAX_DATA_KEY];
    size_t key_len;
} seg_key;

typedef struct seg_keys {
    seg_key *v;
    size_t n;
} seg_keys;

static void seg_keys_free(seg_keys *k)
{
    if (k->v != NULL)
        tu_free_secret(k->v, k->n * sizeof *k->v);
    k->v = NULL;
    k->n = 0;
}

/* Shape of the meta and auth: ids present and consistent, counts bounded. */
static int check_shape(const PbDataMeta *m, const PbDataAuth *a, am_result *r)
{
    if (!id_ok(m->data_uuid))
        return fail(r, TU_GRPC_INVALID_ARGUMENT, "data_info.data_uuid is missing or malformed");
    if (!id_ok(m->owner_id))
        return fail(r, TU_GRPC_INVALID_ARGUMENT, "data_info.owner_id of data %s is missing or malformed",
                    m->data_uuid);
    if (str_empty(a->data_uuid) || strcmp(a->data_uuid, m->data_uuid) != 0)
        return fail(r, TU_GRPC_INVALID_ARGUMENT, "data_auth.data_uuid differs from data_info.data_uuid %s",
                    m->data_uuid);
    /* SecretFlow's client leaves data_owner_id empty: the owner is data_info's. */
    if (!str_empty(a->data_owner_id) && strcmp(a->data_owner_id, m->owner_id) != 0)
        return fail(r, TU_GRPC_INVALID_ARGUMENT, "data_auth.data_owner_id differs from the owner of data %s",
                    m->data_uuid);
    if (m->n_partition_data == 0)
        return fail(r, TU_GRPC_INVALID_ARGUMENT, "data %s has no partition_data", m->data_uuid);
    size_t total = 0;
    for (size_t p = 0; p < m->n_partition_data; p++) {
        const PbPartition *part = m->partition_data[p];
        if (!id_ok(part->partition_id))
            return fail(r, TU_GRPC_INVALID_ARGUMENT, "a partition of data %s has no partition_id", m->data_uuid);
        if (part->n_segment_data == 0)
            return fail(r, TU_GRPC_INVALID_ARGUMENT, "partition %s of data %s has no segment_data",
                        part->partition_id, m->data_uuid);
        for (size_t q = 0; q < p; q++)
            if (strcmp(m->partition_data[q]->partition_id, part->partition_id) == 0)
                return fail(r, TU_GRPC_INVALID_ARGUMENT, "partition %s of data %s appears twice",
                            part->partition_id, m->data_uuid);
        total += part->n_segment_data;
        if (total > MAX_SEGMENTS)
            return fail(r, TU_GRPC_INVALID_ARGUMENT, "data %s has more than %d segments", m->data_uuid,
                        MAX_SEGMENTS);
    }
    if (a->n_allowed_ins_ids > MAX_INPUTS || a->n_allowed_apps > MAX_INPUTS || a->n_operators > MAX_INPUTS)
        return fail(r, TU_GRPC_INVALID_ARGUMENT, "data_auth of data %s has too many entries", m->data_uuid);
    return TU_GRPC_OK;
}

/* Opens, MAC-checks and signature-checks one segment's data key. */
static int verify_segment(const am_service *svc, const teeu_key *owner, const char *uuid, const PbPartition *part,
                          const PbSegment *seg, seg_key *out, am_result *r)
{
    uint8_t *key = NULL;
    size_t key_len = 0;
    if (seg->encrypted_data_key.len == 0)
        return fail(r, TU_GRPC_INVALID_ARGUMENT, "segment %d of partition %s of data %s has no encrypted_data_key",
                    seg->segment_id, part->partition_id, uuid);
    if (tu_rsa_oaep_decrypt(svc->key, seg->encrypted_data_key.data, seg->encrypted_data_key.len, &key, &key_len) !=
        TEEU_OK)
        return fail(r, TU_GRPC_INVALID_ARGUMENT,
                    "data key of segment %d of data %s does not open with this AuthManager's key "
                    "(was it sealed to the cert_pem of GetRaCertPems?)",
                    seg->segment_id, uuid);
    int code = TU_GRPC_OK;
    uint8_t seg_le[4], shard_le[4];
    le32(seg->segment_id, seg_le);
    le32(seg->secret_shard_id, shard_le);
    if (key_len < 16 || key_len > MAX_DATA_KEY) {
        code = fail(r, TU_GRPC_INVALID_ARGUMENT, "data key of segment %d of data %s has %zu bytes (16..%d expected)",
                    seg->segment_id, uuid, key_len, MAX_DATA_KEY);
        goto out;
    }
    tu_bytes mac_parts[] = {TU_STR(uuid), TU_STR(part->partition_id), TU_BYTES(seg_le, 4), TU_BYTES(shard_le, 4)};
    uint8_t mac[TU_SHA256_LEN];
    if (tu_hmac_sha256_sep(key, key_len, mac_parts, TU_ARRAY_LEN(mac_parts), mac) != TEEU_OK) {
        code = fail(r, TU_GRPC_INTERNAL, "HMAC: %s", teeu_last_error());
        goto out;
    }
    if (seg->mac.len != TU_SHA256_LEN || !tu_ct_equal(mac, seg->mac.data, TU_SHA256_LEN)) {
        code = fail(r, TU_GRPC_PERMISSION_DENIED, "MAC of segment %d of partition %s of data %s does not verify",
                    seg->segment_id, part->partition_id, uuid);
        goto out;
    }
    tu_bytes sig_parts[] = {TU_STR(uuid), TU_STR(part->partition_id), TU_BYTES(seg_le, 4), TU_BYTES(shard_le, 4),
                            TU_BYTES(key, key_len)};
    if (seg->signature.len == 0 ||
        tu_rsa_verify(owner, sig_parts, TU_ARRAY_LEN(sig_parts), seg->signature.data, seg->signature.len) != TEEU_OK) {
        code = fail(r, TU_GRPC_PERMISSION_DENIED,
                    "segment signature of segment %d of partition %s of data %s does not verify with the "
                    "owner's registered key",
                    seg->segment_id, part->partition_id, uuid);
        goto out;
    }
    if (out != NULL) {
        out->part = part;
        out->seg = seg;
        memcpy(out->key, key, key_len);
        out->key_len = key_len;
    }
out:
    tu_free_secret(key, key_len);
    return code;
}

static int verify_auth_signature(const teeu_key *owner, const PbDataAuth *a, am_result *r)
{
    teeu_status st = tu_wire_verify_data_auth(owner, a);
    if (st == TEEU_ERR_SIGNATURE)
        return fail(r, TU_GRPC_PERMISSION_DENIED,
                    "DataAuth signature of data %s does not verify with the owner's registered key", a->data_uuid);
    if (st != TEEU_OK)
        return fail(r, TU_GRPC_RESOURCE_EXHAUSTED, "%s", teeu_last_error());
    return TU_GRPC_OK;
}

/*
 * Every owner-side check of a data object. keys (may be NULL) receives the
 * opened data keys, in partition/segment order.
 */
static int verify_data(const am_service *svc, am_db *db, const PbDataMeta *m, const PbDataAuth *a, seg_keys *keys,
                       am_result *r)
{
    if (check_shape(m, a, r) != TU_GRPC_OK)
        return r->code;
    json_t *limits = NULL;
    if (parse_limits(m->data_uuid, a->extra_limits, &limits, r) != TU_GRPC_OK)
        return r->code;
    json_decref(limits);
    teeu_key *owner = NULL;
    if (load_owner_key(db, m->owner_id, &owner, r) != TU_GRPC_OK)
        return r->code;
    size_t total = 0;
    for (size_t p = 0; p < m->n_partition_data; p++)
        total += m->partition_data[p]->n_segment_data;
    seg_keys k = {0};
    int code = TU_GRPC_OK;
    if (keys != NULL) {
        k.v = tu_alloc_array(total, sizeof *k.v);
        if (k.v == NULL) {
            code = fail(r, TU_GRPC_RESOURCE_EXHAUSTED, "out of memory");
            goto out;
        }
        memset(k.v, 0, total * sizeof *k.v);
        k.n = total;
    }
    size_t idx = 0;
    for (size_t p = 0; p < m->n_partition_data && code == TU_GRPC_OK; p++) {
        const PbPartition *part = m->partition_data[p];
        for (size_t s = 0; s < part->n_segment_data && code == TU_GRPC_OK; s++, idx++)
            code = verify_segment(svc, owner, m->data_uuid, part, part->segment_data[s], keys ? &k.v[idx] : NULL, r);
    }
    if (code == TU_GRPC_OK)
        code = verify_auth_signature(owner, a, r);
out:
    teeu_key_free(owner);
    if (code == TU_GRPC_OK && keys != NULL)
        *keys = k;
    else
        seg_keys_free(&k);
    return code;
}

/* Loads and decodes a stored data object. */
static int load_data(am_db *db, const char *uuid, PbDataMeta **meta, PbDataAuth **auth, am_result *r)
{
    *meta = NULL;
    *auth = NULL;
    if (!id_ok(uuid))
        return fail(r, TU_GRPC_INVALID_ARGUMENT, "data_uuid is missing or malformed");
    uint8_t *mb = NULL, *ab = NULL;
    size_t ml = 0, al = 0;
    teeu_status st = am_db_get_data(db, uuid, &mb, &ml, &ab, &al);
    if (st == TEEU_ERR_NOT_FOUND)
        return fail(r, TU_GRPC_NOT_FOUND, "data %s is unknown to this AuthManager", uuid);
    if (st != TEEU_OK)
        return fail(r, TU_GRPC_INTERNAL, "%s", teeu_last_error());
    *meta = secretflowapis__v1__sdc__data_meta__unpack(NULL, ml, mb);
    *auth = secretflowapis__v1__sdc__data_auth__unpack(NULL, al, ab);
    free(mb);
    free(ab);
    if (*meta == NULL || *auth == NULL) {
        if (*meta)
            secretflowapis__v1__sdc__data_meta__free_unpacked(*meta, NULL);
        if (*auth)
            secretflowapis__v1__sdc__data_auth__free_unpacked(*auth, NULL);
        *meta = NULL;
        *auth = NULL;
        return fail(r, TU_GRPC_DATA_LOSS, "stored record of data %s does not decode", uuid);
    }
    return TU_GRPC_OK;
}

static void free_data(PbDataMeta *meta, PbDataAuth *auth)
{
    if (meta)
        secretflowapis__v1__sdc__data_meta__free_unpacked(meta, NULL);
    if (auth)
        secretflowapis__v1__sdc__data_auth__free_unpacked(auth, NULL);
}

/* ---- RegisterInsPubKey --------------------------------------------------- */

static void h_register(void *ctx, void *ws, const tu_grpc_request *req, tu_grpc_response *resp)
{
    (void)ctx;
    am_db *db = ws;
    Secretflowapis__V1__Sdc__Dataagent__RegisterInsPubKeyRequest *q =
        secretflowapis__v1__sdc__dataagent__register_ins_pub_key_request__unpack(NULL, req->msgs[0].len,
                                                                                 req->msgs[0].data);
    if (q == NULL) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "request is not a RegisterInsPubKeyRequest");
        return;
    }
    am_result r = {0};
    teeu_key *key = NULL;
    char *pem = NULL;
    size_t pem_len = 0;
    char owner_id[TEEU_OWNER_ID_LEN + 1];
    if (!id_ok(q->ins_id)) {
        fail(&r, TU_GRPC_INVALID_ARGUMENT, "ins_id is missing or malformed");
        goto out;
    }
    if (load_request_key(q->public_key, TEEU_PARTY_KEY_MIN_BITS, "public_key", &key, &r) != TU_GRPC_OK)
        goto out;
    if (teeu_key_owner_id(key, owner_id) != TEEU_OK) {
        fail(&r, TU_GRPC_INTERNAL, "owner_id: %s", teeu_last_error());
        goto out;
    }
    if (strcmp(owner_id, q->ins_id) != 0) {
        fail(&r, TU_GRPC_PERMISSION_DENIED,
             "ins_id %s is not the owner_id of the public key (%s = base64(SHA-256(DER SPKI)))", q->ins_id, owner_id);
        goto out;
    }
    if (q->signature.len > 0) {
        size_t pk_len = 0;
        uint8_t *pk = pack(&q->public_key->base, &pk_len);
        if (pk == NULL) {
            fail(&r, TU_GRPC_RESOURCE_EXHAUSTED, "out of memory");
            goto out;
        }
        tu_bytes parts[] = {TU_STR(q->ins_id), TU_BYTES(pk, pk_len)};
        teeu_status st = tu_rsa_verify(key, parts, 2, q->signature.data, q->signature.len);
        free(pk);
        if (st != TEEU_OK) {
            fail(&r, TU_GRPC_PERMISSION_DENIED,
                 "signature of the registration of %s does not verify over ins_id || PublicKey", q->ins_id);
            goto out;
        }
    }
    if (teeu_key_public_pem(key, &pem, &pem_len) != TEEU_OK) {
        fail(&r, TU_GRPC_INTERNAL, "%s", teeu_last_error());
        goto out;
    }
    teeu_status st = am_db_put_key(db, q->ins_id, "RSA", pem);
    if (st == TEEU_ERR_RPC_ALREADY_EXISTS)
        fail(&r, TU_GRPC_ALREADY_EXISTS, "public key of %s is already registered", q->ins_id);
    else if (st != TEEU_OK)
        fail(&r, TU_GRPC_INTERNAL, "%s", teeu_last_error());
out:;
    PbStatus status = SECRETFLOWAPIS__V1__STATUS__INIT;
    set_status(&status, &r);
    Secretflowapis__V1__Sdc__Dataagent__RegisterInsPubKeyResponse out =
        SECRETFLOWAPIS__V1__SDC__DATAAGENT__REGISTER_INS_PUB_KEY_RESPONSE__INIT;
    out.status = &status;
    reply(resp, &out.base, &r);
    teeu_free(pem);
    teeu_key_free(key);
    secretflowapis__v1__sdc__dataagent__register_ins_pub_key_request__free_unpacked(q, NULL);
}

/* ---- GetRaCertPems ------------------------------------------------------- */

/*
 * A simulated attestation report of this AuthManager binding
 * UPPERHEX(SHA256(cert_pem | nonce)) (report_data[0..32) = the hash): a
 * Passport report with the authority's collateral. *holder keeps the
 * strings the message points to; json_decref it after packing.
 */
static int make_report(am_service *svc, const char *nonce, Secretflowapis__V1__Sdc__UnifiedAttestationReport *rep,
                       json_t **holder, am_result *r)
{
    uint8_t binding[TU_SHA256_LEN];
    tu_bytes parts[] = {TU_STR(svc->key_pem), TU_STR(nonce)};
    if (tu_sha256_sep(parts, 2, binding) != TEEU_OK)
        return fail(r, TU_GRPC_INTERNAL, "%s", teeu_last_error());
    tu_sim_quote_params qp = {.mr_enclave = svc->mrenclave, .report_data = binding, .report_data_len = sizeof binding};
    uint8_t *quote = NULL;
    size_t quote_len = 0;
    char *ua = NULL;
    pthread_mutex_lock(&svc->sim_lock);
    teeu_status st = tu_sim_quote(svc->sim, &qp, &quote, &quote_len);
    if (st == TEEU_OK)
        st = tu_ua_report_make(quote, quote_len, tu_sim_collateral_json(svc->sim), &ua);
    pthread_mutex_unlock(&svc->sim_lock);
    free(quote);
    if (st != TEEU_OK)
        return fail(r, TU_GRPC_INTERNAL, "attestation report: %s", teeu_last_error());
    json_error_t err;
    json_t *o = json_loads(ua, 0, &err);
    free(ua);
    if (o == NULL)
        return fail(r, TU_GRPC_INTERNAL, "attestation report JSON: %s", err.text);
    secretflowapis__v1__sdc__unified_attestation_report__init(rep);
    rep->str_report_version = (char *)json_string_value(json_object_get(o, "str_report_version"));
    rep->str_report_type = (char *)json_string_value(json_object_get(o, "str_report_type"));
    rep->str_tee_platform = (char *)json_string_value(json_object_get(o, "str_tee_platform"));
    rep->json_report = (char *)json_string_value(json_object_get(o, "json_report"));
    if (rep->str_report_version == NULL || rep->str_report_type == NULL || rep->str_tee_platform == NULL ||
        rep->json_report == NULL) {
        json_decref(o);
        return fail(r, TU_GRPC_INTERNAL, "attestation report JSON lacks a field");
    }
    *holder = o;
    return TU_GRPC_OK;
}

static void h_ra_cert(void *ctx, void *ws, const tu_grpc_request *req, tu_grpc_response *resp)
{
    (void)ws;
    am_service *svc = ctx;
    Secretflowapis__V1__Sdc__Dataagent__GetRaCertPemsRequest *q =
        secretflowapis__v1__sdc__dataagent__get_ra_cert_pems_request__unpack(NULL, req->msgs[0].len,
                                                                             req->msgs[0].data);
    if (q == NULL) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "request is not a GetRaCertPemsRequest");
        return;
    }
    am_result r = {0};
    int32_t n = q->secret_shard_num <= 0 ? 1 : q->secret_shard_num;
    Secretflowapis__V1__Sdc__Dataagent__ReportWithCertPem *items = NULL, **ptrs = NULL;
    Secretflowapis__V1__Sdc__UnifiedAttestationReport *reports = NULL;
    json_t **holders = NULL;
    Secretflowapis__V1__Sdc__Dataagent__GetRaCertPemsResponse out =
        SECRETFLOWAPIS__V1__SDC__DATAAGENT__GET_RA_CERT_PEMS_RESPONSE__INIT;
    if (n > MAX_SHARDS) {
        fail(&r, TU_GRPC_INVALID_ARGUMENT, "secret_shard_num %d exceeds %d", n, MAX_SHARDS);
        goto out;
    }
    if (q->n_nonces > (size_t)n) {
        fail(&r, TU_GRPC_INVALID_ARGUMENT, "%zu nonces for %d shard(s)", q->n_nonces, n);
        goto out;
    }
    for (size_t i = 0; i < q->n_nonces; i++)
        if (strlen(q->nonces[i]) > MAX_ID_LEN) {
            fail(&r, TU_GRPC_INVALID_ARGUMENT, "nonce %zu is longer than %d bytes", i, MAX_ID_LEN);
            goto out;
        }
    items = tu_alloc_array((size_t)n, sizeof *items);
    ptrs = tu_alloc_array((size_t)n, sizeof *ptrs);
    reports = tu_alloc_array((size_t)n, sizeof *reports);
    holders = calloc((size_t)n, sizeof *holders);
    if (items == NULL || ptrs == NULL || reports == NULL || holders == NULL) {
        fail(&r, TU_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    /* One AuthManager key serves every shard. */
    for (int32_t i = 0; i < n; i++) {
        secretflowapis__v1__sdc__dataagent__report_with_cert_pem__init(&items[i]);
        items[i].secret_shard_id = i;
        items[i].cert_pem = svc->key_pem;
        items[i].nonce = (size_t)i < q->n_nonces ? q->nonces[i] : (char *)"";
        ptrs[i] = &items[i];
        if (svc->sim != NULL) {
            if (make_report(svc, items[i].nonce, &reports[i], &holders[i], &r) != TU_GRPC_OK)
                goto out;
            items[i].attestation_report = &reports[i];
        }
    }
    out.n_report_with_certs = (size_t)n;
    out.report_with_certs = ptrs;
out:;
    PbStatus status = SECRETFLOWAPIS__V1__STATUS__INIT;
    set_status(&status, &r);
    out.status = &status;
    if (r.code != TU_GRPC_OK) {
        out.n_report_with_certs = 0;
        out.report_with_certs = NULL;
    }
    reply(resp, &out.base, &r);
    for (int32_t i = 0; holders && i < n; i++)
        json_decref(holders[i]);
    free(holders);
    free(reports);
    free(items);
    free(ptrs);
    secretflowapis__v1__sdc__dataagent__get_ra_cert_pems_request__free_unpacked(q, NULL);
}

/* ---- CreateDataWithAuth -------------------------------------------------- */

static void h_create(void *ctx, void *ws, const tu_grpc_request *req, tu_grpc_response *resp)
{
    am_service *svc = ctx;
    am_db *db = ws;
    Secretflowapis__V1__Sdc__Dataagent__CreateDataWithAuthRequest *q =
        secretflowapis__v1__sdc__dataagent__create_data_with_auth_request__unpack(NULL, req->msgs[0].len,
                                                                                  req->msgs[0].data);
    if (q == NULL) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "request is not a CreateDataWithAuthRequest");
        return;
    }
    am_result r = {0};
    uint8_t *mb = NULL, *ab = NULL;
    size_t ml = 0, al = 0;
    Secretflowapis__V1__Sdc__PartitionDataUri *parts = NULL, **part_ptrs = NULL;
    Secretflowapis__V1__Sdc__DataUri uri = SECRETFLOWAPIS__V1__SDC__DATA_URI__INIT;
    if (q->data_info == NULL || q->data_auth == NULL) {
        fail(&r, TU_GRPC_INVALID_ARGUMENT, "data_info and data_auth are required");
        goto out;
    }
    if (!str_empty(q->owner_id) && !str_empty(q->data_info->owner_id) && strcmp(q->owner_id, q->data_info->owner_id) != 0) {
        fail(&r, TU_GRPC_INVALID_ARGUMENT, "owner_id differs from data_info.owner_id");
        goto out;
    }
    if (verify_data(svc, db, q->data_info, q->data_auth, NULL, &r) != TU_GRPC_OK)
        goto out;
    mb = pack(&q->data_info->base, &ml);
    ab = pack(&q->data_auth->base, &al);
    if (mb == NULL || ab == NULL) {
        fail(&r, TU_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    teeu_status st = am_db_put_data(db, q->data_info->data_uuid, q->data_info->owner_id, mb, ml, ab, al);
    if (st == TEEU_ERR_RPC_ALREADY_EXISTS) {
        fail(&r, TU_GRPC_ALREADY_EXISTS, "data %s already exists", q->data_info->data_uuid);
        goto out;
    }
    if (st != TEEU_OK) {
        fail(&r, TU_GRPC_INTERNAL, "%s", teeu_last_error());
        goto out;
    }
    /* The data uri names the stored partitions (the data itself lives elsewhere). */
    size_t np = q->data_info->n_partition_data;
    parts = tu_alloc_array(np, sizeof *parts);
    part_ptrs = tu_alloc_array(np, sizeof *part_ptrs);
    if (parts != NULL && part_ptrs != NULL) {
        for (size_t i = 0; i < np; i++) {
            secretflowapis__v1__sdc__partition_data_uri__init(&parts[i]);
            parts[i].partition_id = q->data_info->partition_data[i]->partition_id;
            part_ptrs[i] = &parts[i];
        }
        uri.data_uuid = q->data_info->data_uuid;
        uri.n_part_data_uris = np;
        uri.part_data_uris = part_ptrs;
    }
out:;
    PbStatus status = SECRETFLOWAPIS__V1__STATUS__INIT;
    set_status(&status, &r);
    Secretflowapis__V1__Sdc__Dataagent__CreateDataWithAuthResponse out =
        SECRETFLOWAPIS__V1__SDC__DATAAGENT__CREATE_DATA_WITH_AUTH_RESPONSE__INIT;
    out.status = &status;
    if (r.code == TU_GRPC_OK && uri.data_uuid != NULL)
        out.data_uri = &uri;
    reply(resp, &out.base, &r);
    free(parts);
    free(part_ptrs);
    free(mb);
    free(ab);
    secretflowapis__v1__sdc__dataagent__create_data_with_auth_request__free_unpacked(q, NULL);
}

/* ---- GetComputeMeta ------------------------------------------------------ */

/* AuthVerify's policy part for one input: requester, operator, function. */
static int check_policy(const PbDataMeta *m, const PbDataAuth *a, const PbTaskParams *tp, am_result *r)
{
    bool allowed = !str_empty(tp->requester_id) && strcmp(tp->requester_id, m->owner_id) == 0;
    for (size_t i = 0; i < a->n_allowed_ins_ids && !allowed; i++)
        allowed = strcmp(a->allowed_ins_ids[i], "all") == 0 ||
                  (!str_empty(tp->requester_id) && strcmp(a->allowed_ins_ids[i], tp->requester_id) == 0);
    if (!allowed)
        return fail(r, TU_GRPC_PERMISSION_DENIED, "requester %.100s is not in allowed_ins_ids of data %s",
                    str_empty(tp->requester_id) ? "(empty requester_id)" : tp->requester_id, m->data_uuid);
    if (a->n_operators > 0) {
        bool found = false;
        for (size_t i = 0; i < a->n_operators && !found; i++)
            found = !str_empty(tp->app_type) && strcmp(a->operators[i], tp->app_type) == 0;
        if (!found)
            return fail(r, TU_GRPC_PERMISSION_DENIED, "app_type %.100s is not in operators of data %s",
                        str_empty(tp->app_type) ? "(empty)" : tp->app_type, m->data_uuid);
    }
    return check_function(m->data_uuid, a->extra_limits, tp->code, r);
}

/* Per input: the built InputMeta and everything it points to. */
typedef struct input_out {
    Secretflowapis__V1__Sdc__Authmanager__ComputeMeta__InputMeta meta;
    Secretflowapis__V1__Sdc__DataUri uri;
    Secretflowapis__V1__Sdc__PartitionDataUri *parts;
    Secretflowapis__V1__Sdc__PartitionDataUri **part_ptrs;
    Secretflowapis__V1__Sdc__SegmentDataUri *segs;
    Secretflowapis__V1__Sdc__SegmentDataUri **seg_ptrs;
    PbDataMeta *dm;
    PbDataAuth *da;
    seg_keys keys;
} input_out;

static void input_out_clear(input_out *io)
{
    free(io->parts);
    free(io->part_ptrs);
    free(io->segs);
    free(io->seg_ptrs);
    seg_keys_free(&io->keys);
    free_data(io->dm, io->da);
}

/* Builds the DataUri with data keys of one input (only partition_id if given). */
static int build_input(input_out *io, const char *partition_id, am_result *r)
{
    const PbDataMeta *m = io->dm;
    size_t np = 0;
    for (size_t p = 0; p < m->n_partition_data; p++)
        if (str_empty(partition_id) || strcmp(m->partition_data[p]->partition_id, partition_id) == 0)
            np++;
    if (np == 0)
        return fail(r, TU_GRPC_NOT_FOUND, "data %s has no partition %.100s", m->data_uuid, partition_id);
    io->parts = tu_alloc_array(np, sizeof *io->parts);
    io->part_ptrs = tu_alloc_array(np, sizeof *io->part_ptrs);
    io->segs = tu_alloc_array(io->keys.n, sizeof *io->segs);
    io->seg_ptrs = tu_alloc_array(io->keys.n, sizeof *io->seg_ptrs);
    if (io->parts == NULL || io->part_ptrs == NULL || io->segs == NULL || io->seg_ptrs == NULL)
        return fail(r, TU_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    secretflowapis__v1__sdc__data_uri__init(&io->uri);
    io->uri.data_uuid = m->data_uuid;
    size_t pi = 0, si = 0;
    for (size_t k = 0; k < io->keys.n; k++) {
        const seg_key *sk = &io->keys.v[k];
        if (!str_empty(partition_id) && strcmp(sk->part->partition_id, partition_id) != 0)
            continue;
        if (pi == 0 || strcmp(io->parts[pi - 1].partition_id, sk->part->partition_id) != 0) {
            Secretflowapis__V1__Sdc__PartitionDataUri *pd = &io->parts[pi];
            secretflowapis__v1__sdc__partition_data_uri__init(pd);
            pd->partition_id = sk->part->partition_id;
            pd->seg_data_uris = &io->seg_ptrs[si];
            io->part_ptrs[pi++] = pd;
        }
        Secretflowapis__V1__Sdc__SegmentDataUri *sd = &io->segs[si];
        secretflowapis__v1__sdc__segment_data_uri__init(sd);
        sd->segment_id = sk->seg->segment_id;
        sd->secret_shard_id = sk->seg->secret_shard_id;
        sd->mac = sk->seg->mac;
        sd->optional_seg_case = SECRETFLOWAPIS__V1__SDC__SEGMENT_DATA_URI__OPTIONAL_SEG_DATA_KEY;
        sd->data_key.data = (uint8_t *)sk->key;
        sd->data_key.len = sk->key_len;
        io->seg_ptrs[si++] = sd;
        io->parts[pi - 1].n_seg_data_uris++;
    }
    io->uri.n_part_data_uris = pi;
    io->uri.part_data_uris = io->part_ptrs;
    secretflowapis__v1__sdc__authmanager__compute_meta__input_meta__init(&io->meta);
    io->meta.data_uri_with_dks = &io->uri;
    if (io->da->optional_schema_case == SECRETFLOWAPIS__V1__SDC__DATA_AUTH__OPTIONAL_SCHEMA_SCHEMA)
        io->meta.schema = io->da->schema;
    else if (m->optional_schema_case == SECRETFLOWAPIS__V1__SDC__DATA_META__OPTIONAL_SCHEMA_SCHEMA)
        io->meta.schema = m->schema;
    return TU_GRPC_OK;
}

/*
 * The attestation part of AuthVerify. In simulation without an authority
 * nothing is checked (as SecretFlow's simulation); otherwise the report must
 * verify, name an enclave of every input's allowed_apps, have debug off and
 * bind UPPERHEX(SHA256(serialize(tee_task_params) | public_key_pem)).
 */
/* Hex compare ignoring case; an empty expected value matches anything. */
static bool hex_field_matches(const char *expected, const uint8_t *actual, size_t len)
{
    if (str_empty(expected))
        return true;
    char hex[65];
    if (len > 32 || strlen(expected) != 2 * len)
        return false;
    tu_hex_encode_to(actual, len, true, hex);
    return strcasecmp(expected, hex) == 0;
}

/* An EnclaveInfo matches when every field it sets matches (and it sets MRENCLAVE or MRSIGNER). */
static bool enclave_matches(const Secretflowapis__V1__Sdc__EnclaveInfo *e, const teeu_attest_result *res)
{
    if (str_empty(e->hex_mrenclave) && str_empty(e->hex_mrsigner))
        return false;
    if (!hex_field_matches(e->hex_mrenclave, teeu_attest_result_mr_enclave(res), 32) ||
        !hex_field_matches(e->hex_mrsigner, teeu_attest_result_mr_signer(res), 32))
        return false;
    if (!str_empty(e->hex_prod_id)) {
        char *end = NULL;
        unsigned long v = strtoul(e->hex_prod_id, &end, 16);
        if (*end != '\0' || v != teeu_attest_result_isv_prod_id(res))
            return false;
    }
    return e->min_svn <= 0 || teeu_attest_result_isv_svn(res) >= e->min_svn;
}

/* The UnifiedAttestationReport message in the JSON form libteeu's verifier reads. */
static char *report_json(const Secretflowapis__V1__Sdc__UnifiedAttestationReport *rep)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "str_report_version",
                          rep->str_report_version ? rep->str_report_version : "", "str_report_type",
                          rep->str_report_type ? rep->str_report_type : "", "str_tee_platform",
                          rep->str_tee_platform ? rep->str_tee_platform : "", "json_report",
                          rep->json_report ? rep->json_report : "");
    if (o == NULL)
        return NULL;
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

/*
 * The attestation part of AuthVerify. In simulation without an authority
 * nothing is checked (as SecretFlow's simulation); otherwise the report must
 * verify (simulation root only in simulation), have debug off, bind
 * UPPERHEX(SHA256(serialize(tee_task_params) | public_key_pem)) in
 * report_data[0..32), and name an enclave of every input's allowed_apps.
 */
static int check_attestation(const am_service *svc,
                             const Secretflowapis__V1__Sdc__Authmanager__GetComputeMetaRequest *q,
                             input_out *inputs, size_t n_inputs, am_result *r)
{
    if (!svc->attest_required)
        return TU_GRPC_OK;
    const Secretflowapis__V1__Sdc__UnifiedAttestationReport *rep = q->attestation_report;
    if (rep == NULL || str_empty(rep->json_report))
        return fail(r, TU_GRPC_PERMISSION_DENIED, "attestation_report is required%s",
                    svc->simulation ? " (a simulation attestation authority is configured)" : " outside simulation");
    size_t tp_len = 0;
    uint8_t *tp = pack(&q->tee_task_params->base, &tp_len);
    char *json = report_json(rep);
    teeu_attest_result *res = NULL;
    int code = TU_GRPC_OK;
    uint8_t binding[TU_SHA256_LEN];
    if (tp == NULL || json == NULL) {
        code = fail(r, TU_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    tu_bytes parts[] = {TU_BYTES(tp, tp_len), TU_STR(q->public_key->public_key)};
    if (tu_sha256_sep(parts, 2, binding) != TEEU_OK) {
        code = fail(r, TU_GRPC_INTERNAL, "%s", teeu_last_error());
        goto out;
    }
    teeu_attest_options opts;
    teeu_attest_options_init(&opts);
    opts.simulation = svc->simulation;
    if (svc->sim != NULL) {
        opts.sim_root_pem = tu_sim_root_pem(svc->sim);
        opts.sim_root_pem_len = strlen(opts.sim_root_pem);
    }
    teeu_attest_policy pol;
    teeu_attest_policy_init(&pol);
    pol.allow_debug = false;
    pol.report_data = binding;
    pol.report_data_len = sizeof binding;
    if (teeu_attest_verify_ua_report(json, strlen(json), NULL, &opts, &pol, &res) != TEEU_OK) {
        code = fail(r, TU_GRPC_PERMISSION_DENIED, "attestation report refused: %s", teeu_last_error());
        goto out;
    }
    char mr[65];
    tu_hex_encode_to(teeu_attest_result_mr_enclave(res), 32, true, mr);
    for (size_t i = 0; i < n_inputs; i++) {
        const PbDataAuth *a = inputs[i].da;
        bool ok = false;
        for (size_t j = 0; j < a->n_allowed_apps && !ok; j++)
            ok = enclave_matches(a->allowed_apps[j], res);
        if (!ok) {
            code = fail(r, TU_GRPC_PERMISSION_DENIED, "enclave %s is not in allowed_apps of data %s", mr,
                        inputs[i].dm->data_uuid);
            goto out;
        }
    }
out:
    teeu_attest_result_free(res);
    free(json);
    free(tp);
    return code;
}

static void h_compute_meta(void *ctx, void *ws, const tu_grpc_request *req, tu_grpc_response *resp)
{
    am_service *svc = ctx;
    am_db *db = ws;
    Secretflowapis__V1__Sdc__Authmanager__GetComputeMetaRequest *q =
        secretflowapis__v1__sdc__authmanager__get_compute_meta_request__unpack(NULL, req->msgs[0].len,
                                                                             req->msgs[0].data);
    if (q == NULL) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "request is not a GetComputeMetaRequest");
        return;
    }
    am_result r = {0};
    teeu_key *fresh = NULL;
    input_out *inputs = NULL;
    Secretflowapis__V1__Sdc__Authmanager__ComputeMeta__InputMeta **meta_ptrs = NULL;
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    tu_envelope env = {0};
    Secretflowapis__V1__Sdc__SymmetricSecret sym = SECRETFLOWAPIS__V1__SDC__SYMMETRIC_SECRET__INIT;
    Secretflowapis__V1__Sdc__AsymmetricSecret asym = SECRETFLOWAPIS__V1__SDC__ASYMMETRIC_SECRET__INIT;
    bool sealed = false;
    const PbTaskParams *tp = q->tee_task_params;
    size_t n = 0;
    if (tp == NULL) {
        fail(&r, TU_GRPC_INVALID_ARGUMENT, "tee_task_params is missing");
        goto out;
    }
    n = tp->n_inputs;
    if (n == 0 || n > MAX_INPUTS) {
        fail(&r, TU_GRPC_INVALID_ARGUMENT, "tee_task_params has %zu inputs (1..%d expected)", n, MAX_INPUTS);
        goto out;
    }
    if (load_request_key(q->public_key, TEEU_PEER_KEY_MIN_BITS, "public_key", &fresh, &r) != TU_GRPC_OK)
        goto out;
    inputs = tu_alloc_array(n, sizeof *inputs);
    meta_ptrs = tu_alloc_array(n, sizeof *meta_ptrs);
    if (inputs == NULL || meta_ptrs == NULL) {
        fail(&r, TU_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    memset(inputs, 0, n * sizeof *inputs);
    for (size_t i = 0; i < n; i++) {
        input_out *io = &inputs[i];
        const char *uuid = tp->inputs[i]->data_uuid;
        if (load_data(db, uuid, &io->dm, &io->da, &r) != TU_GRPC_OK ||
            verify_data(svc, db, io->dm, io->da, &io->keys, &r) != TU_GRPC_OK ||
            check_policy(io->dm, io->da, tp, &r) != TU_GRPC_OK)
            goto out;
    }
    if (check_attestation(svc, q, inputs, n, &r) != TU_GRPC_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (build_input(&inputs[i], tp->inputs[i]->partition_id, &r) != TU_GRPC_OK)
            goto out;
        meta_ptrs[i] = &inputs[i].meta;
    }
    Secretflowapis__V1__Sdc__Authmanager__ComputeMeta cm = SECRETFLOWAPIS__V1__SDC__AUTHMANAGER__COMPUTE_META__INIT;
    cm.n_input_metas = n;
    cm.input_metas = meta_ptrs;
    plain = pack(&cm.base, &plain_len);
    if (plain == NULL) {
        fail(&r, TU_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    if (tu_envelope_seal(fresh, svc->envelope_key_len, NULL, 0, plain, plain_len, &env) != TEEU_OK) {
        fail(&r, TU_GRPC_INTERNAL, "sealing the compute meta: %s", teeu_last_error());
        goto out;
    }
    sealed = true;
    tu_wire_secret_of_envelope(&env, &sym, &asym);
out:;
    PbStatus status = SECRETFLOWAPIS__V1__STATUS__INIT;
    set_status(&status, &r);
    Secretflowapis__V1__Sdc__Authmanager__GetComputeMetaResponse out =
        SECRETFLOWAPIS__V1__SDC__AUTHMANAGER__GET_COMPUTE_META_RESPONSE__INIT;
    out.status = &status;
    if (r.code == TU_GRPC_OK && sealed)
        out.encrypted_response = &asym;
    reply(resp, &out.base, &r);
    if (sealed)
        tu_envelope_free(&env);
    tu_free_secret(plain, plain_len);
    for (size_t i = 0; inputs && i < n; i++)
        input_out_clear(&inputs[i]);
    free(inputs);
    free(meta_ptrs);
    teeu_key_free(fresh);
    secretflowapis__v1__sdc__authmanager__get_compute_meta_request__free_unpacked(q, NULL);
}

/* ---- GetExportDataKey ---------------------------------------------------- */

static void h_export_key(void *ctx, void *ws, const tu_grpc_request *req, tu_grpc_response *resp)
{
    am_service *svc = ctx;
    am_db *db = ws;
    Secretflowapis__V1__Sdc__Authmanager__GetExportDataKeyRequest *q =
        secretflowapis__v1__sdc__authmanager__get_export_data_key_request__unpack(NULL, req->msgs[0].len,
                                                                                req->msgs[0].data);
    if (q == NULL) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "request is not a GetExportDataKeyRequest");
        return;
    }
    am_result r = {0};
    teeu_key *key = NULL;
    PbDataMeta *dm = NULL;
    PbDataAuth *da = NULL;
    seg_keys keys = {0};
    PbSegment *segs = NULL, **seg_ptrs = NULL;
    size_t n_out = 0;
    char owner_id[TEEU_OWNER_ID_LEN + 1];
    if (load_request_key(q->public_key, TEEU_PARTY_KEY_MIN_BITS, "public_key", &key, &r) != TU_GRPC_OK ||
        load_data(db, q->data_uuid, &dm, &da, &r) != TU_GRPC_OK)
        goto out;
    if (teeu_key_owner_id(key, owner_id) != TEEU_OK) {
        fail(&r, TU_GRPC_INTERNAL, "owner_id: %s", teeu_last_error());
        goto out;
    }
    /* Only the owner gets its keys back: sealed to its registered key. */
    if (strcmp(owner_id, dm->owner_id) != 0) {
        fail(&r, TU_GRPC_PERMISSION_DENIED, "public_key is not the registered key of the owner of data %s",
             dm->data_uuid);
        goto out;
    }
    if (verify_data(svc, db, dm, da, &keys, &r) != TU_GRPC_OK)
        goto out;
    segs = tu_alloc_array(keys.n, sizeof *segs);
    seg_ptrs = tu_alloc_array(keys.n, sizeof *seg_ptrs);
    if (segs == NULL || seg_ptrs == NULL) {
        fail(&r, TU_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    for (size_t k = 0; k < keys.n; k++) {
        const seg_key *sk = &keys.v[k];
        if (!str_empty(q->partition_id) && strcmp(sk->part->partition_id, q->partition_id) != 0)
            continue;
        PbSegment *s = &segs[n_out];
        secretflowapis__v1__sdc__segment_data_meta__init(s);
        s->segment_id = sk->seg->segment_id;
        s->secret_shard_id = sk->seg->secret_shard_id;
        s->mac = sk->seg->mac;
        s->signature = sk->seg->signature;
        if (tu_rsa_oaep_encrypt(key, sk->key, sk->key_len, &s->encrypted_data_key.data, &s->encrypted_data_key.len) !=
            TEEU_OK) {
            fail(&r, TU_GRPC_INTERNAL, "sealing a data key: %s", teeu_last_error());
            goto out;
        }
        seg_ptrs[n_out++] = s;
    }
    if (n_out == 0)
        fail(&r, TU_GRPC_NOT_FOUND, "data %s has no partition %.100s", dm->data_uuid, q->partition_id);
out:;
    PbStatus status = SECRETFLOWAPIS__V1__STATUS__INIT;
    set_status(&status, &r);
    Secretflowapis__V1__Sdc__Authmanager__GetExportDataKeyResponse out =
        SECRETFLOWAPIS__V1__SDC__AUTHMANAGER__GET_EXPORT_DATA_KEY_RESPONSE__INIT;
    out.status = &status;
    if (r.code == TU_GRPC_OK) {
        out.n_data_keys = n_out;
        out.data_keys = seg_ptrs;
    }
    reply(resp, &out.base, &r);
    for (size_t i = 0; i < n_out; i++)
        free(segs[i].encrypted_data_key.data);
    free(segs);
    free(seg_ptrs);
    seg_keys_free(&keys);
    free_data(dm, da);
    teeu_key_free(key);
    secretflowapis__v1__sdc__authmanager__get_export_data_key_request__free_unpacked(q, NULL);
}

/* ---- CreateDataMacKey ---------------------------------------------------- */

static void h_mac_key(void *ctx, void *ws, const tu_grpc_request *req, tu_grpc_response *resp)
{
    (void)ctx;
    am_db *db = ws;
    Secretflowapis__V1__Sdc__Dataagent__CreateDataMacKeyRequest *q =
        secretflowapis__v1__sdc__dataagent__create_data_mac_key_request__unpack(NULL, req->msgs[0].len,
                                                                                req->msgs[0].data);
    if (q == NULL) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "request is not a CreateDataMacKeyRequest");
        return;
    }
    am_result r = {0};
    if (!id_ok(q->data_uuid))
        fail(&r, TU_GRPC_INVALID_ARGUMENT, "data_uuid is missing or malformed");
    else if (str_empty(q->encryption_algorithm) || str_empty(q->encrypted_mac_key))
        fail(&r, TU_GRPC_INVALID_ARGUMENT, "encryption_algorithm and encrypted_mac_key are required");
    else if (strlen(q->encrypted_mac_key) > MAX_PEM_LEN || strlen(q->encryption_algorithm) > MAX_ID_LEN)
        fail(&r, TU_GRPC_INVALID_ARGUMENT, "encrypted_mac_key or encryption_algorithm too long");
    else {
        teeu_status st = am_db_put_mac_key(db, q->data_uuid, q->encryption_algorithm, q->encrypted_mac_key);
        if (st == TEEU_ERR_NOT_FOUND)
            fail(&r, TU_GRPC_NOT_FOUND, "data %s is unknown to this AuthManager", q->data_uuid);
        else if (st == TEEU_ERR_RPC_ALREADY_EXISTS)
            fail(&r, TU_GRPC_ALREADY_EXISTS, "data %s already has a different MAC key", q->data_uuid);
        else if (st != TEEU_OK)
            fail(&r, TU_GRPC_INTERNAL, "%s", teeu_last_error());
    }
    PbStatus status = SECRETFLOWAPIS__V1__STATUS__INIT;
    set_status(&status, &r);
    Secretflowapis__V1__Sdc__Dataagent__CreateDataMacKeyResponse out =
        SECRETFLOWAPIS__V1__SDC__DATAAGENT__CREATE_DATA_MAC_KEY_RESPONSE__INIT;
    out.status = &status;
    reply(resp, &out.base, &r);
    secretflowapis__v1__sdc__dataagent__create_data_mac_key_request__free_unpacked(q, NULL);
}

/* ---- service lifecycle --------------------------------------------------- */

static const tu_grpc_method methods[] = {
    {SERVICE "GetExportDataKey", h_export_key, false},
    {SERVICE "GetComputeMeta", h_compute_meta, false},
    {SERVICE "GetRaCertPems", h_ra_cert, false},
    {SERVICE "CreateDataWithAuth", h_create, false},
    {SERVICE "RegisterInsPubKey", h_register, false},
    {SERVICE "CreateDataMacKey", h_mac_key, false},
};

const tu_grpc_method *am_service_methods(size_t *n)
{
    *n = TU_ARRAY_LEN(methods);
    return methods;
}

void *am_worker_init(void *service_ctx)
{
    am_service *svc = service_ctx;
    am_db *db = NULL;
    if (am_db_open(svc->db_path, &db) != TEEU_OK)
        return NULL;
    return db;
}

void am_worker_fini(void *service_ctx, void *worker_state)
{
    (void)service_ctx;
    am_db_close(worker_state);
}

static char *path_join(const char *dir, const char *name)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", dir, name) < 0)
        return NULL;
    return p;
}

/*
 * The service key: loaded from the state folder, or generated (0600) on
 * first start, RSA-3072 with `primes` primes (am_config.key_primes: every
 * CreateDataWithAuth opens a data key with it, and a 3-prime key does that
 * in half the CPU time; clients only ever see its public half).
 */
static teeu_status load_or_create_key(const char *dir, unsigned primes, teeu_key **out)
{
    char *path = path_join(dir, KEY_FILE);
    if (path == NULL)
        return tu_error(TEEU_ERR_NOMEM, "key path");
    teeu_status st;
    struct stat sb;
    if (stat(path, &sb) == 0) {
        if (sb.st_mode & 077)
            tu_log(TEEU_LOG_WARN, "teeu-authmanager: %s is readable by others: chmod 600 it", path);
        st = teeu_key_load_private_file(path, NULL, out);
        if (st != TEEU_OK)
            tu_error_context(st, "service key %s", path);
        else
            tu_log(TEEU_LOG_DEBUG, "teeu-authmanager: service key %s: RSA-%u with %u primes", path,
                   teeu_key_bits(*out), tu_key_rsa_primes(*out));
        free(path);
        return st;
    }
    teeu_key *key = NULL;
    char *pem = NULL;
    size_t pem_len = 0;
    st = tu_key_generate_primes(3072, primes, &key);
    if (st == TEEU_OK)
        st = teeu_key_private_pem(key, NULL, &pem, &pem_len);
    if (st == TEEU_OK)
        st = tu_write_file_atomic(path, pem, pem_len, 0600);
    teeu_free_secret(pem, pem_len);
    if (st != TEEU_OK) {
        teeu_key_free(key);
        tu_error_context(st, "creating the service key %s", path);
        free(path);
        return st;
    }
    tu_log(TEEU_LOG_INFO, "teeu-authmanager: generated a new RSA-3072 service key (%u primes) in %s", primes, path);
    free(path);
    *out = key;
    return TEEU_OK;
}

/* A simulated MRENCLAVE is the SHA-256 of the service's binary. */
static teeu_status self_measurement(uint8_t out[32])
{
    uint8_t *bin = NULL;
    size_t len = 0;
    teeu_status st = tu_read_file("/proc/self/exe", (size_t)1 << 30, &bin, &len);
    if (st != TEEU_OK)
        return tu_error_context(st, "measuring this binary");
    tu_bytes part = TU_BYTES(bin, len);
    st = tu_sha256(&part, 1, out);
    free(bin);
    return st;
}

teeu_status am_service_new(const am_config *cfg, am_service **out)
{
    *out = NULL;
    if (mkdir(cfg->state_dir, 0700) != 0 && errno != EEXIST)
        return tu_error(TEEU_ERR_IO, "cannot create the state folder %s: %s", cfg->state_dir, strerror(errno));
    am_service *svc = calloc(1, sizeof *svc);
    if (svc == NULL)
        return tu_error(TEEU_ERR_NOMEM, "service");
    pthread_mutex_init(&svc->sim_lock, NULL);
    teeu_status st = TEEU_OK;
    svc->simulation = cfg->simulation;
    svc->envelope_key_len = cfg->envelope_key_bits / 8;
    svc->attest_required = !cfg->simulation || cfg->sim_authority != NULL;
    svc->db_path = path_join(cfg->state_dir, DB_FILE);
    if (svc->db_path == NULL) {
        st = tu_error(TEEU_ERR_NOMEM, "db path");
        goto fail;
    }
    if ((st = load_or_create_key(cfg->state_dir, cfg->key_primes, &svc->key)) != TEEU_OK)
        goto fail;
    if (cfg->sim_authority != NULL) {
        if (!cfg->simulation) {
            st = tu_error(TEEU_ERR_INSECURE, "--sim-authority needs --simulation: a simulation root is never "
                                             "trusted in production");
            goto fail;
        }
        if ((st = tu_sim_authority_load(cfg->sim_authority, &svc->sim)) != TEEU_OK) {
            tu_error_context(st, "simulation attestation authority %s", cfg->sim_authority);
            goto fail;
        }
        if ((st = self_measurement(svc->mrenclave)) != TEEU_OK)
            goto fail;
        char hex[65];
        tu_hex_encode_to(svc->mrenclave, 32, true, hex);
        tu_log(TEEU_LOG_INFO, "teeu-authmanager: simulated MRENCLAVE %s (SHA-256 of this binary)", hex);
    }
    size_t pem_len = 0;
    if ((st = teeu_key_public_pem(svc->key, &svc->key_pem, &pem_len)) != TEEU_OK)
        goto fail;
    /* Create the schema once up front, so a broken state folder fails at start. */
    am_db *db = NULL;
    if ((st = am_db_open(svc->db_path, &db)) != TEEU_OK)
        goto fail;
    am_db_close(db);
    *out = svc;
    return TEEU_OK;
fail:
    am_service_free(svc);
    return st;
}

void am_service_free(am_service *svc)
{
    if (svc == NULL)
        return;
    teeu_key_free(svc->key);
    teeu_free(svc->key_pem);
    tu_sim_authority_free(svc->sim);
    pthread_mutex_destroy(&svc->sim_lock);
    free(svc->db_path);
    free(svc);
}
