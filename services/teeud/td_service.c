/*
 * teeud: the teeu.v1.Teeu service (docs/protocol.md, docs/teeud.md).
 *
 * Secrets: data keys live only inside a Call (from GetComputeMeta, wiped
 * after use); plaintext arrays only in memory (wiped before free); the
 * result key is stored RSA-OAEP-sealed to the worker's identity key. Log
 * lines name uuids, parties and outcomes, never keys or data.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <teeu/ndarray.h>

#include "crypto/crypto_internal.h"
#include "kernels.h"
#include "rpc/authmanager_internal.h"
#include "secretflowapis/v1/sdc/teeapps.pb-c.h"
#include "teeuapis/v1/teeu.pb-c.h"
#include "wire/wire_internal.h"
#include "teeud_internal.h"

#define IDENTITY_BITS 3072
#define RESULT_SEGMENT ((size_t)1 << 20)
#define APP_TYPE "teeu"
#define SERVER_VERSION "0.1.0"

struct td_service {
    const td_config *cfg;
    td_store *store;
    td_attester *attester;
    teeu_key *identity;
    char *identity_pem;       /* SPKI PEM */
    uint8_t mr_enclave[32];
    /* Fresh single-use keys for GetComputeMeta, generated ahead of calls. */
    tu_keypool *compute_keys;
    pthread_mutex_t lock;
    size_t calls_running;
    size_t uploads_running;
};

/* ---- helpers ------------------------------------------------------------------ */

static void reply_pb(tu_grpc_response *resp, const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL) {
        tu_grpc_reply_status(resp, TU_GRPC_RESOURCE_EXHAUSTED, "out of memory packing the response");
        return;
    }
    protobuf_c_message_pack(m, buf);
    if (tu_grpc_reply_msg(resp, buf, len) != TEEU_OK)
        tu_grpc_reply_status(resp, TU_GRPC_RESOURCE_EXHAUSTED, "response too large: %s", teeu_last_error());
    free(buf);
}

static teeu_status send_pb(tu_grpc_call *call, const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL)
        return tu_error(TEEU_ERR_NOMEM, "packing a response");
    protobuf_c_message_pack(m, buf);
    teeu_status st = tu_grpc_call_send(call, buf, len);
    free(buf);
    return st;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool str_empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

/*
 * Loads a requester's public key and checks that requester_id is its
 * owner_id (base64 SHA-256 of the DER SPKI). On success *key_out is set.
 */
static int load_requester_key(const char *requester_id, const char *pub_pem, const char *what,
                              tu_grpc_response *resp, teeu_key **key_out)
{
    *key_out = NULL;
    if (str_empty(pub_pem) || str_empty(requester_id)) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "%s: requester_id and the public key are required", what);
        return TU_GRPC_INVALID_ARGUMENT;
    }
    teeu_key *key = NULL;
    if (teeu_key_load_public_pem(pub_pem, strlen(pub_pem), TEEU_PEER_KEY_MIN_BITS, &key) != TEEU_OK) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "%s: public key refused: %s", what, teeu_last_error());
        return TU_GRPC_INVALID_ARGUMENT;
    }
    char oid[TEEU_OWNER_ID_LEN + 1];
    int code = TU_GRPC_OK;
    if (teeu_key_owner_id(key, oid) != TEEU_OK) {
        code = TU_GRPC_INTERNAL;
        tu_grpc_reply_status(resp, code, "%s: %s", what, teeu_last_error());
    } else if (strcmp(oid, requester_id) != 0) {
        code = TU_GRPC_PERMISSION_DENIED;
        tu_grpc_reply_status(resp, code, "%s: requester_id %s is not the owner_id of the public key (%s)", what,
                             requester_id, oid);
    }
    if (code != TU_GRPC_OK) {
        teeu_key_free(key);
        return code;
    }
    *key_out = key;
    return TU_GRPC_OK;
}

/*
 * A signed request: requester_id must be the owner_id of the key, the
 * signature must verify over the exact bytes, the timestamp be recent.
 * Returns a gRPC code (message set on resp) and the loaded key.
 */
static int verify_signed(const td_service *svc, const ProtobufCBinaryData *bytes, const ProtobufCBinaryData *sig,
                         const char *requester_id, const char *pub_pem, int64_t ts, const char *what,
                         tu_grpc_response *resp, teeu_key **key_out)
{
    teeu_key *key = NULL;
    int code = load_requester_key(requester_id, pub_pem, what, resp, &key);
    if (code != TU_GRPC_OK)
        return code;
    tu_bytes part = TU_BYTES(bytes->data, bytes->len);
    if (tu_rsa_verify(key, &part, 1, sig->data, sig->len) != TEEU_OK) {
        code = TU_GRPC_PERMISSION_DENIED;
        tu_grpc_reply_status(resp, code, "%s: the signature does not verify with the requester's key", what);
    } else {
        int64_t skew = now_ms() - ts;
        if (skew < 0)
            skew = -skew;
        if ((uint64_t)skew > svc->cfg->max_clock_skew_ms) {
            code = TU_GRPC_PERMISSION_DENIED;
            tu_grpc_reply_status(resp, code,
                                 "%s: timestamp_ms %lld is %lld ms away from the worker's clock (allowed %llu); "
                                 "check the clocks and sign a fresh request",
                                 what, (long long)ts, (long long)skew,
                                 (unsigned long long)svc->cfg->max_clock_skew_ms);
        }
    }
    if (code != TU_GRPC_OK) {
        teeu_key_free(key);
        return code;
    }
    *key_out = key;
    return TU_GRPC_OK;
}

/*
 * A put header authenticated by the DataAuth its owner signed for the
 * AuthManager: the owner's signature over this data_uuid, checked with a
 * public-key operation, attributes the object without another signature.
 */
static int verify_put_data_auth(const Teeu__V1__PutObjectHeader *hdr, tu_grpc_response *resp, teeu_key **key_out)
{
    teeu_key *key = NULL;
    int code = load_requester_key(hdr->owner_id, hdr->owner_public_key, "PutObject header", resp, &key);
    if (code != TU_GRPC_OK)
        return code;
    Secretflowapis__V1__Sdc__DataAuth *auth =
        secretflowapis__v1__sdc__data_auth__unpack(NULL, hdr->data_auth.len, hdr->data_auth.data);
    if (auth == NULL) {
        code = TU_GRPC_INVALID_ARGUMENT;
        tu_grpc_reply_status(resp, code, "PutObject header: data_auth is not a DataAuth message");
    } else if (auth->data_uuid == NULL || strcmp(auth->data_uuid, hdr->data_uuid) != 0) {
        code = TU_GRPC_PERMISSION_DENIED;
        tu_grpc_reply_status(resp, code, "PutObject header: data_auth is for data %s, not %s",
                             auth->data_uuid ? auth->data_uuid : "(none)", hdr->data_uuid);
    } else if (!str_empty(auth->data_owner_id) && strcmp(auth->data_owner_id, hdr->owner_id) != 0) {
        code = TU_GRPC_PERMISSION_DENIED;
        tu_grpc_reply_status(resp, code, "PutObject header: data_auth names owner %s, not %s", auth->data_owner_id,
                             hdr->owner_id);
    } else if (tu_wire_verify_data_auth(key, auth) != TEEU_OK) {
        code = TU_GRPC_PERMISSION_DENIED;
        tu_grpc_reply_status(resp, code, "PutObject header: %s", teeu_last_error());
    }
    if (auth != NULL)
        secretflowapis__v1__sdc__data_auth__free_unpacked(auth, NULL);
    if (code != TU_GRPC_OK) {
        teeu_key_free(key);
        return code;
    }
    *key_out = key;
    return TU_GRPC_OK;
}

/* ---- identity ------------------------------------------------------------------- */

static teeu_status load_identity(td_service *svc, const char *state_dir)
{
    char *path = NULL;
    if (asprintf(&path, "%s/identity.pem", state_dir) < 0)
        return tu_error(TEEU_ERR_NOMEM, "path");
    teeu_status st;
    if (access(path, F_OK) == 0) {
        st = tu_key_load_private_file_min(path, NULL, IDENTITY_BITS, &svc->identity);
    } else {
        tu_log(TEEU_LOG_INFO, "teeud: generating the RSA-%d identity key %s", IDENTITY_BITS, path);
        char *pem = NULL;
        size_t pem_len = 0;
        st = teeu_key_generate(IDENTITY_BITS, &svc->identity);
        if (st == TEEU_OK)
            st = teeu_key_private_pem(svc->identity, NULL, &pem, &pem_len);
        if (st == TEEU_OK)
            st = tu_write_file_atomic(path, pem, pem_len, 0600);
        tu_free_secret(pem, pem_len);
    }
    if (st == TEEU_OK) {
        size_t len = 0;
        st = teeu_key_public_pem(svc->identity, &svc->identity_pem, &len);
    }
    if (st != TEEU_OK)
        tu_error_context(st, "identity key %s", path);
    free(path);
    return st;
}

teeu_status td_service_new(const td_config *cfg, td_service **out)
{
    *out = NULL;
    td_service *svc = calloc(1, sizeof *svc);
    if (svc == NULL)
        return tu_error(TEEU_ERR_NOMEM, "service");
    svc->cfg = cfg;
    pthread_mutex_init(&svc->lock, NULL);
    teeu_status st = TEEU_OK;
    if (mkdir(cfg->state_dir, 0700) != 0 && errno != EEXIST)
        st = tu_error(TEEU_ERR_IO, "cannot create the state folder %s: %s", cfg->state_dir, strerror(errno));
    if (st == TEEU_OK)
        st = td_self_measurement(svc->mr_enclave);
    if (st == TEEU_OK)
        st = load_identity(svc, cfg->state_dir);
    if (st == TEEU_OK)
        st = td_store_open(cfg->state_dir, cfg->recycle_bytes, &svc->store);
    if (st == TEEU_OK) {
        const char *backend = cfg->attestation;
        if (backend == NULL)
            backend = cfg->sim_authority ? "sim" : cfg->simulation ? "none" : "gramine";
        if (strcmp(backend, "sim") == 0 && !cfg->simulation)
            st = tu_error(TEEU_ERR_INSECURE, "the sim attestation backend is for --simulation only");
        else if (strcmp(backend, "none") == 0 && !cfg->simulation)
            st = tu_error(TEEU_ERR_INSECURE, "attestation 'none' is for --simulation only");
        else
            st = td_attester_open(backend, cfg->sim_authority, svc->mr_enclave, &svc->attester);
    }
    if (st == TEEU_OK) {
        /* Four ready keys cover a burst of calls; more would only compete for the CPU. */
        st = tu_keypool_new(3072, 4, &svc->compute_keys);
    }
    if (st != TEEU_OK) {
        td_service_free(svc);
        return st;
    }
    *out = svc;
    return TEEU_OK;
}

void td_service_free(td_service *svc)
{
    if (svc == NULL)
        return;
    tu_keypool_free(svc->compute_keys);
    td_store_free(svc->store);
    td_attester_free(svc->attester);
    teeu_key_free(svc->identity);
    free(svc->identity_pem);
    pthread_mutex_destroy(&svc->lock);
    free(svc);
}

const char *td_service_attestation(const td_service *svc)
{
    return td_attester_name(svc->attester);
}

/* ---- Health ----------------------------------------------------------------- */

static void h_health(void *ctx, void *ws, const tu_grpc_request *req, tu_grpc_response *resp)
{
    (void)ws;
    (void)req;
    td_service *svc = ctx;
    Teeu__V1__HealthResponse r = TEEU__V1__HEALTH_RESPONSE__INIT;
    r.status = (char *)"SERVING";
    r.api_version = (char *)"teeu.v1";
    r.server_version = (char *)SERVER_VERSION;
    r.simulation = svc->cfg->simulation;
    reply_pb(resp, &r.base);
}

/* ---- Attest ----------------------------------------------------------------- */

static void h_attest(void *ctx, void *ws, const tu_grpc_request *req, tu_grpc_response *resp)
{
    (void)ws;
    td_service *svc = ctx;
    Teeu__V1__AttestRequest *q = teeu__v1__attest_request__unpack(NULL, req->msgs[0].len, req->msgs[0].data);
    if (q == NULL) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "request is not an AttestRequest");
        return;
    }
    Teeu__V1__AttestResponse r = TEEU__V1__ATTEST_RESPONSE__INIT;
    Secretflowapis__V1__Sdc__UnifiedAttestationReport *rep = NULL;
    tu_buf raw = {0};
    size_t nlen = strlen(q->nonce);
    bool hex_ok = nlen == 64;
    for (size_t i = 0; hex_ok && i < nlen; i++)
        hex_ok = (q->nonce[i] >= '0' && q->nonce[i] <= '9') || (q->nonce[i] >= 'A' && q->nonce[i] <= 'F');
    if (!hex_ok) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "nonce must be 64 uppercase hex digits (32 random bytes)");
        goto out;
    }
    if (td_attester_available(svc->attester)) {
        uint8_t binding[TU_SHA256_LEN];
        tu_bytes parts[] = {TU_STR(svc->identity_pem), TU_STR(q->nonce)};
        if (tu_sha256_sep(parts, 2, binding) != TEEU_OK ||
            td_attester_report(svc->attester, binding, sizeof binding, &raw) != TEEU_OK) {
            tu_grpc_reply_status(resp, TU_GRPC_UNAVAILABLE, "cannot produce an attestation report: %s",
                                 teeu_last_error());
            goto out;
        }
        rep = secretflowapis__v1__sdc__unified_attestation_report__unpack(NULL, raw.len, raw.data);
        if (rep == NULL) {
            tu_grpc_reply_status(resp, TU_GRPC_INTERNAL, "the attestation backend produced a malformed report");
            goto out;
        }
        r.report = rep;
    }
    r.identity_public_key = svc->identity_pem;
    r.nonce = q->nonce;
    r.simulation = svc->cfg->simulation;
    reply_pb(resp, &r.base);
    tu_grpc_reply_note(resp, "backend=%s", td_attester_name(svc->attester));
out:
    if (rep)
        secretflowapis__v1__sdc__unified_attestation_report__free_unpacked(rep, NULL);
    tu_buf_free(&raw);
    teeu__v1__attest_request__free_unpacked(q, NULL);
}

/* ---- PutObject (incremental) ----------------------------------------------------- */

/*
 * A segment as it lies in the received PutObjectRequest: the ciphertext is
 * borrowed from the message (valid until the next tu_grpc_call_recv), so it
 * goes to the file with one write and no intermediate copy.
 */
typedef struct put_segment {
    uint64_t index;
    bool final;
    const uint8_t *ct;
    size_t ct_len;
} put_segment;

/* A protobuf varint (at most 10 bytes, no bits past 64). */
static bool pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*p == end)
            return false;
        uint8_t b = *(*p)++;
        if (shift == 63 && b > 1)
            return false;
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* A length-delimited field's bytes: bounded by what is left. */
static bool pb_bytes(const uint8_t **p, const uint8_t *end, const uint8_t **data, size_t *len)
{
    uint64_t n;
    if (!pb_varint(p, end, &n) || n > (uint64_t)(end - *p))
        return false;
    *data = *p;
    *len = (size_t)n;
    *p += n;
    return true;
}

/* Skips a field of an unknown number (as protobuf parsers do); groups are refused. */
static bool pb_skip(const uint8_t **p, const uint8_t *end, unsigned wire_type)
{
    uint64_t v;
    const uint8_t *d;
    size_t n;
    switch (wire_type) {
    case 0:
        return pb_varint(p, end, &v);
    case 1:
    case 5:
        n = wire_type == 1 ? 8 : 4;
        if ((size_t)(end - *p) < n)
            return false;
        *p += n;
        return true;
    case 2:
        return pb_bytes(p, end, &d, &n);
    default:
        return false;
    }
}

/* One field key: number and wire type; field number 0 is invalid. */
static bool pb_key(const uint8_t **p, const uint8_t *end, uint64_t *field, unsigned *wire_type)
{
    uint64_t key;
    if (!pb_varint(p, end, &key) || (key >> 3) == 0 || (key >> 3) > 0x1fffffff)
        return false;
    *field = key >> 3;
    *wire_type = (unsigned)(key & 7);
    return true;
}

/* PutObjectSegment{index(1) uint32, final(2) bool, ciphertext(3) bytes}; each known field at most once. */
static const char *parse_segment_body(const uint8_t *p, const uint8_t *end, put_segment *out)
{
    bool seen[4] = {false, false, false, false};
    while (p < end) {
        uint64_t field, v;
        unsigned wt;
        if (!pb_key(&p, end, &field, &wt))
            return "malformed PutObjectSegment";
        if (field > 3) {
            if (!pb_skip(&p, end, wt))
                return "malformed PutObjectSegment";
            continue;
        }
        if (seen[field])
            return "PutObjectSegment repeats a field";
        seen[field] = true;
        if (field == 3) {
            if (wt != 2 || !pb_bytes(&p, end, &out->ct, &out->ct_len))
                return "malformed PutObjectSegment.ciphertext";
            continue;
        }
        if (wt != 0 || !pb_varint(&p, end, &v))
            return "malformed PutObjectSegment";
        if (field == 1) {
            if (v > UINT32_MAX)
                return "PutObjectSegment.index out of range";
            out->index = v;
        } else {
            if (v > 1)
                return "PutObjectSegment.final is not a bool";
            out->final = v == 1;
        }
    }
    return NULL;
}

/*
 * PutObjectRequest{segment(2)} parsed in place (the header, field 1, is
 * parsed with protobuf-c: it comes once). NULL, or why it is refused.
 */
static const char *parse_put_segment(const uint8_t *data, size_t len, put_segment *out)
{
    const uint8_t *p = data, *end = data + len, *seg = NULL;
    size_t seg_len = 0;
    memset(out, 0, sizeof *out);
    out->ct = data; /* an absent ciphertext is empty (and refused by the size checks) */
    while (p < end) {
        uint64_t field;
        unsigned wt;
        if (!pb_key(&p, end, &field, &wt))
            return "malformed PutObjectRequest";
        if (field == 1)
            return "expected a segment";
        if (field != 2) {
            if (!pb_skip(&p, end, wt))
                return "malformed PutObjectRequest";
            continue;
        }
        if (seg != NULL)
            return "PutObjectRequest repeats its segment";
        if (wt != 2 || !pb_bytes(&p, end, &seg, &seg_len))
            return "malformed PutObjectRequest";
    }
    if (seg == NULL)
        return "expected a segment";
    return parse_segment_body(seg, seg + seg_len, out);
}

static void s_put(void *ctx, void *ws, tu_grpc_call *call)
{
    (void)ws;
    td_service *svc = ctx;
    tu_grpc_response *resp = tu_grpc_call_response(call);
    Teeu__V1__PutObjectRequest *first = NULL;
    Teeu__V1__PutObjectHeader *hdr = NULL;
    teeu_key *owner = NULL;
    td_writer *w = NULL;
    tu_grpc_msg msg;
    bool slot = false;
    pthread_mutex_lock(&svc->lock);
    if (svc->uploads_running < svc->cfg->max_concurrent_uploads) {
        svc->uploads_running++;
        slot = true;
    }
    pthread_mutex_unlock(&svc->lock);
    if (!slot) {
        tu_grpc_reply_status(resp, TU_GRPC_RESOURCE_EXHAUSTED,
                             "the worker already receives %zu uploads, its max-concurrent-uploads limit; retry later",
                             svc->cfg->max_concurrent_uploads);
        return;
    }
    int rv = tu_grpc_call_recv(call, &msg);
    if (rv <= 0) {
        tu_grpc_reply_status(resp, rv < 0 ? TU_GRPC_CANCELLED : TU_GRPC_INVALID_ARGUMENT, "%s",
                             rv < 0 ? teeu_last_error() : "PutObject without messages: send the header first");
        goto out;
    }
    first = teeu__v1__put_object_request__unpack(NULL, msg.len, msg.data);
    if (first == NULL || first->part_case != TEEU__V1__PUT_OBJECT_REQUEST__PART_HEADER || first->header == NULL) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "the first PutObjectRequest must be the signed header");
        goto out;
    }
    hdr = teeu__v1__put_object_header__unpack(NULL, first->header->header.len, first->header->header.data);
    if (hdr == NULL) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "header is not a PutObjectHeader");
        goto out;
    }
    int auth_code = first->header->signature.len == 0 && hdr->data_auth.len > 0
                        ? verify_put_data_auth(hdr, resp, &owner)
                        : verify_signed(svc, &first->header->header, &first->header->signature, hdr->owner_id,
                                        hdr->owner_public_key, hdr->timestamp_ms, "PutObject header", resp, &owner);
    if (auth_code != TU_GRPC_OK)
        goto out;
    if (!td_uuid_valid(hdr->data_uuid)) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT,
                             "data_uuid must be 1..128 characters of [A-Za-z0-9_-]");
        goto out;
    }
    if (hdr->stream_header.len != TU_STREAM_HEADER_LEN) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "stream_header must be %d bytes (docs/crypto.md)",
                             TU_STREAM_HEADER_LEN);
        goto out;
    }
    uint32_t hdr_seg = ((uint32_t)hdr->stream_header.data[4] << 24) | ((uint32_t)hdr->stream_header.data[5] << 16) |
                       ((uint32_t)hdr->stream_header.data[6] << 8) | hdr->stream_header.data[7];
    /* Tiny segments would multiply the stored size (16-byte tag each). */
    if (hdr->segment_size < 1024 && hdr->plaintext_size > hdr->segment_size) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT,
                             "segment_size %llu is below 1024 bytes: use larger segments (4 MiB is a good choice)",
                             (unsigned long long)hdr->segment_size);
        goto out;
    }
    if (hdr->segment_size == 0 || hdr->segment_size != hdr_seg ||
        hdr->segment_size + TU_GCM_TAG_LEN + 64 > svc->cfg->max_message) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT,
                             "segment_size %llu must equal the stream header's (%u) and fit a %zu-byte message",
                             (unsigned long long)hdr->segment_size, hdr_seg, svc->cfg->max_message);
        goto out;
    }
    if (hdr->plaintext_size > svc->cfg->max_object_size) {
        tu_grpc_reply_status(resp, TU_GRPC_RESOURCE_EXHAUSTED,
                             "object of %llu bytes exceeds this worker's max-object-size of %llu bytes",
                             (unsigned long long)hdr->plaintext_size,
                             (unsigned long long)svc->cfg->max_object_size);
        goto out;
    }
    /* The file's size: every segment's ciphertext and tag (for a bound, at most that). */
    uint64_t n_segs = hdr->plaintext_size / hdr->segment_size + 1, hint = 0;
    if (__builtin_mul_overflow(n_segs, TU_GCM_TAG_LEN, &hint) || __builtin_add_overflow(hint, hdr->plaintext_size, &hint))
        hint = 0;
    teeu_status st = td_writer_begin(svc->store, TD_OBJECT, hdr->data_uuid, hdr->owner_id,
                                     svc->cfg->max_objects_per_party, hint, &w);
    if (st != TEEU_OK) {
        int code = st == TEEU_ERR_RPC_ALREADY_EXISTS ? TU_GRPC_ALREADY_EXISTS
                   : st == TEEU_ERR_LIMIT            ? TU_GRPC_RESOURCE_EXHAUSTED
                   : st == TEEU_ERR_INVALID_ARGUMENT ? TU_GRPC_INVALID_ARGUMENT
                                                     : TU_GRPC_INTERNAL;
        tu_grpc_reply_status(resp, code, "%s", teeu_last_error());
        goto out;
    }
    uint64_t received = 0, index = 0;
    bool final = false;
    while (!final) {
        rv = tu_grpc_call_recv(call, &msg);
        if (rv < 0) {
            tu_grpc_reply_status(resp, TU_GRPC_CANCELLED, "upload abandoned: %s", teeu_last_error());
            goto out;
        }
        if (rv == 0) {
            tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT,
                                 "the stream ended before the final segment; nothing was stored");
            goto out;
        }
        put_segment seg;
        const char *why = parse_put_segment(msg.data, msg.len, &seg);
        if (why == NULL && seg.index != index)
            why = "segment index out of order";
        else if (why == NULL && (seg.ct_len < TU_GCM_TAG_LEN || seg.ct_len - TU_GCM_TAG_LEN > hdr->segment_size))
            why = "segment larger than segment_size + tag";
        else if (why == NULL && !seg.final && seg.ct_len - TU_GCM_TAG_LEN != hdr->segment_size)
            why = "a non-final segment must hold exactly segment_size plaintext bytes";
        if (why == NULL) {
            received += seg.ct_len - TU_GCM_TAG_LEN;
            final = seg.final;
            if (received > hdr->plaintext_size)
                why = hdr->plaintext_size_is_bound ? "segments exceed the plaintext_size bound"
                                                   : "segments do not add up to plaintext_size";
            else if (final && received != hdr->plaintext_size && !hdr->plaintext_size_is_bound)
                why = "segments do not add up to plaintext_size";
        }
        if (why != NULL) {
            tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "segment %llu: %s; nothing was stored",
                                 (unsigned long long)index, why);
            goto out;
        }
        /* One write, straight from the received message. */
        if (td_writer_write(w, seg.ct, seg.ct_len) != TEEU_OK) {
            tu_grpc_reply_status(resp, TU_GRPC_UNAVAILABLE, "cannot store the object: %s", teeu_last_error());
            goto out;
        }
        index++;
    }
    /* Answer only after the client's half-close (libcurl 7.88 loses a response that arrives mid-upload). */
    rv = tu_grpc_call_recv(call, &msg);
    if (rv != 0) {
        tu_grpc_reply_status(resp, rv < 0 ? TU_GRPC_CANCELLED : TU_GRPC_INVALID_ARGUMENT,
                             "a message after the final segment, or the upload was abandoned; nothing was stored");
        goto out;
    }
    td_meta meta = {0};
    meta.kind = TD_OBJECT;
    meta.uuid = hdr->data_uuid;
    meta.owner_id = hdr->owner_id;
    /* With plaintext_size_is_bound the header's size is only an upper bound:
     * the object is what arrived (checked against the bound above). */
    meta.plaintext_size = received;
    meta.segment_size = hdr->segment_size;
    meta.n_segments = index;
    meta.stored_bytes = td_writer_bytes(w);
    meta.created_ms = now_ms();
    memcpy(meta.stream_header, hdr->stream_header.data, TU_STREAM_HEADER_LEN);
    uint64_t stored = td_writer_bytes(w);
    st = td_writer_commit(w, &meta);
    w = NULL;
    if (st != TEEU_OK) {
        tu_grpc_reply_status(resp, TU_GRPC_UNAVAILABLE, "cannot store the object durably: %s", teeu_last_error());
        goto out;
    }
    Teeu__V1__PutObjectResponse r = TEEU__V1__PUT_OBJECT_RESPONSE__INIT;
    r.data_uuid = hdr->data_uuid;
    r.stored_bytes = stored;
    if (send_pb(call, &r.base) != TEEU_OK)
        tu_grpc_reply_status(resp, TU_GRPC_INTERNAL, "%s", teeu_last_error());
    tu_grpc_reply_note(resp, "object=%s owner=%s bytes=%llu", hdr->data_uuid, hdr->owner_id,
                       (unsigned long long)stored);
out:
    td_writer_abort(w);
    pthread_mutex_lock(&svc->lock);
    svc->uploads_running--;
    pthread_mutex_unlock(&svc->lock);
    teeu_key_free(owner);
    if (hdr)
        teeu__v1__put_object_header__free_unpacked(hdr, NULL);
    if (first)
        teeu__v1__put_object_request__free_unpacked(first, NULL);
}

/* ---- Call -------------------------------------------------------------------------- */

static teeu_status read_full(int fd, uint8_t *buf, size_t len, const char *what)
{
    while (len > 0) {
        ssize_t n = read(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return tu_error(TEEU_ERR_IO, "reading %s: %s", what, n < 0 ? strerror(errno) : "file is truncated");
        buf += n;
        len -= (size_t)n;
    }
    return TEEU_OK;
}

/*
 * Decrypts a stored object into memory, segment by segment in place: the
 * plaintext buffer (plaintext_size + one tag) is all it needs. *out is
 * secret: free with tu_free_secret(*out, *out_cap).
 */
static teeu_status open_object(td_service *svc, const td_meta *m, const uint8_t key[32], uint8_t **out,
                               size_t *out_cap)
{
    *out = NULL;
    *out_cap = 0;
    if (m->plaintext_size > SIZE_MAX - TU_GCM_TAG_LEN)
        return tu_error(TEEU_ERR_OVERFLOW, "object too large");
    size_t cap = (size_t)m->plaintext_size + TU_GCM_TAG_LEN;
    uint8_t *buf = malloc(cap);
    if (buf == NULL)
        return tu_error(TEEU_ERR_NOMEM, "no memory for the %llu-byte object %s",
                        (unsigned long long)m->plaintext_size, m->uuid);
    td_reader rd = {.fd = -1};
    tu_stream *s = NULL;
    teeu_status st = td_store_open_data(svc->store, TD_OBJECT, m->uuid, &rd);
    if (st == TEEU_OK)
        st = tu_stream_open_init(key, (const uint8_t *)m->uuid, strlen(m->uuid), m->stream_header, &s);
    size_t off = 0;
    for (uint64_t i = 0; st == TEEU_OK && i < m->n_segments; i++) {
        size_t pt = td_segment_pt_len(m, i);
        st = read_full(rd.fd, buf + off, pt + TU_GCM_TAG_LEN, "an object");
        if (st == TEEU_OK)
            st = tu_stream_open_segment(s, buf + off, pt + TU_GCM_TAG_LEN, i + 1 == m->n_segments, buf + off);
        off += pt;
    }
    if (st == TEEU_OK)
        st = tu_stream_finish(s);
    tu_stream_free(s);
    td_store_close_data(svc->store, m->uuid, &rd);
    if (st != TEEU_OK) {
        tu_free_secret(buf, cap);
        return tu_error_context(st, "decrypting object %s (wrong key, or the stored data is damaged)", m->uuid);
    }
    *out = buf;
    *out_cap = cap;
    return TEEU_OK;
}

typedef struct report_ctx {
    td_service *svc;
} report_ctx;

static teeu_status compute_meta_report(void *ctx, const char *hex_user_data, tu_buf *out)
{
    report_ctx *rc = ctx;
    uint8_t rd[32];
    teeu_status st = tu_hex_decode_to(hex_user_data, strlen(hex_user_data), rd, sizeof rd);
    if (st != TEEU_OK)
        return st;
    return td_attester_report(rc->svc->attester, rd, sizeof rd, out);
}

/* Does the requester's TeeTaskParams describe exactly this task? */
static const char *task_params_mismatch(const Secretflowapis__V1__Sdc__Teeapps__TeeTaskParams *tp,
                                        const Teeu__V1__CallTask *t, const char *identity, char *const *uuids,
                                        size_t n)
{
    if (tp == NULL)
        return "tee_task_params is not a TeeTaskParams";
    if (strcmp(tp->task_id, t->task_id) != 0)
        return "tee_task_params.task_id differs from the task's";
    if (strcmp(tp->requester_id, t->requester_id) != 0)
        return "tee_task_params.requester_id differs from the task's";
    if (strcmp(tp->app_type, APP_TYPE) != 0)
        return "tee_task_params.app_type must be \"teeu\"";
    if (strcmp(tp->code, identity) != 0)
        return "tee_task_params.code is not the identity hash of the function descriptor";
    if (tp->n_inputs != n)
        return "tee_task_params.inputs must list every object of the arguments, in order";
    for (size_t i = 0; i < n; i++)
        if (tp->inputs[i] == NULL || strcmp(tp->inputs[i]->data_uuid, uuids[i]) != 0 ||
            strcmp(tp->inputs[i]->partition_id, "default") != 0)
            return "tee_task_params.inputs differ from the arguments (data_uuid, partition \"default\")";
    return NULL;
}

static int am_code(teeu_status st)
{
    switch (st) {
    case TEEU_ERR_RPC_PERMISSION_DENIED:
    case TEEU_ERR_NOT_AUTHORIZED:
        return TU_GRPC_PERMISSION_DENIED;
    case TEEU_ERR_RPC_NOT_FOUND:
    case TEEU_ERR_NOT_FOUND:
        return TU_GRPC_NOT_FOUND;
    case TEEU_ERR_RPC_INVALID_ARGUMENT:
        return TU_GRPC_FAILED_PRECONDITION;
    case TEEU_ERR_CONNECT:
    case TEEU_ERR_TIMEOUT:
    case TEEU_ERR_RPC_UNAVAILABLE:
    case TEEU_ERR_TLS:
        return TU_GRPC_UNAVAILABLE;
    default:
        return TU_GRPC_INTERNAL;
    }
}

/* Seals the result's .npy bytes under a fresh key into results/ and writes its metadata. */
static teeu_status store_result(td_service *svc, const char *uuid, const char *requester_id, const char *function,
                                char **revealers, size_t n_revealers, bool allow_plaintext, const uint8_t *npy,
                                size_t npy_len)
{
    uint8_t key[TU_STREAM_KEY_LEN];
    uint8_t header[TU_STREAM_HEADER_LEN];
    uint8_t *seg = malloc(RESULT_SEGMENT + TU_GCM_TAG_LEN);
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    char *sealed_b64 = NULL;
    tu_stream *s = NULL;
    td_writer *w = NULL;
    teeu_status st = seg ? tu_random_secret(key, sizeof key) : tu_error(TEEU_ERR_NOMEM, "result buffer");
    if (st == TEEU_OK)
        st = tu_rsa_oaep_encrypt(svc->identity, key, sizeof key, &sealed, &sealed_len);
    if (st == TEEU_OK)
        st = tu_base64_encode(sealed, sealed_len, &sealed_b64);
    if (st == TEEU_OK)
        st = tu_stream_seal_init(key, (const uint8_t *)uuid, strlen(uuid), RESULT_SEGMENT, header, &s);
    if (st == TEEU_OK)
        st = td_writer_begin(svc->store, TD_RESULT, uuid, requester_id, 0, 0, &w);
    uint64_t n_segments = 0;
    size_t off = 0;
    while (st == TEEU_OK) {
        size_t n = npy_len - off < RESULT_SEGMENT ? npy_len - off : RESULT_SEGMENT;
        bool final = off + n == npy_len;
        st = tu_stream_seal_segment(s, npy + off, n, final, seg);
        if (st == TEEU_OK)
            st = td_writer_write(w, seg, n + TU_GCM_TAG_LEN);
        off += n;
        n_segments++;
        if (final)
            break;
    }
    if (st == TEEU_OK) {
        td_meta m = {0};
        m.kind = TD_RESULT;
        m.uuid = (char *)uuid;
        m.owner_id = (char *)requester_id;
        m.plaintext_size = npy_len;
        m.segment_size = RESULT_SEGMENT;
        m.n_segments = n_segments;
        m.stored_bytes = td_writer_bytes(w);
        memcpy(m.stream_header, header, sizeof header);
        m.sealed_key = sealed_b64;
        m.revealers = revealers;
        m.n_revealers = n_revealers;
        m.allow_plaintext = allow_plaintext;
        m.function = (char *)function;
        m.created_ms = now_ms();
        st = td_writer_commit(w, &m);
        w = NULL;
    }
    td_writer_abort(w);
    tu_stream_free(s);
    tu_wipe(key, sizeof key);
    free(seg);
    free(sealed);
    free(sealed_b64);
    return st;
}

/* Kernels that stack several inputs on a new axis 0 (numpy's list argument). */
static bool is_reduction(const tu_kernel_fn *fn)
{
    static const char *const names[] = {"average@", "mean@", "sum@", "min@", "max@", "var@", "std@", "count@"};
    const char *d = tu_kernel_fn_descriptor(fn);
    for (size_t i = 0; i < TU_ARRAY_LEN(names); i++)
        if (strncmp(d, names[i], strlen(names[i])) == 0)
            return true;
    return false;
}

/*
 * A list of one object given to a reduction: numpy stacks it to shape
 * (1, ...) (np.mean([a], axis=0) is a, not a's column means). The kernels
 * stack only several inputs, so give them a (1, ...) view.
 */
static teeu_status lift_single_list(const teeu_ndarray *a, teeu_ndarray **out)
{
    size_t nd = teeu_ndarray_ndim(a);
    if (nd + 1 > TEEU_NDARRAY_MAX_DIMS)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "a list argument would exceed %d dimensions", TEEU_NDARRAY_MAX_DIMS);
    size_t shape[TEEU_NDARRAY_MAX_DIMS];
    ptrdiff_t strides[TEEU_NDARRAY_MAX_DIMS];
    shape[0] = 1;
    strides[0] = 0;
    memcpy(shape + 1, teeu_ndarray_shape(a), nd * sizeof *shape);
    memcpy(strides + 1, teeu_ndarray_strides(a), nd * sizeof *strides);
    teeu_ndarray_desc d;
    teeu_ndarray_desc_init(&d, teeu_ndarray_dtype(a));
    d.byte_order = teeu_ndarray_byte_order(a);
    d.ndim = nd + 1;
    d.shape = shape;
    d.strides = strides;
    return teeu_ndarray_view_desc(&d, teeu_ndarray_data(a), teeu_ndarray_nbytes(a), out);
}

static bool list_has(char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

static void h_call(void *ctx, void *ws, const tu_grpc_request *req, tu_grpc_response *resp)
{
    (void)ws;
    td_service *svc = ctx;
    Teeu__V1__CallRequest *q = teeu__v1__call_request__unpack(NULL, req->msgs[0].len, req->msgs[0].data);
    Teeu__V1__CallTask *t = NULL;
    Secretflowapis__V1__Sdc__Teeapps__TeeTaskParams *tp = NULL;
    teeu_key *rkey = NULL;
    tu_kernel_fn *fn = NULL;
    char **uuids = NULL;
    size_t n = 0;
    td_meta *metas = NULL;
    uint8_t *keys = NULL;
    uint8_t **plain = NULL;
    size_t *plain_cap = NULL;
    teeu_ndarray **arrays = NULL;
    teeu_ndarray *lifted = NULL;   /* the (1, ...) view of a one-object list, at index lifted_at */
    size_t lifted_at = 0;
    bool lift = false;
    teeu_ndarray *result = NULL;
    uint8_t *npy = NULL;
    size_t npy_len = 0;
    char **revealers = NULL;
    size_t n_revealers = 0;
    tu_rpc_channel *ch = NULL;
    bool slot = false;
    char result_uuid[33] = "";
    if (q == NULL || (t = teeu__v1__call_task__unpack(NULL, q->task.len, q->task.data)) == NULL) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "request is not a CallRequest with a CallTask");
        goto out;
    }
    if (verify_signed(svc, &q->task, &q->signature, t->requester_id, t->requester_public_key, t->timestamp_ms,
                      "CallTask", resp, &rkey) != TU_GRPC_OK)
        goto out;
    if (str_empty(t->task_id) || strlen(t->task_id) > 128) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "task_id must be a fresh id of 1..128 characters");
        goto out;
    }
    if (tu_kernel_find(t->function, &fn) != TEEU_OK) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "function '%.200s': %s", t->function, teeu_last_error());
        goto out;
    }
    /* The objects, in argument order. */
    for (size_t a = 0; a < t->n_args; a++) {
        if (t->args[a]->n_data_uuids == 0 || (!t->args[a]->is_list && t->args[a]->n_data_uuids != 1)) {
            tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT,
                                 "argument %zu: give one data_uuid, or several with is_list", a);
            goto out;
        }
        n += t->args[a]->n_data_uuids;
    }
    if (n == 0 || n > TU_KERNEL_MAX_INPUTS) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "a call takes 1..%d objects (got %zu)",
                             TU_KERNEL_MAX_INPUTS, n);
        goto out;
    }
    uuids = calloc(n, sizeof *uuids);
    metas = calloc(n, sizeof *metas);
    plain = calloc(n, sizeof *plain);
    plain_cap = calloc(n, sizeof *plain_cap);
    arrays = calloc(n, sizeof *arrays);
    revealers = calloc(n + 1, sizeof *revealers);
    if (!uuids || !metas || !plain || !plain_cap || !arrays || !revealers) {
        tu_grpc_reply_status(resp, TU_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    size_t k = 0;
    for (size_t a = 0; a < t->n_args; a++) {
        if (t->n_args == 1 && t->args[a]->is_list && t->args[a]->n_data_uuids == 1 && is_reduction(fn)) {
            lift = true;
            lifted_at = k;
        }
        for (size_t j = 0; j < t->args[a]->n_data_uuids; j++)
            uuids[k++] = t->args[a]->data_uuids[j];
    }
    for (size_t i = 0; i < n; i++) {
        if (!td_uuid_valid(uuids[i]) || td_store_get(svc->store, TD_OBJECT, uuids[i], &metas[i]) != TEEU_OK) {
            tu_grpc_reply_status(resp, TU_GRPC_NOT_FOUND, "object %.140s is not stored on this worker: put it first",
                                 uuids[i]);
            goto out;
        }
    }
    /* Revealers: the requester and the input owners, narrowed by the task. */
    revealers[n_revealers++] = t->requester_id;
    for (size_t i = 0; i < n; i++)
        if (!list_has(revealers, n_revealers, metas[i].owner_id))
            revealers[n_revealers++] = metas[i].owner_id;
    if (t->n_revealers > 0) {
        for (size_t i = 0; i < t->n_revealers; i++)
            if (!list_has(revealers, n_revealers, t->revealers[i])) {
                tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT,
                                     "revealer %.60s is neither the requester nor an input owner: revealers may "
                                     "only narrow that set",
                                     t->revealers[i]);
                goto out;
            }
        n_revealers = 0;
        for (size_t i = 0; i < t->n_revealers; i++)
            if (!list_has(revealers, n_revealers, t->revealers[i]))
                revealers[n_revealers++] = t->revealers[i];
    }
    /* The TeeTaskParams the requester signed must be this very task. */
    tu_bytes tpp = TU_BYTES(t->tee_task_params.data, t->tee_task_params.len);
    if (tu_rsa_verify(rkey, &tpp, 1, t->tee_task_params_signature.data, t->tee_task_params_signature.len) !=
        TEEU_OK) {
        tu_grpc_reply_status(resp, TU_GRPC_PERMISSION_DENIED,
                             "tee_task_params_signature does not verify with the requester's key");
        goto out;
    }
    tp = secretflowapis__v1__sdc__teeapps__tee_task_params__unpack(NULL, t->tee_task_params.len,
                                                                   t->tee_task_params.data);
    const char *why = task_params_mismatch(tp, t, tu_kernel_fn_identity(fn), uuids, n);
    if (why != NULL) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "%s", why);
        goto out;
    }
    if (str_empty(svc->cfg->authmanager)) {
        tu_grpc_reply_status(resp, TU_GRPC_FAILED_PRECONDITION,
                             "this worker has no AuthManager configured (--authmanager HOST:PORT)");
        goto out;
    }
    pthread_mutex_lock(&svc->lock);
    if (svc->calls_running < svc->cfg->max_concurrent_calls) {
        svc->calls_running++;
        slot = true;
    }
    pthread_mutex_unlock(&svc->lock);
    if (!slot) {
        tu_grpc_reply_status(resp, TU_GRPC_RESOURCE_EXHAUSTED,
                             "the worker already runs %zu calls, its max-concurrent-calls limit; retry later",
                             svc->cfg->max_concurrent_calls);
        goto out;
    }
    /* The data keys, only through GetComputeMeta. */
    tu_rpc_options ro;
    tu_rpc_options_init(&ro);
    ro.endpoint = svc->cfg->authmanager;
    ro.plaintext = svc->cfg->simulation && svc->cfg->authmanager_ca == NULL;
    ro.ca_file = svc->cfg->authmanager_ca;
    ro.cert_file = svc->cfg->authmanager_cert;
    ro.key_file = svc->cfg->authmanager_key;
    if (tu_rpc_channel_new(&ro, &ch) != TEEU_OK) {
        tu_grpc_reply_status(resp, TU_GRPC_INTERNAL, "AuthManager channel: %s", teeu_last_error());
        goto out;
    }
    tu_wire_task wt = {.task_id = t->task_id, .requester_id = t->requester_id, .app_type = APP_TYPE,
                       .code = tu_kernel_fn_identity(fn), .data_uuids = (const char *const *)uuids, .n_inputs = n};
    report_ctx rc = {svc};
    teeu_key *fresh = NULL;
    teeu_status st = tu_keypool_take(svc->compute_keys, &fresh);
    if (st == TEEU_OK)
        st = tu_am_get_compute_meta(ch, &wt, fresh, td_attester_available(svc->attester) ? compute_meta_report : NULL,
                                    &rc, NULL, &keys);
    if (st != TEEU_OK) {
        int code = am_code(st);
        tu_grpc_reply_status(resp, code, "%s%s", code == TU_GRPC_PERMISSION_DENIED ? "the AuthManager refused the data keys: " : "GetComputeMeta failed: ",
                             teeu_last_error());
        goto out;
    }
    teeu_npy_decode_options dopts;
    teeu_npy_decode_options_init(&dopts);
    dopts.max_decompressed = svc->cfg->max_object_size; /* a zstd-framed object expands at most this far */
    for (size_t i = 0; i < n; i++) {
        if (open_object(svc, &metas[i], keys + i * 32, &plain[i], &plain_cap[i]) != TEEU_OK ||
            teeu_ndarray_decode(plain[i], (size_t)metas[i].plaintext_size, &dopts, &arrays[i]) != TEEU_OK) {
            tu_grpc_reply_status(resp, TU_GRPC_FAILED_PRECONDITION, "object %s: %s", uuids[i], teeu_last_error());
            goto out;
        }
    }
    tu_free_secret(keys, n * 32);
    keys = NULL;
    if (lift) {
        if (lift_single_list(arrays[lifted_at], &lifted) != TEEU_OK) {
            tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "%s", teeu_last_error());
            goto out;
        }
        teeu_ndarray *orig = arrays[lifted_at];
        arrays[lifted_at] = lifted;
        lifted = orig; /* freed at the end, after the view */
    }
    if (tu_kernel_run(fn, (const teeu_ndarray *const *)arrays, n, &result) != TEEU_OK) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "%s: %s", tu_kernel_fn_descriptor(fn), teeu_last_error());
        goto out;
    }
    if (teeu_ndarray_encode_alloc(result, NULL, &npy, &npy_len) != TEEU_OK) {
        tu_grpc_reply_status(resp, TU_GRPC_INTERNAL, "encoding the result: %s", teeu_last_error());
        goto out;
    }
    if (npy_len > svc->cfg->max_object_size) {
        tu_grpc_reply_status(resp, TU_GRPC_RESOURCE_EXHAUSTED,
                             "the result of %zu bytes exceeds max-object-size (%llu)", npy_len,
                             (unsigned long long)svc->cfg->max_object_size);
        goto out;
    }
    if (tu_uuid4_hex(result_uuid) != TEEU_OK ||
        store_result(svc, result_uuid, t->requester_id, tu_kernel_fn_descriptor(fn), revealers, n_revealers,
                     t->allow_plaintext_reveal, npy, npy_len) != TEEU_OK) {
        tu_grpc_reply_status(resp, TU_GRPC_UNAVAILABLE, "cannot store the result: %s", teeu_last_error());
        goto out;
    }
    Teeu__V1__CallResponse r = TEEU__V1__CALL_RESPONSE__INIT;
    r.result_uuid = result_uuid;
    reply_pb(resp, &r.base);
    tu_grpc_reply_note(resp, "task=%.64s function=%s inputs=%zu result=%s", t->task_id, tu_kernel_fn_descriptor(fn), n,
                       result_uuid);
out:
    if (slot) {
        pthread_mutex_lock(&svc->lock);
        svc->calls_running--;
        pthread_mutex_unlock(&svc->lock);
    }
    for (size_t i = 0; arrays && i < n; i++)
        teeu_ndarray_free(arrays[i]);
    teeu_ndarray_free(lifted);
    for (size_t i = 0; plain && i < n; i++)
        tu_free_secret(plain[i], plain_cap[i]);
    for (size_t i = 0; metas && i < n; i++)
        td_meta_clear(&metas[i]);
    if (keys)
        tu_free_secret(keys, n * 32);
    if (npy) {
        tu_wipe(npy, npy_len);
        teeu_free(npy);
    }
    if (result) {
        if (teeu_ndarray_owns_data(result))
            tu_wipe(teeu_ndarray_data(result), teeu_ndarray_nbytes(result));
        teeu_ndarray_free(result);
    }
    tu_rpc_channel_free(ch);
    free(arrays);
    free(plain);
    free(plain_cap);
    free(metas);
    free(uuids);
    free(revealers);
    tu_kernel_fn_free(fn);
    teeu_key_free(rkey);
    if (tp)
        secretflowapis__v1__sdc__teeapps__tee_task_params__free_unpacked(tp, NULL);
    if (t)
        teeu__v1__call_task__free_unpacked(t, NULL);
    if (q)
        teeu__v1__call_request__free_unpacked(q, NULL);
}

/* ---- Reveal (incremental server streaming) ----------------------------------------- */

static void s_reveal(void *ctx, void *ws, tu_grpc_call *call)
{
    (void)ws;
    td_service *svc = ctx;
    tu_grpc_response *resp = tu_grpc_call_response(call);
    tu_grpc_msg msg;
    Teeu__V1__RevealRequest *q = NULL;
    Teeu__V1__RevealTask *t = NULL;
    teeu_key *rkey = NULL;
    td_meta m = {0};
    uint8_t *rkey_bytes = NULL;
    size_t rkey_len = 0;
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    uint8_t fresh[TU_STREAM_KEY_LEN];
    bool have_fresh = false;
    tu_envelope env = {0};
    bool env_ok = false;
    tu_stream *in = NULL, *outs = NULL;
    uint8_t *buf = NULL;
    char *aad = NULL;
    td_reader rd = {.fd = -1};
    int rv = tu_grpc_call_recv(call, &msg);
    if (rv <= 0) {
        tu_grpc_reply_status(resp, rv < 0 ? TU_GRPC_CANCELLED : TU_GRPC_INVALID_ARGUMENT, "%s",
                             rv < 0 ? teeu_last_error() : "Reveal needs a RevealRequest");
        return;
    }
    q = teeu__v1__reveal_request__unpack(NULL, msg.len, msg.data);
    if (q == NULL || (t = teeu__v1__reveal_task__unpack(NULL, q->task.len, q->task.data)) == NULL) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "request is not a RevealRequest with a RevealTask");
        goto out;
    }
    if (tu_grpc_call_recv(call, &msg) != 0) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "Reveal takes exactly one request message");
        goto out;
    }
    if (verify_signed(svc, &q->task, &q->signature, t->requester_id, t->requester_public_key, t->timestamp_ms,
                      "RevealTask", resp, &rkey) != TU_GRPC_OK)
        goto out;
    if (str_empty(t->nonce) || strlen(t->nonce) > 256) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "nonce must be a fresh value of 1..256 characters");
        goto out;
    }
    if (!td_uuid_valid(t->result_uuid) || td_store_get(svc->store, TD_RESULT, t->result_uuid, &m) != TEEU_OK) {
        tu_grpc_reply_status(resp, TU_GRPC_NOT_FOUND, "no result %.140s on this worker", t->result_uuid);
        goto out;
    }
    if (!list_has(m.revealers, m.n_revealers, t->requester_id)) {
        tu_buf who = {0};
        teeu_status ws_st = TEEU_OK;
        for (size_t i = 0; ws_st == TEEU_OK && i < m.n_revealers; i++)
            ws_st = tu_buf_printf(&who, "%s%s", i ? ", " : "", m.revealers[i]);
        if (ws_st == TEEU_OK)
            ws_st = tu_buf_append(&who, "", 1);
        tu_grpc_reply_status(resp, TU_GRPC_PERMISSION_DENIED,
                             "party %s may not reveal result %s; its revealers are: %s", t->requester_id, m.uuid,
                             ws_st == TEEU_OK && who.data ? (char *)who.data : "(none)");
        tu_buf_free(&who);
        goto out;
    }
    if (t->plaintext && !m.allow_plaintext) {
        tu_grpc_reply_status(resp, TU_GRPC_PERMISSION_DENIED,
                             "result %s was not computed with allow_plaintext_reveal: ask for a sealed reveal", m.uuid);
        goto out;
    }
    teeu_status st = tu_base64_decode(m.sealed_key, strlen(m.sealed_key), &sealed, &sealed_len);
    if (st == TEEU_OK)
        st = tu_rsa_oaep_decrypt(svc->identity, sealed, sealed_len, &rkey_bytes, &rkey_len);
    if (st == TEEU_OK && rkey_len != TU_STREAM_KEY_LEN)
        st = tu_error(TEEU_ERR_DECRYPT, "the stored result key has the wrong length");
    if (st == TEEU_OK)
        st = tu_stream_open_init(rkey_bytes, (const uint8_t *)m.uuid, strlen(m.uuid), m.stream_header, &in);
    if (st == TEEU_OK)
        st = td_store_open_data(svc->store, TD_RESULT, m.uuid, &rd);
    if (st != TEEU_OK) {
        tu_grpc_reply_status(resp, TU_GRPC_DATA_LOSS, "cannot open result %s: %s", m.uuid, teeu_last_error());
        goto out;
    }
    Teeu__V1__RevealHeader h = TEEU__V1__REVEAL_HEADER__INIT;
    Secretflowapis__V1__Sdc__SymmetricSecret sym = SECRETFLOWAPIS__V1__SDC__SYMMETRIC_SECRET__INIT;
    Secretflowapis__V1__Sdc__AsymmetricSecret asym = SECRETFLOWAPIS__V1__SDC__ASYMMETRIC_SECRET__INIT;
    uint8_t sh[TU_STREAM_HEADER_LEN];
    if (asprintf(&aad, "%s|%s", m.uuid, t->nonce) < 0) {
        aad = NULL;
        tu_grpc_reply_status(resp, TU_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    if (!t->plaintext) {
        st = tu_random_secret(fresh, sizeof fresh);
        have_fresh = st == TEEU_OK;
        if (st == TEEU_OK)
            st = tu_envelope_seal(rkey, 32, (const uint8_t *)aad, strlen(aad), fresh, sizeof fresh, &env);
        env_ok = st == TEEU_OK;
        if (st == TEEU_OK)
            st = tu_stream_seal_init(fresh, (const uint8_t *)aad, strlen(aad), (size_t)m.segment_size, sh, &outs);
        if (st != TEEU_OK) {
            tu_grpc_reply_status(resp, TU_GRPC_INTERNAL, "sealing the result: %s", teeu_last_error());
            goto out;
        }
        tu_wire_secret_of_envelope(&env, &sym, &asym);
        h.sealed_key = &asym;
        h.stream_header = (ProtobufCBinaryData){sizeof sh, sh};
    }
    h.plaintext_size = m.plaintext_size;
    h.segment_size = m.segment_size;
    Teeu__V1__RevealResponse rr = TEEU__V1__REVEAL_RESPONSE__INIT;
    rr.part_case = TEEU__V1__REVEAL_RESPONSE__PART_HEADER;
    rr.header = &h;
    if (send_pb(call, &rr.base) != TEEU_OK) {
        tu_grpc_reply_status(resp, TU_GRPC_CANCELLED, "%s", teeu_last_error());
        goto out;
    }
    buf = malloc((size_t)m.segment_size + TU_GCM_TAG_LEN);
    if (buf == NULL) {
        tu_grpc_reply_status(resp, TU_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    for (uint64_t i = 0; i < m.n_segments; i++) {
        size_t pt = td_segment_pt_len(&m, i);
        bool final = i + 1 == m.n_segments;
        st = read_full(rd.fd, buf, pt + TU_GCM_TAG_LEN, "a result");
        if (st == TEEU_OK)
            st = tu_stream_open_segment(in, buf, pt + TU_GCM_TAG_LEN, final, buf);
        if (st == TEEU_OK && outs)
            st = tu_stream_seal_segment(outs, buf, pt, final, buf);
        if (st != TEEU_OK) {
            tu_grpc_reply_status(resp, TU_GRPC_DATA_LOSS, "result %s: %s", m.uuid, teeu_last_error());
            goto out;
        }
        Teeu__V1__PutObjectSegment sg = TEEU__V1__PUT_OBJECT_SEGMENT__INIT;
        sg.index = (uint32_t)i;
        sg.final = final;
        sg.ciphertext = (ProtobufCBinaryData){pt + (outs ? TU_GCM_TAG_LEN : 0), buf};
        Teeu__V1__RevealResponse sr = TEEU__V1__REVEAL_RESPONSE__INIT;
        sr.part_case = TEEU__V1__REVEAL_RESPONSE__PART_SEGMENT;
        sr.segment = &sg;
        st = send_pb(call, &sr.base);
        tu_wipe(buf, pt + TU_GCM_TAG_LEN);
        if (st != TEEU_OK) {
            tu_grpc_reply_status(resp, TU_GRPC_CANCELLED, "%s", teeu_last_error());
            goto out;
        }
    }
    tu_grpc_reply_note(resp, "result=%s revealer=%s %s", m.uuid, t->requester_id, t->plaintext ? "plaintext" : "sealed");
out:
    td_store_close_data(svc->store, m.uuid, &rd);
    if (buf) {
        tu_wipe(buf, (size_t)m.segment_size + TU_GCM_TAG_LEN);
        free(buf);
    }
    free(aad);
    tu_stream_free(in);
    tu_stream_free(outs);
    if (env_ok)
        tu_envelope_free(&env);
    if (have_fresh)
        tu_wipe(fresh, sizeof fresh);
    if (rkey_bytes)
        tu_free_secret(rkey_bytes, rkey_len);
    free(sealed);
    td_meta_clear(&m);
    teeu_key_free(rkey);
    if (t)
        teeu__v1__reveal_task__free_unpacked(t, NULL);
    if (q)
        teeu__v1__reveal_request__free_unpacked(q, NULL);
}

/* ---- Delete ----------------------------------------------------------------------- */

static void h_delete(void *ctx, void *ws, const tu_grpc_request *req, tu_grpc_response *resp)
{
    (void)ws;
    td_service *svc = ctx;
    Teeu__V1__DeleteRequest *q = teeu__v1__delete_request__unpack(NULL, req->msgs[0].len, req->msgs[0].data);
    Teeu__V1__DeleteTask *t = NULL;
    teeu_key *rkey = NULL;
    td_meta m = {0};
    if (q == NULL || (t = teeu__v1__delete_task__unpack(NULL, q->task.len, q->task.data)) == NULL) {
        tu_grpc_reply_status(resp, TU_GRPC_INVALID_ARGUMENT, "request is not a DeleteRequest with a DeleteTask");
        goto out;
    }
    if (verify_signed(svc, &q->task, &q->signature, t->requester_id, t->requester_public_key, t->timestamp_ms,
                      "DeleteTask", resp, &rkey) != TU_GRPC_OK)
        goto out;
    td_kind kind = TD_OBJECT;
    if (!td_uuid_valid(t->data_uuid) ||
        (td_store_get(svc->store, TD_OBJECT, t->data_uuid, &m) != TEEU_OK &&
         td_store_get(svc->store, (kind = TD_RESULT), t->data_uuid, &m) != TEEU_OK)) {
        tu_grpc_reply_status(resp, TU_GRPC_NOT_FOUND, "no object or result %.140s on this worker", t->data_uuid);
        goto out;
    }
    if (strcmp(m.owner_id, t->requester_id) != 0) {
        tu_grpc_reply_status(resp, TU_GRPC_PERMISSION_DENIED, "only %s (the %s) may delete %s", m.owner_id,
                             kind == TD_RESULT ? "requester of the call" : "owner", m.uuid);
        goto out;
    }
    if (td_store_delete(svc->store, kind, m.uuid) != TEEU_OK) {
        /* Gone from the index but not synced: not UNAVAILABLE, which a client retries into NOT_FOUND. */
        bool gone = !td_store_exists(svc->store, m.uuid);
        tu_grpc_reply_status(resp, gone ? TU_GRPC_INTERNAL : TU_GRPC_UNAVAILABLE, "%s%s",
                             gone ? "deleted, but the deletion may not survive a crash: " : "", teeu_last_error());
        goto out;
    }
    Teeu__V1__DeleteResponse r = TEEU__V1__DELETE_RESPONSE__INIT;
    r.deleted = true;
    reply_pb(resp, &r.base);
    tu_grpc_reply_note(resp, "%s=%s", kind == TD_RESULT ? "result" : "object", m.uuid);
out:
    td_meta_clear(&m);
    teeu_key_free(rkey);
    if (t)
        teeu__v1__delete_task__free_unpacked(t, NULL);
    if (q)
        teeu__v1__delete_request__free_unpacked(q, NULL);
}

static const tu_grpc_method unary_methods[] = {
    {"/teeu.v1.Teeu/Health", h_health, false},
    {"/teeu.v1.Teeu/Attest", h_attest, false},
    {"/teeu.v1.Teeu/Call", h_call, false},
    {"/teeu.v1.Teeu/Delete", h_delete, false},
};

static const tu_grpc_stream_method stream_methods[] = {
    {"/teeu.v1.Teeu/PutObject", s_put},
    {"/teeu.v1.Teeu/Reveal", s_reveal},
};

void td_service_methods(const tu_grpc_method **unary, size_t *n_unary, const tu_grpc_stream_method **streams,
                        size_t *n_streams)
{
    *unary = unary_methods;
    *n_unary = TU_ARRAY_LEN(unary_methods);
    *streams = stream_methods;
    *n_streams = TU_ARRAY_LEN(stream_methods);
}
