/*
 * The client: teeu_client, teeu_put, teeu_call, teeu_reveal.
 *
 * Order of trust: before any data leaves the process, a client (once,
 * under its lock) fetches the AuthManager's key and checks its attestation
 * report (quote, MRENCLAVE, binding to our nonce), registers the party key,
 * and attests the TEEU (quote, MRENCLAVE, binding). A put then costs one
 * CreateDataWithAuth and one PutObject stream; the array is encoded
 * segment by segment into one reusable buffer and sealed in place, and the
 * gRPC message prefix is written in front of the ciphertext, so no other
 * copy of the caller's array is made.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <teeu/attest.h>

#include "attest/attest_internal.h"
#include "client/client_internal.h"
#include "crypto/crypto_internal.h"
#include "ndarray/ndarray_internal.h"
#include "rpc/authmanager_internal.h"
#include "teeuapis/v1/teeu.pb-c.h"

#define TEEU_SERVICE "/teeu.v1.Teeu/"
#define DEFAULT_TIMEOUT_MS 30000L
#define DEFAULT_SEGMENT (1u << 20)
#define MAX_SIM_ROOT (64u << 10)
#define MAX_REVEAL_MESSAGE (80u << 20)
#define SEG_PREFIX_ROOM 32
/*
 * Objects of at least this many segments are sealed on a second thread
 * while the previous segment is sent (seal_ahead.c); below it, starting a
 * thread costs more than the overlap gains.
 */
#define SEAL_AHEAD_MIN_SEGS 4
/*
 * PutObject streams one client runs at once (teeud's default
 * max-concurrent-uploads): more would be refused, not faster. Threads
 * sharing a client queue for a slot within their deadline.
 */
#define MAX_PARALLEL_UPLOADS 4
/* Sample of a large object compressed first to decide whether zstd is worth it. */
#define ZSTD_PROBE_BYTES ((size_t)1 << 20)
#define AM_SETTING "auth_manager.address, or auth_manager_config.host in a config file"

struct teeu_client {
    tu_client_config conf;        /* owned copies of the config strings */
    teeu_key *key;
    char owner_id[TEEU_OWNER_ID_LEN + 1];
    char *pub_pem;
    tu_rpc_channel *am;
    tu_rpc_channel *teeu;
    char *sim_root_pem;
    uint8_t am_mr[32];
    uint8_t teeu_mr[32];
    bool am_mr_set;
    bool teeu_mr_set;
    char teeu_mr_hex[65];
    size_t segment_size;

    pthread_mutex_t lock;         /* warm-up state (held across the warm-up RPCs) */
    pthread_mutex_t stats_lock;   /* stats only: taken inside `lock` too, never the other way */
    sem_t upload_slots;           /* MAX_PARALLEL_UPLOADS PutObject streams at once */
    bool am_ready;                /* am_key checked and party key registered */
    teeu_key *am_key;             /* set once, then read-only */
    bool teeu_ready;
    bool presign_tried;           /* under `lock` */
    _Atomic(tu_presigner *) presigner; /* set once under `lock` after the AuthManager key, then read-only */
    teeu_client_stats stats;
};

/* ---- small helpers ------------------------------------------------------------ */

static int64_t now_ms(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A call's deadline (monotonic ms) and cost accounting. */
typedef struct op {
    teeu_client *c;
    int64_t deadline;
    uint64_t rsa0;
    const char *what;
} op;

static void op_begin(op *o, teeu_client *c, long timeout_ms, const char *what)
{
    long t = timeout_ms > 0 ? timeout_ms : c->conf.cfg.timeout_ms;
    o->c = c;
    o->deadline = now_ms(CLOCK_MONOTONIC) + t;
    o->rsa0 = tu_rsa_private_ops_thread();
    o->what = what;
}

static void op_end(op *o)
{
    uint64_t d = tu_rsa_private_ops_thread() - o->rsa0;
    pthread_mutex_lock(&o->c->stats_lock);
    o->c->stats.rsa_private_ops += d;
    pthread_mutex_unlock(&o->c->stats_lock);
}

/* Per-RPC options from the remaining time; counts the round trip. */
static teeu_status rpc_opts(op *o, bool am, tu_rpc_call_opts *ro)
{
    int64_t left = o->deadline - now_ms(CLOCK_MONOTONIC);
    if (left <= 0)
        return tu_error(TEEU_ERR_TIMEOUT, "%s: the deadline passed before the %s call; give a longer timeout",
                        o->what, am ? "AuthManager" : "TEEU");
    memset(ro, 0, sizeof *ro);
    ro->timeout_ms = (uint32_t)(left > UINT32_MAX ? UINT32_MAX : left);
    pthread_mutex_lock(&o->c->stats_lock);
    o->c->stats.rpc_calls++;
    if (am)
        o->c->stats.am_calls++;
    else
        o->c->stats.teeu_calls++;
    pthread_mutex_unlock(&o->c->stats_lock);
    return TEEU_OK;
}

/* Adds advice on what to do to a transport error of a service. */
static teeu_status service_error(teeu_status st, const char *service, const char *addr, const char *setting)
{
    switch (st) {
    case TEEU_ERR_CONNECT:
        return tu_error_context(st, "cannot reach the %s at %s: is it running? (check %s)", service, addr, setting);
    case TEEU_ERR_TIMEOUT:
    case TEEU_ERR_RPC_DEADLINE_EXCEEDED:
        return tu_error_context(st, "the %s at %s did not answer in time: check it is up, or raise the timeout",
                                service, addr);
    case TEEU_ERR_TLS:
        return tu_error_context(st, "TLS with the %s at %s failed: check %s's ca_cert / client_cert", service,
                                addr, setting);
    default:
        return st;
    }
}

/* ---- config ------------------------------------------------------------------- */

void teeu_config_init(teeu_config *cfg)
{
    if (cfg == NULL)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->timeout_ms = DEFAULT_TIMEOUT_MS;
    cfg->presign = TEEU_PRESIGN_DEFAULT;
}

void teeu_put_options_init(teeu_put_options *opts)
{
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof *opts);
    opts->zstd_level = -1;
}

void teeu_call_options_init(teeu_call_options *opts)
{
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof *opts);
}

static teeu_status copy_str(tu_client_config *c, const char *s, const char **field)
{
    *field = NULL;
    if (s == NULL)
        return TEEU_OK;
    if (c->n_strings == TU_ARRAY_LEN(c->strings))
        return tu_error(TEEU_ERR_INTERNAL_BUG, "client config: too many strings");
    char *d = tu_strdup(s);
    if (d == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory copying the client config");
    c->strings[c->n_strings++] = d;
    *field = d;
    return TEEU_OK;
}

static teeu_status copy_endpoint(tu_client_config *c, const teeu_endpoint *in, teeu_endpoint *out)
{
    teeu_status st = copy_str(c, in->address, &out->address);
    if (st == TEEU_OK)
        st = copy_str(c, in->mr_enclave, &out->mr_enclave);
    if (st == TEEU_OK)
        st = copy_str(c, in->ca_file, &out->ca_file);
    if (st == TEEU_OK)
        st = copy_str(c, in->client_cert_file, &out->client_cert_file);
    if (st == TEEU_OK)
        st = copy_str(c, in->client_key_file, &out->client_key_file);
    return st;
}

static teeu_status copy_config(const teeu_config *in, tu_client_config *c)
{
    memset(c, 0, sizeof *c);
    c->cfg = *in;
    teeu_status st = copy_endpoint(c, &in->auth_manager, &c->cfg.auth_manager);
    if (st == TEEU_OK)
        st = copy_endpoint(c, &in->teeu, &c->cfg.teeu);
    if (st == TEEU_OK)
        st = copy_str(c, in->private_key_file, &c->cfg.private_key_file);
    if (st == TEEU_OK)
        st = copy_str(c, in->private_key_passphrase, &c->cfg.private_key_passphrase);
    if (st == TEEU_OK)
        st = copy_str(c, in->sim_root_file, &c->cfg.sim_root_file);
    return st;
}

/* MRENCLAVE: 64 hex digits, or empty (simulation only). */
static teeu_status check_mrenclave(const teeu_config *cfg, const char *which, const char *key, const char *value,
                                   uint8_t out[32], bool *set)
{
    *set = false;
    if (value == NULL || value[0] == '\0') {
        if (!cfg->tee_simulation)
            return tu_error(TEEU_ERR_CONFIG,
                            "the %s's MRENCLAVE is empty: set %s to its 64-hex-digit measurement (only "
                            "tee_simulation accepts an empty one)",
                            which, key);
        tu_log(TEEU_LOG_WARN, "tee_simulation: no MRENCLAVE configured for the %s (%s): any enclave is accepted",
               which, key);
        return TEEU_OK;
    }
    if (strlen(value) != 64 || tu_hex_decode_to(value, 64, out, 32) != TEEU_OK)
        return tu_error(TEEU_ERR_CONFIG, "%s must be 64 hex digits (the %s's MRENCLAVE), not \"%.80s\"", key, which,
                        value);
    *set = true;
    return TEEU_OK;
}

static teeu_status make_channel(const teeu_config *cfg, const teeu_endpoint *ep, const char *which,
                                const char *key, tu_rpc_channel **out)
{
    if (ep->address == NULL || ep->address[0] == '\0')
        return tu_error(TEEU_ERR_CONFIG, "set %s to the %s's host:port", key, which);
    bool plain = ep->ca_file == NULL || ep->ca_file[0] == '\0';
    if (plain && !cfg->tee_simulation)
        return tu_error(TEEU_ERR_INSECURE,
                        "the connection to the %s at %s would be plain text: set its ca_file (ca_cert in the "
                        "config file) to use TLS; plain text is accepted only with tee_simulation",
                        which, ep->address);
    if (plain)
        tu_log(TEEU_LOG_WARN, "tee_simulation: plain-text connection to the %s at %s (nothing is protected)", which,
               ep->address);
    tu_rpc_options o;
    tu_rpc_options_init(&o);
    o.endpoint = ep->address;
    o.plaintext = plain;
    o.ca_file = plain ? NULL : ep->ca_file;
    o.cert_file = ep->client_cert_file;
    o.key_file = ep->client_key_file;
    o.default_timeout_ms = (uint32_t)cfg->timeout_ms;
    o.max_message = MAX_REVEAL_MESSAGE;
    teeu_status st = tu_rpc_channel_new(&o, out);
    return st == TEEU_OK ? st : tu_error_context(st, "%s (%s)", which, key);
}

static teeu_status client_init(teeu_client *c)
{
    teeu_config *cfg = &c->conf.cfg;
    if (cfg->timeout_ms <= 0)
        cfg->timeout_ms = DEFAULT_TIMEOUT_MS;
    c->segment_size = cfg->segment_size ? cfg->segment_size : DEFAULT_SEGMENT;
    if (c->segment_size < 4096 || c->segment_size > TU_STREAM_MAX_SEGMENT)
        return tu_error(TEEU_ERR_CONFIG, "segment_size must be 4096..%u bytes, not %zu", TU_STREAM_MAX_SEGMENT,
                        c->segment_size);
    if (cfg->zstd_level < 0 || cfg->zstd_level > 22)
        return tu_error(TEEU_ERR_CONFIG, "zstd_level must be 0 (off) to 22, not %d", cfg->zstd_level);
    if (cfg->presign < 0 || cfg->presign > TEEU_PRESIGN_MAX)
        return tu_error(TEEU_ERR_CONFIG, "presign must be 0 (off) to %d, not %d", TEEU_PRESIGN_MAX, cfg->presign);
    if (cfg->tee_simulation)
        tu_log(TEEU_LOG_WARN, "tee_simulation is on: simulation protects nothing (docs/security.md)");
    teeu_status st = check_mrenclave(cfg, "AuthManager", "auth_manager.mr_enclave", cfg->auth_manager.mr_enclave,
                                     c->am_mr, &c->am_mr_set);
    if (st == TEEU_OK)
        st = check_mrenclave(cfg, "TEEU", "teeu.mr_enclave", cfg->teeu.mr_enclave, c->teeu_mr, &c->teeu_mr_set);
    if (st != TEEU_OK)
        return st;
    if (c->teeu_mr_set)
        tu_hex_encode_to(c->teeu_mr, 32, true, c->teeu_mr_hex);
    if (cfg->sim_root_file != NULL && cfg->sim_root_file[0] != '\0') {
        if (!cfg->tee_simulation)
            return tu_error(TEEU_ERR_INSECURE, "sim_root is set but tee_simulation is off: a simulation root is "
                                               "never trusted in production; remove sim_root");
        uint8_t *pem = NULL;
        size_t len = 0;
        st = tu_read_file(cfg->sim_root_file, MAX_SIM_ROOT, &pem, &len);
        if (st != TEEU_OK)
            return tu_error_context(st, "simulation root (sim_root)");
        c->sim_root_pem = (char *)pem;
    } else if (cfg->tee_simulation) {
        tu_log(TEEU_LOG_WARN, "tee_simulation without sim_root: attestation reports are not checked");
    }
    if (cfg->private_key_file == NULL)
        return tu_error(TEEU_ERR_CONFIG, "set private_key_file to the party's RSA-3072 private key (PEM)");
    st = teeu_key_load_private_file(cfg->private_key_file, cfg->private_key_passphrase, &c->key);
    if (st != TEEU_OK)
        return tu_error_context(st, "party key %s", cfg->private_key_file);
    size_t pem_len = 0;
    st = teeu_key_owner_id(c->key, c->owner_id);
    if (st == TEEU_OK)
        st = teeu_key_public_pem(c->key, &c->pub_pem, &pem_len);
    if (st == TEEU_OK)
        st = make_channel(cfg, &cfg->auth_manager, "AuthManager", "auth_manager.address", &c->am);
    if (st == TEEU_OK)
        st = make_channel(cfg, &cfg->teeu, "TEEU", "teeu.address", &c->teeu);
    return st;
}

static teeu_status client_new_owned(tu_client_config *conf, teeu_client **out)
{
    teeu_client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        tu_client_config_clear(conf);
        return tu_error(TEEU_ERR_NOMEM, "out of memory for a client");
    }
    c->conf = *conf;
    memset(conf, 0, sizeof *conf);
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        tu_client_config_clear(&c->conf);
        free(c);
        return tu_error(TEEU_ERR_NOMEM, "cannot create the client's mutex");
    }
    if (pthread_mutex_init(&c->stats_lock, NULL) != 0) {
        pthread_mutex_destroy(&c->lock);
        tu_client_config_clear(&c->conf);
        free(c);
        return tu_error(TEEU_ERR_NOMEM, "cannot create the client's mutex");
    }
    if (sem_init(&c->upload_slots, 0, MAX_PARALLEL_UPLOADS) != 0) {
        pthread_mutex_destroy(&c->stats_lock);
        pthread_mutex_destroy(&c->lock);
        tu_client_config_clear(&c->conf);
        free(c);
        return tu_error(TEEU_ERR_NOMEM, "cannot create the client's semaphore");
    }
    teeu_status st = client_init(c);
    if (st != TEEU_OK) {
        teeu_client_free(c);
        return st;
    }
    *out = c;
    return TEEU_OK;
}

teeu_status teeu_client_new(const teeu_config *cfg, teeu_client **out)
{
    if (out == NULL || cfg == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_client_new: cfg and out are required");
    *out = NULL;
    tu_client_config conf;
    teeu_status st = copy_config(cfg, &conf);
    if (st != TEEU_OK) {
        tu_client_config_clear(&conf);
        return st;
    }
    return client_new_owned(&conf, out);
}

teeu_status teeu_client_new_from_file(const char *path, teeu_client **out)
{
    if (out == NULL || path == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_client_new_from_file: path and out are required");
    *out = NULL;
    uint8_t *text = NULL;
    size_t len = 0;
    teeu_status st = tu_read_file(path, 1u << 20, &text, &len);
    if (st != TEEU_OK)
        return tu_error_context(TEEU_ERR_CONFIG, "client config");
    /* Relative paths in the file are relative to the file's folder. */
    char *dir = tu_strdup(path);
    if (dir == NULL) {
        free(text);
        return tu_error(TEEU_ERR_NOMEM, "out of memory");
    }
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    tu_client_config conf;
    st = tu_client_config_parse((const char *)text, len, slash ? dir : NULL, path, &conf);
    free(dir);
    tu_free_secret(text, len);
    if (st != TEEU_OK)
        return st;
    return client_new_owned(&conf, out);
}

void teeu_client_free(teeu_client *c)
{
    if (c == NULL)
        return;
    /* First: the thread borrows the keys. */
    tu_presigner_free(atomic_load(&c->presigner));
    tu_rpc_channel_free(c->am);
    tu_rpc_channel_free(c->teeu);
    teeu_key_free(c->key);
    teeu_key_free(c->am_key);
    teeu_free(c->pub_pem);
    free(c->sim_root_pem);
    tu_client_config_clear(&c->conf);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->stats_lock);
    sem_destroy(&c->upload_slots);
    free(c);
}

const char *teeu_client_owner_id(const teeu_client *c)
{
    return c ? c->owner_id : NULL;
}

teeu_status teeu_client_get_stats(teeu_client *c, teeu_client_stats *stats)
{
    if (c == NULL || stats == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_client_get_stats: client and stats are required");
    pthread_mutex_lock(&c->stats_lock);
    *stats = c->stats;
    pthread_mutex_unlock(&c->stats_lock);
    stats->rsa_private_ops_precomputed = tu_presigner_rsa_ops(atomic_load(&c->presigner));
    return TEEU_OK;
}

/* ---- attestation ---------------------------------------------------------------- */

/*
 * Checks a peer's report: the quote chains to the trusted root (Intel's, or
 * the simulation root in simulation), debug is off, report_data[0..32)
 * equals binding, and the measurement is the configured one. In simulation
 * without a simulation root nothing can be checked (SecretFlow's
 * simulation behaviour): logged.
 */
static teeu_status verify_report(teeu_client *c, const Secretflowapis__V1__Sdc__UnifiedAttestationReport *rep,
                                 const uint8_t *mr, const char *mr_key, const uint8_t binding[32],
                                 const char *who)
{
    const teeu_config *cfg = &c->conf.cfg;
    if (cfg->tee_simulation && c->sim_root_pem == NULL) {
        tu_log(TEEU_LOG_WARN, "tee_simulation without sim_root: the %s's attestation report is not checked", who);
        return TEEU_OK;
    }
    if (rep == NULL || rep->json_report == NULL || rep->json_report[0] == '\0')
        return tu_error(TEEU_ERR_QUOTE_FORMAT, "the %s sent no attestation report, so it cannot be trusted", who);
    tu_ua_report ua = {0};
    teeu_collateral *col = NULL;
    teeu_attest_result *res = NULL;
    teeu_status st = tu_ua_report_from_pb(rep, &ua);
    if (st == TEEU_OK && ua.collateral_json == NULL)
        st = tu_error(TEEU_ERR_COLLATERAL_FORMAT, "the report carries no collateral (a Passport report is needed)");
    if (st == TEEU_OK)
        st = teeu_collateral_parse(ua.collateral_json, ua.collateral_json_len, &col);
    if (st == TEEU_OK) {
        teeu_attest_options opts;
        teeu_attest_options_init(&opts);
        opts.simulation = cfg->tee_simulation != 0;
        opts.sim_root_pem = c->sim_root_pem;
        teeu_attest_policy pol;
        teeu_attest_policy_init(&pol);
        pol.allow_debug = false;
        st = teeu_attest_verify_quote(ua.quote, ua.quote_len, col, &opts, &pol, &res);
    }
    if (st == TEEU_OK && !tu_ct_equal(teeu_attest_result_report_data(res), binding, 32))
        st = tu_error(TEEU_ERR_REPORT_DATA,
                      "its quote is not bound to this request (report data differs from SHA256(key | our nonce)): "
                      "a replayed or forged report; do not use this service");
    if (st == TEEU_OK && mr != NULL && memcmp(teeu_attest_result_mr_enclave(res), mr, 32) != 0) {
        char got[65], want[65];
        tu_hex_encode_to(teeu_attest_result_mr_enclave(res), 32, true, got);
        tu_hex_encode_to(mr, 32, true, want);
        st = tu_error(TEEU_ERR_POLICY,
                      "its enclave measurement MRENCLAVE %s differs from the configured %s %s: it runs other code; "
                      "do not send it data (update %s only if you trust the new build)",
                      got, mr_key, want, mr_key);
    }
    teeu_attest_result_free(res);
    teeu_collateral_free(col);
    tu_ua_report_clear(&ua);
    return st == TEEU_OK ? st : tu_error_context(st, "%s attestation refused", who);
}

static teeu_status am_check(void *ctx, const Secretflowapis__V1__Sdc__UnifiedAttestationReport *report,
                            const char *cert_pem, const char *nonce)
{
    teeu_client *c = ctx;
    uint8_t binding[TU_SHA256_LEN];
    tu_bytes parts[] = {TU_STR(cert_pem), TU_STR(nonce)};
    teeu_status st = tu_sha256_sep(parts, 2, binding);
    if (st != TEEU_OK)
        return st;
    return verify_report(c, report, c->am_mr_set ? c->am_mr : NULL, "auth_manager.mr_enclave", binding,
                         "AuthManager");
}

/* Once per client: the AuthManager key (checked) and our key registered. Caller holds the lock. */
static teeu_status ensure_am(teeu_client *c, op *o)
{
    if (c->am_ready)
        return TEEU_OK;
    const char *addr = c->conf.cfg.auth_manager.address;
    tu_rpc_call_opts ro;
    teeu_status st = rpc_opts(o, true, &ro);
    if (st == TEEU_OK) {
        ro.retry_unavailable = true;
        st = tu_am_get_ra_cert_pems(c->am, am_check, c, &ro, &c->am_key, NULL);
    }
    if (st == TEEU_OK)
        st = rpc_opts(o, true, &ro);
    if (st == TEEU_OK) {
        ro.retry_unavailable = true;
        st = tu_am_register_ins_pub_key(c->am, c->key, &ro);
        if (st != TEEU_OK)
            st = tu_error_context(st, "registering this party's key with the AuthManager at %s", addr);
    }
    if (st != TEEU_OK) {
        teeu_key_free(c->am_key);
        c->am_key = NULL;
        return service_error(st, "AuthManager", addr, AM_SETTING);
    }
    c->am_ready = true;
    tu_log(TEEU_LOG_INFO, "AuthManager at %s checked; party %s registered", addr, c->owner_id);
    return TEEU_OK;
}

static teeu_status unpack_error(const char *what, const char *addr)
{
    return tu_error(TEEU_ERR_PROTOBUF, "the TEEU at %s sent a malformed %s", addr, what);
}

/* Once per client: the TEEU's quote, measurement and binding. Caller holds the lock. */
static teeu_status ensure_teeu(teeu_client *c, op *o)
{
    if (c->teeu_ready)
        return TEEU_OK;
    const char *addr = c->conf.cfg.teeu.address;
    char nonce[TU_WIRE_NONCE_HEX_LEN + 1];
    teeu_status st = tu_wire_new_nonce(nonce);
    if (st != TEEU_OK)
        return st;
    Teeu__V1__AttestRequest req = TEEU__V1__ATTEST_REQUEST__INIT;
    req.nonce = nonce;
    tu_rpc_call_opts ro;
    ProtobufCMessage *resp_m = NULL;
    st = rpc_opts(o, false, &ro);
    if (st == TEEU_OK) {
        ro.retry_unavailable = true;
        st = tu_rpc_unary_pb(c->teeu, TEEU_SERVICE "Attest", &req.base, &teeu__v1__attest_response__descriptor,
                             &resp_m, &ro);
    }
    if (st != TEEU_OK)
        return service_error(st, "TEEU", addr, "teeu.address");
    Teeu__V1__AttestResponse *resp = (Teeu__V1__AttestResponse *)resp_m;
    if (resp->simulation && !c->conf.cfg.tee_simulation)
        st = tu_error(TEEU_ERR_SIMULATION_ONLY, "the TEEU at %s runs in simulation, which protects nothing; this "
                      "client is not in tee_simulation: use a production TEEU", addr);
    if (st == TEEU_OK && (resp->nonce == NULL || strcmp(resp->nonce, nonce) != 0))
        st = tu_error(TEEU_ERR_REPORT_DATA, "the TEEU at %s answered Attest for another nonce (a replay?)", addr);
    if (st == TEEU_OK && (resp->identity_public_key == NULL || resp->identity_public_key[0] == '\0'))
        st = unpack_error("AttestResponse (no identity_public_key)", addr);
    uint8_t binding[TU_SHA256_LEN];
    if (st == TEEU_OK) {
        tu_bytes parts[] = {TU_STR(resp->identity_public_key), TU_STR(nonce)};
        st = tu_sha256_sep(parts, 2, binding);
    }
    if (st == TEEU_OK)
        st = verify_report(c, resp->report, c->teeu_mr_set ? c->teeu_mr : NULL, "teeu.mr_enclave", binding, "TEEU");
    protobuf_c_message_free_unpacked(resp_m, NULL);
    if (st != TEEU_OK)
        return tu_error_context(st, "TEEU at %s", addr);
    c->teeu_ready = true;
    tu_log(TEEU_LOG_INFO, "TEEU at %s attested", addr);
    return TEEU_OK;
}

/* Once per client, after the AuthManager key: the presign thread (config presign). Caller holds the lock. */
static void ensure_presigner(teeu_client *c)
{
    if (c->presign_tried || c->conf.cfg.presign <= 0 || !c->am_ready)
        return;
    c->presign_tried = true;
    tu_presigner *p = NULL;
    teeu_status st = tu_presigner_new(c->key, c->am_key, c->teeu_mr_set ? c->teeu_mr_hex : NULL,
                                      (size_t)c->conf.cfg.presign, &p);
    if (st != TEEU_OK) {
        tu_log(TEEU_LOG_WARN, "presign is off for this client: %s", teeu_last_error());
        return;
    }
    atomic_store(&c->presigner, p);
}

static teeu_status warm_up(teeu_client *c, op *o, bool need_am)
{
    pthread_mutex_lock(&c->lock);
    teeu_status st = need_am ? ensure_am(c, o) : TEEU_OK;
    if (st == TEEU_OK)
        st = ensure_teeu(c, o);
    if (st == TEEU_OK && need_am)
        ensure_presigner(c);
    pthread_mutex_unlock(&c->lock);
    return st;
}

/* ---- signed requests -------------------------------------------------------------- */

/* Packs m into a new buffer (*out, free with free()). */
static teeu_status pack_msg(const ProtobufCMessage *m, uint8_t **out, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    *out = malloc(n ? n : 1);
    if (*out == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory packing a request");
    *len = protobuf_c_message_pack(m, *out);
    return TEEU_OK;
}

/* Packs task, signs the bytes, and packs {task, signature} as fields 1 and 2 of the request. */
static teeu_status signed_request(teeu_client *c, const ProtobufCMessage *task, uint8_t **req, size_t *req_len)
{
    uint8_t *tb = NULL, *sig = NULL;
    size_t tl = 0, sl = 0;
    teeu_status st = pack_msg(task, &tb, &tl);
    if (st == TEEU_OK) {
        tu_bytes part = TU_BYTES(tb, tl);
        st = tu_rsa_sign(c->key, &part, 1, &sig, &sl);
    }
    if (st == TEEU_OK) {
        /* CallRequest, RevealRequest and DeleteRequest share this shape. */
        Teeu__V1__CallRequest r = TEEU__V1__CALL_REQUEST__INIT;
        r.task.data = tb;
        r.task.len = tl;
        r.signature.data = sig;
        r.signature.len = sl;
        st = pack_msg(&r.base, req, req_len);
    }
    free(tb);
    free(sig);
    return st;
}

/* Replaces each function identity in a server message by its descriptor, for a readable error. */
static void explain_identity(char *msg, size_t cap, const teeu_func *f)
{
    char *p = f ? strstr(msg, f->identity) : NULL;
    if (p == NULL)
        return;
    char tail[1024];
    snprintf(tail, sizeof tail, "%s", p + TU_FUNC_IDENTITY_LEN);
    snprintf(p, cap - (size_t)(p - msg), "%s%s", f->descriptor, tail);
}

/* ---- put -------------------------------------------------------------------------- */

typedef struct put_stream {
    teeu_client *c;
    const char *uuid;
    tu_npy_plan plan;
    uint8_t npy_header[TU_NPY_MAX_ENCODED_HEADER];
    size_t npy_header_len;
    tu_npy_zstd *z;            /* compressed: the .npy compressed as it is sent, else NULL */
    size_t total;              /* plaintext bytes (compressed: an upper bound) */
    size_t seg;                /* plaintext bytes per segment */
    uint64_t n_segs;           /* uncompressed only; compressed ends when the compressor does */
    uint64_t next;             /* next segment index */
    bool final_sent;
    tu_stream *stream;
    uint8_t stream_header[TU_STREAM_HEADER_LEN];
    uint8_t *first;            /* packed header message */
    size_t first_len;
    bool first_sent;
    uint8_t *buf;              /* SEG_PREFIX_ROOM + seg + tag (no sealing thread) */
    tu_seal_ahead *ahead;      /* the sealing thread of a large object, or NULL */
    uint64_t sent;
    const tu_buf *data_auth;   /* the signed DataAuth sent to the AuthManager */
} put_stream;

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        p[n++] = (uint8_t)(b | (v ? 0x80 : 0));
    } while (v);
    return n;
}

/* Plaintext bytes [off, off+n): the .npy header, then the array data gathered from the caller's memory. */
static void fill_plain(const put_stream *ps, size_t off, uint8_t *dst, size_t n)
{
    if (off < ps->npy_header_len) {
        size_t k = ps->npy_header_len - off < n ? ps->npy_header_len - off : n;
        memcpy(dst, ps->npy_header + off, k);
        dst += k;
        off += k;
        n -= k;
    }
    if (n > 0)
        tu_npy_data_copy(&ps->plan, off - ps->npy_header_len, dst, n);
}

/*
 * Seals plaintext bytes [off, off+n) into dst. An array written as it lies
 * in memory is sealed straight from the caller's memory (the .npy header
 * and the data as two parts of one segment): no gathering copy, which is a
 * fifth of a large put's client CPU.
 */
static teeu_status seal_plain(put_stream *ps, size_t off, size_t n, bool final, uint8_t *dst)
{
    size_t head = off < ps->npy_header_len ? ps->npy_header_len - off : 0;
    if (head > n)
        head = n;
    size_t body = n - head;
    const uint8_t *data = NULL;
    if (body > 0) {
        data = tu_npy_data_span(&ps->plan, off + head - ps->npy_header_len);
        if (data == NULL) {
            fill_plain(ps, off, dst, n);
            return tu_stream_seal_segment(ps->stream, dst, n, final, dst);
        }
    }
    return tu_stream_seal_segment2(ps->stream, head > 0 ? ps->npy_header + off : NULL, head, data, body, final, dst);
}

/*
 * Seals the next segment into buf (SEG_PREFIX_ROOM + seg + tag bytes) and
 * frames it as a PutObjectRequest message ending in buf. A tu_segment_fn:
 * runs on the sealing thread when there is one (put_attempt), which then
 * alone touches the stream, the compressor, next and sent.
 */
static teeu_status put_segment(void *ctx, uint8_t *buf, const uint8_t **msg, size_t *len, bool *final_out)
{
    put_stream *ps = ctx;
    uint64_t i = ps->next;
    uint8_t *pt = buf + SEG_PREFIX_ROOM;
    bool final = false;
    size_t n = 0;
    teeu_status st = TEEU_OK;
    if (ps->z != NULL) {
        /* Compress straight into the segment buffer: every segment but the last is full, as teeud requires. */
        st = tu_npy_zstd_read(ps->z, pt, ps->seg, &n, &final);
        if (st != TEEU_OK)
            return tu_error_context(st, "compressing the array");
        st = tu_stream_seal_segment(ps->stream, pt, n, final, pt);
    } else {
        final = i + 1 == ps->n_segs;
        size_t off = (size_t)i * ps->seg;
        n = final ? ps->total - off : ps->seg;
        st = seal_plain(ps, off, n, final, pt);
    }
    if (st != TEEU_OK)
        return st;
    size_t ct_len = n + TU_GCM_TAG_LEN;
    /* PutObjectRequest{segment(2): PutObjectSegment{index(1), final(2), ciphertext(3)}} */
    uint8_t inner[24], outer[12];
    size_t k = 0;
    inner[k++] = 0x08;
    k += put_varint(inner + k, i);
    if (final) {
        inner[k++] = 0x10;
        inner[k++] = 0x01;
    }
    inner[k++] = 0x1a;
    k += put_varint(inner + k, ct_len);
    size_t o = 0;
    outer[o++] = 0x12;
    o += put_varint(outer + o, k + ct_len);
    uint8_t *start = pt - k - o;
    memcpy(start, outer, o);
    memcpy(start + o, inner, k);
    *msg = start;
    *len = o + k + ct_len;
    *final_out = final;
    ps->next++;
    ps->sent += ct_len;
    return TEEU_OK;
}

/* The PutObject request producer: the header, then the segments (from the sealing thread when there is one). */
static teeu_status put_produce(void *ctx, const uint8_t **msg, size_t *len, bool *done)
{
    put_stream *ps = ctx;
    if (!ps->first_sent) {
        ps->first_sent = true;
        *msg = ps->first;
        *len = ps->first_len;
        return TEEU_OK;
    }
    if (ps->final_sent) {
        *done = true;
        return TEEU_OK;
    }
    bool final = false;
    teeu_status st = ps->ahead != NULL ? tu_seal_ahead_next(ps->ahead, msg, len, &final)
                                       : put_segment(ps, ps->buf, msg, len, &final);
    if (st == TEEU_OK)
        ps->final_sent = final;
    return st;
}

/*
 * The put header carries the DataAuth the owner already signed for the
 * AuthManager; the TEEU checks that signature with the owner's public key,
 * so a put needs no RSA signature of its own (2 private-key operations per
 * put in all: the segment and DataAuth signatures of CreateDataWithAuth).
 */
static teeu_status put_header_msg(put_stream *ps)
{
    teeu_client *c = ps->c;
    Teeu__V1__PutObjectHeader h = TEEU__V1__PUT_OBJECT_HEADER__INIT;
    h.data_uuid = (char *)ps->uuid;
    h.owner_id = c->owner_id;
    h.owner_public_key = c->pub_pem;
    h.stream_header.data = ps->stream_header;
    h.stream_header.len = TU_STREAM_HEADER_LEN;
    h.plaintext_size = ps->total;
    /* Compressed as it is sent: the exact size is known only at the final segment. */
    h.plaintext_size_is_bound = ps->z != NULL;
    h.segment_size = ps->seg;
    h.timestamp_ms = now_ms(CLOCK_REALTIME);
    h.data_auth.data = ps->data_auth->data;
    h.data_auth.len = ps->data_auth->len;
    uint8_t *hb = NULL;
    size_t hl = 0;
    teeu_status st = pack_msg(&h.base, &hb, &hl);
    if (st == TEEU_OK) {
        Teeu__V1__SignedPutObjectHeader sh = TEEU__V1__SIGNED_PUT_OBJECT_HEADER__INIT;
        sh.header.data = hb;
        sh.header.len = hl;
        Teeu__V1__PutObjectRequest r = TEEU__V1__PUT_OBJECT_REQUEST__INIT;
        r.part_case = TEEU__V1__PUT_OBJECT_REQUEST__PART_HEADER;
        r.header = &sh;
        st = pack_msg(&r.base, &ps->first, &ps->first_len);
    }
    free(hb);
    return st;
}

/* Transport-level failures after which a PutObject may be sent again. */
static bool put_retryable(teeu_status st)
{
    return st == TEEU_ERR_PROTOCOL || st == TEEU_ERR_CONNECT || st == TEEU_ERR_RPC_UNAVAILABLE;
}

/* One PutObject stream of the prepared plaintext: a fresh AEAD stream (new salt and nonce prefix) each time. */
static teeu_status put_attempt(put_stream *ps, op *o, const uint8_t key[32], tu_buf *resp)
{
    ps->next = 0;
    ps->sent = 0;
    ps->first_sent = false;
    ps->final_sent = false;
    free(ps->first);
    ps->first = NULL;
    tu_stream_free(ps->stream);
    ps->stream = NULL;
    /* A retry sends the whole object again: the compressor restarts from the first byte. */
    teeu_status st = ps->z != NULL ? tu_npy_zstd_rewind(ps->z) : TEEU_OK;
    if (st == TEEU_OK)
        st = tu_stream_seal_init(key, (const uint8_t *)ps->uuid, strlen(ps->uuid), ps->seg,
                                         ps->stream_header, &ps->stream);
    if (st == TEEU_OK)
        st = put_header_msg(ps);
    if (st == TEEU_OK && ps->buf == NULL &&
        tu_seal_ahead_start(put_segment, ps, SEG_PREFIX_ROOM + ps->seg + TU_GCM_TAG_LEN, &ps->ahead) != TEEU_OK) {
        /* No second thread (or its buffers): seal inline, as a small object is. */
        tu_log(TEEU_LOG_DEBUG, "teeu_put: %s; sealing on the sending thread", teeu_last_error());
        ps->buf = malloc(SEG_PREFIX_ROOM + ps->seg + TU_GCM_TAG_LEN);
        if (ps->buf == NULL)
            st = tu_error(TEEU_ERR_NOMEM, "out of memory for a %zu-byte segment buffer", ps->seg);
    }
    tu_rpc_call_opts ro;
    if (st == TEEU_OK)
        st = rpc_opts(o, false, &ro);
    if (st == TEEU_OK)
        st = tu_rpc_client_stream(ps->c->teeu, TEEU_SERVICE "PutObject", put_produce, ps, resp, &ro);
    tu_seal_ahead_stop(ps->ahead);
    ps->ahead = NULL;
    return st;
}

/* Waits for one of the client's PutObject slots until the call's deadline. */
static teeu_status upload_slot(teeu_client *c, const op *o, bool *got)
{
    struct timespec abs = {.tv_sec = (time_t)(o->deadline / 1000), .tv_nsec = (long)(o->deadline % 1000) * 1000000};
    for (;;) {
        if (sem_clockwait(&c->upload_slots, CLOCK_MONOTONIC, &abs) == 0) {
            *got = true;
            return TEEU_OK;
        }
        if (errno == ETIMEDOUT)
            return tu_error(TEEU_ERR_TIMEOUT, "teeu_put: the deadline passed while %d other puts of this client were "
                            "uploading; give a longer timeout", MAX_PARALLEL_UPLOADS);
        if (errno != EINTR)
            return tu_error(TEEU_ERR_INTERNAL_BUG, "teeu_put: waiting for an upload slot failed (errno %d)", errno);
    }
}

/* Streams the encrypted .npy of arr to the TEEU as object uuid. */
static teeu_status put_object(teeu_client *c, op *o, const teeu_ndarray *arr, const char *uuid,
                              const uint8_t key[32], const tu_buf *data_auth, int zstd_level)
{
    put_stream ps = {.c = c, .uuid = uuid, .seg = c->segment_size, .data_auth = data_auth};
    teeu_status st = TEEU_OK;
    if (zstd_level > 0) {
        /* Data that does not compress (random floats) would only cost zstd's CPU time: send it plain. */
        bool worth = true;
        st = tu_npy_zstd_probe(arr, ZSTD_PROBE_BYTES, &worth);
        if (st != TEEU_OK)
            return tu_error_context(st, "encoding the array");
        if (!worth) {
            tu_log(TEEU_LOG_DEBUG, "teeu_put: object %s: its first MiB shrinks by less than 10%% with zstd; sent "
                   "uncompressed", uuid);
            zstd_level = 0;
        }
    }
    if (zstd_level > 0) {
        /*
         * Compressed segment by segment as the stream is sent (in
         * put_produce): no second copy of the array. The header announces
         * the framing's bound; the final segment says where it really ends.
         */
        st = tu_npy_zstd_new(arr, zstd_level, &ps.z);
        if (st == TEEU_OK)
            ps.total = tu_npy_zstd_bound(ps.z);
    } else {
        st = tu_npy_plan_init(arr, NULL, &ps.plan);
        if (st == TEEU_OK)
            st = tu_npy_header_encode(&ps.plan, ps.npy_header, sizeof ps.npy_header, &ps.npy_header_len);
        if (st == TEEU_OK && tu_add_overflows(ps.npy_header_len, ps.plan.data_len, &ps.total))
            st = tu_error(TEEU_ERR_OVERFLOW, "array too large");
    }
    if (st != TEEU_OK)
        return tu_error_context(st, "encoding the array");
    ps.n_segs = ps.total == 0 ? 1 : (ps.total + ps.seg - 1) / ps.seg;
    /* A few segments are sealed inline; more, on a sealing thread (put_attempt) with buffers of its own. */
    if (ps.n_segs < SEAL_AHEAD_MIN_SEGS) {
        ps.buf = malloc(SEG_PREFIX_ROOM + ps.seg + TU_GCM_TAG_LEN);
        if (ps.buf == NULL)
            st = tu_error(TEEU_ERR_NOMEM, "out of memory for a %zu-byte segment buffer", ps.seg);
    }
    tu_buf resp = {0};
    bool stored_before = false;
    bool slot = false;
    if (st == TEEU_OK)
        st = upload_slot(c, o, &slot);
    if (st == TEEU_OK)
        st = put_attempt(&ps, o, key, &resp);
    if (put_retryable(st)) {
        /*
         * The stream broke in transport (libcurl 7.88's HTTP/2 upload path
         * rarely does). The uuid is fresh and teeud admits a put for it only
         * with this owner's signed DataAuth, so one retry on a fresh stream
         * is safe: ALREADY_EXISTS then means the first attempt was stored.
         */
        tu_log(TEEU_LOG_WARN, "teeu_put: PutObject of %s to %s broke in transport (%s); retrying once", uuid,
               c->conf.cfg.teeu.address, teeu_last_error());
        resp.len = 0;
        st = put_attempt(&ps, o, key, &resp);
        stored_before = st == TEEU_ERR_RPC_ALREADY_EXISTS;
        if (stored_before)
            st = TEEU_OK;
    }
    if (slot)
        sem_post(&c->upload_slots);
    if (st != TEEU_OK)
        st = service_error(st, "TEEU", c->conf.cfg.teeu.address, "teeu.address");
    if (st == TEEU_OK && !stored_before) {
        Teeu__V1__PutObjectResponse *r = teeu__v1__put_object_response__unpack(NULL, resp.len, resp.data);
        if (r == NULL || r->data_uuid == NULL || strcmp(r->data_uuid, uuid) != 0)
            st = tu_error(TEEU_ERR_PROTOBUF, "the TEEU at %s acknowledged another object than %s",
                          c->conf.cfg.teeu.address, uuid);
        if (r != NULL)
            teeu__v1__put_object_response__free_unpacked(r, NULL);
    }
    tu_buf_free(&resp);
    if (st == TEEU_OK) {
        pthread_mutex_lock(&c->stats_lock);
        c->stats.bytes_sent += ps.sent;
        pthread_mutex_unlock(&c->stats_lock);
    }
    tu_stream_free(ps.stream);
    if (ps.buf != NULL)
        tu_free_secret(ps.buf, SEG_PREFIX_ROOM + ps.seg + TU_GCM_TAG_LEN);
    free(ps.first);
    tu_npy_zstd_free(ps.z);
    return st;
}

/* The CreateDataWithAuth of one put, prepared and sent by the caller while a worker streams the PutObject. */
typedef struct am_register {
    teeu_client *c;
    const tu_buf *req;
    tu_rpc_call_opts ro;
    teeu_status st;
    char msg[1024];
} am_register;

static void am_register_run(am_register *a)
{
    tu_buf resp = {0};
    /* Never retried: object creation is not safe to repeat. */
    a->st = tu_rpc_unary(a->c->am, TU_AM_CREATE_DATA_WITH_AUTH, a->req->data, a->req->len, &resp, &a->ro);
    if (a->st == TEEU_OK) {
        a->st = tu_wire_parse_create_data_with_auth(resp.data, resp.len);
        if (a->st != TEEU_OK)
            a->st = tu_error_context(a->st, "AuthManager at %s", a->c->conf.cfg.auth_manager.address);
    }
    tu_buf_free(&resp);
    if (a->st != TEEU_OK)
        snprintf(a->msg, sizeof a->msg, "%s", teeu_last_error());
}

/* The PutObject of one put, on a worker thread. */
typedef struct put_job {
    teeu_client *c;
    op *o;                       /* shared with the caller: only read (deadline), stats are locked */
    const teeu_ndarray *arr;
    const char *uuid;
    const uint8_t *key;
    const tu_buf *data_auth;
    int zstd;
    teeu_status st;
    char msg[1024];              /* the failure's message (per-thread messages do not cross threads) */
} put_job;

static void *put_job_main(void *arg)
{
    put_job *j = arg;
    j->st = put_object(j->c, j->o, j->arr, j->uuid, j->key, j->data_auth, j->zstd);
    if (j->st != TEEU_OK)
        snprintf(j->msg, sizeof j->msg, "%s", teeu_last_error());
    return NULL;
}

/*
 * Sends a signed DeleteTask for uuid to the TEEU. retry: an unavailable
 * TEEU is tried again (deleting twice is harmless, but the second answers
 * NOT_FOUND, so only the put's best-effort clean-up asks for it).
 */
static teeu_status send_delete(teeu_client *c, op *o, const char *uuid, bool retry)
{
    Teeu__V1__DeleteTask t = TEEU__V1__DELETE_TASK__INIT;
    t.data_uuid = (char *)uuid;
    t.requester_id = c->owner_id;
    t.requester_public_key = c->pub_pem;
    t.timestamp_ms = now_ms(CLOCK_REALTIME);
    uint8_t *req = NULL;
    size_t req_len = 0;
    tu_buf resp = {0};
    tu_rpc_call_opts ro;
    teeu_status st = signed_request(c, &t.base, &req, &req_len);
    if (st == TEEU_OK)
        st = rpc_opts(o, false, &ro);
    if (st == TEEU_OK) {
        ro.retry_unavailable = retry;
        st = tu_rpc_unary(c->teeu, TEEU_SERVICE "Delete", req, req_len, &resp, &ro);
    }
    if (st == TEEU_OK) {
        Teeu__V1__DeleteResponse *r = teeu__v1__delete_response__unpack(NULL, resp.len, resp.data);
        if (r == NULL || !r->deleted)
            st = tu_error(TEEU_ERR_PROTOBUF, "the TEEU at %s answered Delete of %s without confirming it",
                          c->conf.cfg.teeu.address, uuid);
        if (r != NULL)
            teeu__v1__delete_response__free_unpacked(r, NULL);
    }
    tu_buf_free(&resp);
    free(req);
    return st;
}

/*
 * Best effort: deletes an object this put stored at the TEEU after the
 * AuthManager refused to register it. Logged either way; the put's own
 * error (the AuthManager's reason) is what the caller gets.
 */
static void delete_stored(teeu_client *c, const op *o, const char *uuid)
{
    op d = *o;
    int64_t floor = now_ms(CLOCK_MONOTONIC) + 2000;
    if (d.deadline < floor)
        d.deadline = floor; /* a refusal late in the deadline still gets its clean-up */
    if (send_delete(c, &d, uuid, true) == TEEU_OK)
        tu_log(TEEU_LOG_INFO, "teeu_put: deleted object %s from the TEEU at %s after the AuthManager refused it",
               uuid, c->conf.cfg.teeu.address);
    else
        tu_log(TEEU_LOG_WARN, "teeu_put: object %s stays at the TEEU at %s (its key was never registered, so no "
               "one can use it): deleting it failed: %s", uuid, c->conf.cfg.teeu.address, teeu_last_error());
}

/*
 * CreateDataWithAuth and PutObject at the same time: teeud checks the
 * owner's signed DataAuth itself and never asks the AuthManager during a
 * put, so neither waits for the other. The request (and the DataAuth the
 * PutObject header carries) is built first, with the precomputed
 * credential when one is ready.
 */
static teeu_status register_and_put(teeu_client *c, op *o, const teeu_ndarray *arr, const tu_wire_data_auth *auth,
                                    const uint8_t *key, int zstd)
{
    const char *uuid = auth->data_uuid;
    tu_buf req = {0}, data_auth = {0};
    am_register am = {.c = c, .req = &req};
    teeu_status st = tu_wire_build_create_data_with_auth(c->key, c->am_key, auth, &req);
    if (st == TEEU_OK)
        st = tu_wire_data_auth_of_request(req.data, req.len, &data_auth);
    if (st == TEEU_OK)
        st = rpc_opts(o, true, &am.ro);
    if (st != TEEU_OK) {
        tu_buf_free(&req);
        tu_buf_free(&data_auth);
        return st;
    }
    /*
     * The AuthManager's answer is the longer wait (its OAEP decryption), so
     * the caller sends it at once; a worker streams the PutObject.
     */
    put_job pj = {.c = c, .o = o, .arr = arr, .uuid = uuid, .key = key, .data_auth = &data_auth, .zstd = zstd};
    pthread_t th;
    bool threaded = pthread_create(&th, NULL, put_job_main, &pj) == 0;
    am_register_run(&am);
    if (threaded)
        pthread_join(th, NULL);
    else if (am.st == TEEU_OK)
        put_job_main(&pj); /* no thread to be had: one after the other, as before */
    if (am.st != TEEU_OK) {
        if (threaded && pj.st == TEEU_OK)
            delete_stored(c, o, uuid);
        else if (threaded)
            tu_log(TEEU_LOG_DEBUG, "teeu_put: the PutObject of %s failed too: %s", uuid, pj.msg);
        st = tu_error(am.st, "%s", am.msg);
        st = service_error(st, "AuthManager", c->conf.cfg.auth_manager.address, AM_SETTING);
        st = tu_error_context(st, "the AuthManager did not register object %s", uuid);
    } else if (pj.st != TEEU_OK) {
        /* The registration stays: it names no stored data, and the uuid is never used again. */
        st = tu_error(pj.st, "%s", pj.msg);
    }
    tu_buf_free(&req);
    tu_buf_free(&data_auth);
    return st;
}

teeu_status teeu_put_ex(teeu_client *c, const teeu_ndarray *arr, const teeu_func *const *allow_funcs,
                        size_t n_funcs, const teeu_put_options *opts, teeu_object **obj)
{
    if (obj != NULL)
        *obj = NULL;
    if (c == NULL || arr == NULL || obj == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_put: client, array and obj are required");
    if (n_funcs == 0 || allow_funcs == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT,
                        "teeu_put: allow at least one function (e.g. teeu_func_new(\"average\", \"{\\\"axis\\\":1}\")): "
                        "an object nobody may compute on is useless, and no limit at all would allow every function");
    if (n_funcs > 256)
        return tu_error(TEEU_ERR_LIMIT, "teeu_put: at most 256 allowed functions, not %zu", n_funcs);
    for (size_t i = 0; i < n_funcs; i++)
        if (allow_funcs[i] == NULL)
            return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_put: allow_funcs[%zu] is NULL", i);
    teeu_put_options defaults;
    teeu_put_options_init(&defaults);
    if (opts == NULL)
        opts = &defaults;
    int zstd = opts->zstd_level < 0 ? c->conf.cfg.zstd_level : opts->zstd_level;
    op o;
    op_begin(&o, c, opts->timeout_ms, "teeu_put");
    teeu_status st = warm_up(c, &o, true);
    const char **ids = calloc(n_funcs, sizeof *ids);
    tu_put_cred cr;
    memset(&cr, 0, sizeof cr);
    bool presigned = false, auth_hit = false;
    if (st == TEEU_OK && ids == NULL)
        st = tu_error(TEEU_ERR_NOMEM, "out of memory");
    if (st == TEEU_OK) {
        for (size_t i = 0; i < n_funcs; i++)
            ids[i] = allow_funcs[i]->identity;
        size_t n_ins = opts->allowed_parties != NULL ? opts->n_allowed_parties : 0;
        tu_put_policy pol = {.ins = n_ins ? opts->allowed_parties : NULL, .n_ins = n_ins, .funcs = ids,
                             .n_funcs = n_funcs};
        presigned = tu_presigner_take(atomic_load(&c->presigner), &pol, &cr, &auth_hit);
        if (!presigned)
            st = tu_uuid4_hex(cr.uuid);
        if (st == TEEU_OK && !presigned)
            st = tu_random_secret(cr.key, sizeof cr.key);
    }
    if (st == TEEU_OK) {
        const char *mr = c->teeu_mr_hex;
        tu_wire_presigned pre = {
            .enc_key = cr.enc_key,
            .enc_key_len = cr.enc_key_len,
            .mac = cr.mac,
            .seg_sig = cr.seg_sig,
            .seg_sig_len = cr.seg_sig_len,
            .auth_sig = auth_hit ? cr.auth_sig : NULL,
            .auth_sig_len = auth_hit ? cr.auth_sig_len : 0,
        };
        tu_wire_data_auth auth = {
            .data_uuid = cr.uuid,
            .data_key = cr.key,
            .data_key_len = sizeof cr.key,
            .allowed_ins_ids = opts->allowed_parties,
            .n_allowed_ins_ids = opts->n_allowed_parties,
            .allowed_mrenclaves = c->teeu_mr_set ? &mr : NULL,
            .n_allowed_mrenclaves = c->teeu_mr_set ? 1 : 0,
            .function_ids = ids,
            .n_function_ids = n_funcs,
            .presigned = presigned ? &pre : NULL,
        };
        st = register_and_put(c, &o, arr, &auth, cr.key, zstd);
    }
    if (st == TEEU_OK)
        st = tu_object_make(c->conf.cfg.teeu.address, cr.uuid, obj);
    tu_put_cred_clear(&cr);
    free(ids);
    tu_presigner_refill(atomic_load(&c->presigner)); /* now that this put no longer needs the CPU */
    if (st == TEEU_OK) {
        pthread_mutex_lock(&c->stats_lock);
        c->stats.puts++;
        c->stats.puts_presigned += presigned;
        c->stats.puts_presigned_auth += presigned && auth_hit;
        pthread_mutex_unlock(&c->stats_lock);
    }
    op_end(&o);
    return st == TEEU_OK ? st : tu_error_context(st, "teeu_put");
}

teeu_status teeu_put(teeu_client *c, const teeu_ndarray *arr, const teeu_func *const *allow_funcs, size_t n_funcs,
                     teeu_object **obj)
{
    return teeu_put_ex(c, arr, allow_funcs, n_funcs, NULL, obj);
}

/* ---- call ----------------------------------------------------------------------- */

static teeu_status same_teeu(const teeu_client *c, const teeu_object *obj)
{
    if (strcmp(obj->address, c->conf.cfg.teeu.address) != 0)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT,
                        "object %s lives on the TEEU at %s, but this client talks to the TEEU at %s: use a client "
                        "configured for that TEEU",
                        obj->uuid, obj->address, c->conf.cfg.teeu.address);
    return TEEU_OK;
}

/* Maps a TEEU refusal to a status and a message saying what to do. */
static teeu_status teeu_refusal(teeu_client *c, teeu_status st, const teeu_func *f, const char *doing)
{
    const char *addr = c->conf.cfg.teeu.address;
    char msg[1536];
    /* Keep the server's reason, not the transport's "gRPC <method> to <addr>: server answered ..." prefix. */
    const char *reason = teeu_last_error();
    const char *cut = strstr(reason, "server answered ");
    cut = cut ? strstr(cut, "): ") : NULL;
    snprintf(msg, sizeof msg, "%s", cut ? cut + 3 : reason);
    explain_identity(msg, sizeof msg, f);
    switch (st) {
    case TEEU_ERR_RPC_PERMISSION_DENIED:
        return tu_error(TEEU_ERR_NOT_AUTHORIZED, "the TEEU at %s refused to %s: %s%s", addr, doing, msg,
                        f ? "; every owner of an input must allow this function in teeu_put (ask the owner to "
                            "put the data again allowing it)"
                          : "");
    case TEEU_ERR_RPC_NOT_FOUND:
        return tu_error(TEEU_ERR_NOT_FOUND, "the TEEU at %s cannot %s: %s (check the handle and that it was put "
                        "on this TEEU)", addr, doing, msg);
    default:
        return service_error(st, "TEEU", addr, "teeu.address");
    }
}

/*
 * A failed request to the TEEU about one object: a refusal explained (with
 * what to do when it is about authorization, or an unknown object), a
 * transport failure as a service error.
 */
static teeu_status teeu_failure(teeu_client *c, teeu_status st, const char *doing, const char *if_not_authorized,
                                const char *if_not_found)
{
    if (st < TEEU_ERR_RPC_CANCELLED || st > TEEU_ERR_RPC_UNAUTHENTICATED)
        return service_error(st, "TEEU", c->conf.cfg.teeu.address, "teeu.address");
    st = teeu_refusal(c, st, NULL, doing);
    if (st == TEEU_ERR_NOT_AUTHORIZED && if_not_authorized != NULL)
        return tu_error_context(st, "%s", if_not_authorized);
    if (st == TEEU_ERR_NOT_FOUND && if_not_found != NULL)
        return tu_error_context(st, "%s", if_not_found);
    return st;
}

teeu_status teeu_call_ex(teeu_client *c, const teeu_func *func, const teeu_arg *args, size_t n_args,
                         const teeu_call_options *opts, teeu_object **result)
{
    if (result != NULL)
        *result = NULL;
    if (c == NULL || func == NULL || result == NULL || (args == NULL && n_args > 0))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_call: client, func and result are required");
    teeu_call_options defaults;
    teeu_call_options_init(&defaults);
    if (opts == NULL)
        opts = &defaults;
    size_t n_inputs = 0;
    for (size_t i = 0; i < n_args; i++) {
        if (args[i].n_objs == 0 || args[i].objs == NULL || (!args[i].is_list && args[i].n_objs != 1))
            return tu_error(TEEU_ERR_INVALID_ARGUMENT,
                            "teeu_call: argument %zu needs one object (or is_list with at least one)", i);
        for (size_t j = 0; j < args[i].n_objs; j++) {
            if (args[i].objs[j] == NULL)
                return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_call: argument %zu object %zu is NULL", i, j);
            teeu_status st = same_teeu(c, args[i].objs[j]);
            if (st != TEEU_OK)
                return st;
        }
        n_inputs += args[i].n_objs;
    }
    if (n_inputs == 0 || n_inputs > 1024)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_call: give 1 to 1024 input objects, not %zu", n_inputs);
    op o;
    op_begin(&o, c, opts->timeout_ms, "teeu_call");
    teeu_status st = warm_up(c, &o, false);
    const char **uuids = calloc(n_inputs, sizeof *uuids);
    Teeu__V1__Argument *pa = calloc(n_args ? n_args : 1, sizeof *pa);
    Teeu__V1__Argument **pap = calloc(n_args ? n_args : 1, sizeof *pap);
    char **arg_uuids = calloc(n_inputs, sizeof *arg_uuids);
    char task_id[33];
    tu_buf params = {0};
    uint8_t *psig = NULL, *req = NULL;
    size_t psig_len = 0, req_len = 0;
    if (st == TEEU_OK && (uuids == NULL || pa == NULL || pap == NULL || arg_uuids == NULL))
        st = tu_error(TEEU_ERR_NOMEM, "out of memory");
    if (st == TEEU_OK)
        st = tu_uuid4_hex(task_id);
    if (st == TEEU_OK) {
        size_t k = 0;
        for (size_t i = 0; i < n_args; i++) {
            teeu__v1__argument__init(&pa[i]);
            pa[i].is_list = args[i].is_list != 0;
            pa[i].data_uuids = &arg_uuids[k];
            pa[i].n_data_uuids = args[i].n_objs;
            pap[i] = &pa[i];
            for (size_t j = 0; j < args[i].n_objs; j++, k++) {
                uuids[k] = args[i].objs[j]->uuid;
                arg_uuids[k] = (char *)args[i].objs[j]->uuid;
            }
        }
        tu_wire_task wt = {.task_id = task_id, .requester_id = c->owner_id, .app_type = "teeu",
                           .code = func->identity, .data_uuids = uuids, .n_inputs = n_inputs};
        st = tu_wire_build_tee_task_params(&wt, &params);
    }
    if (st == TEEU_OK) {
        tu_bytes part = TU_BYTES(params.data, params.len);
        st = tu_rsa_sign(c->key, &part, 1, &psig, &psig_len);
    }
    if (st == TEEU_OK) {
        Teeu__V1__CallTask t = TEEU__V1__CALL_TASK__INIT;
        t.task_id = task_id;
        t.requester_id = c->owner_id;
        t.requester_public_key = c->pub_pem;
        t.function = func->descriptor;
        t.args = pap;
        t.n_args = n_args;
        t.revealers = (char **)opts->revealers;
        t.n_revealers = opts->revealers ? opts->n_revealers : 0;
        t.allow_plaintext_reveal = opts->allow_plaintext_reveal != 0;
        t.timestamp_ms = now_ms(CLOCK_REALTIME);
        t.tee_task_params.data = params.data;
        t.tee_task_params.len = params.len;
        t.tee_task_params_signature.data = psig;
        t.tee_task_params_signature.len = psig_len;
        st = signed_request(c, &t.base, &req, &req_len);
    }
    tu_buf resp = {0};
    tu_rpc_call_opts ro;
    if (st == TEEU_OK)
        st = rpc_opts(&o, false, &ro);
    if (st == TEEU_OK) {
        st = tu_rpc_unary(c->teeu, TEEU_SERVICE "Call", req, req_len, &resp, &ro);
        if (st != TEEU_OK) {
            char doing[TU_FUNC_DESCRIPTOR_MAX + 16];
            snprintf(doing, sizeof doing, "run %s", func->descriptor);
            st = teeu_refusal(c, st, func, doing);
        }
    }
    if (st == TEEU_OK) {
        Teeu__V1__CallResponse *r = teeu__v1__call_response__unpack(NULL, resp.len, resp.data);
        if (r == NULL || r->result_uuid == NULL || !tu_uuid_hex_ok(r->result_uuid))
            st = unpack_error("CallResponse (no valid result_uuid)", c->conf.cfg.teeu.address);
        else
            st = tu_object_make(c->conf.cfg.teeu.address, r->result_uuid, result);
        if (r != NULL)
            teeu__v1__call_response__free_unpacked(r, NULL);
    }
    tu_buf_free(&resp);
    tu_buf_free(&params);
    free(psig);
    free(req);
    free(uuids);
    free(pa);
    free(pap);
    free(arg_uuids);
    op_end(&o);
    return st == TEEU_OK ? st : tu_error_context(st, "teeu_call");
}

teeu_status teeu_call(teeu_client *c, const teeu_func *func, const teeu_object *const *objs, size_t n,
                      teeu_object **result)
{
    teeu_arg a = {.objs = objs, .n_objs = n, .is_list = 1};
    return teeu_call_ex(c, func, &a, 1, NULL, result);
}

/* ---- reveal --------------------------------------------------------------------- */

typedef struct reveal_sink {
    teeu_client *c;
    const char *uuid;
    const char *nonce;
    bool have_header;
    tu_stream *stream;
    uint64_t plaintext_size;
    uint64_t got;              /* plaintext bytes so far */
    uint64_t next_index;
    bool final_seen;
    /* .npy decoding: header bytes first, then data straight into arr */
    tu_buf head;               /* secret */
    teeu_ndarray *arr;
    size_t data_len;
    size_t data_off;
    bool zstd;                 /* compressed: everything into head, decoded at the end */
} reveal_sink;

static teeu_status sink_plain(reveal_sink *s, const uint8_t *p, size_t n)
{
    if (s->arr != NULL) {
        if (n > s->data_len - s->data_off)
            return tu_error(TEEU_ERR_NPY_DATA_LENGTH, "the result holds more data than its .npy header declares");
        memcpy((uint8_t *)teeu_ndarray_data(s->arr) + s->data_off, p, n);
        s->data_off += n;
        return TEEU_OK;
    }
    teeu_status st = tu_buf_append(&s->head, p, n);
    if (st != TEEU_OK || s->zstd)
        return st;
    if (s->head.len >= 4 && tu_npy_is_zstd(s->head.data, s->head.len)) {
        s->zstd = true;
        return TEEU_OK;
    }
    teeu_npy_info info;
    size_t need = 0;
    st = tu_npy_parse_header(s->head.data, s->head.len, &info, &need);
    if (st == TEEU_ERR_NPY_TRUNCATED)
        return TEEU_OK;
    if (st != TEEU_OK)
        return st;
    if (info.data_len > s->plaintext_size)
        return tu_error(TEEU_ERR_NPY_DATA_LENGTH, "the result's .npy header declares more data than was sent");
    st = tu_ndarray_new_from_info(&info, &s->arr);
    if (st != TEEU_OK)
        return st;
    s->data_len = info.data_len;
    size_t rest = s->head.len - info.header_len;
    uint8_t *from = s->head.data + info.header_len;
    s->head.len = info.header_len;
    return sink_plain(s, from, rest);
}

static teeu_status reveal_header(reveal_sink *s, const Teeu__V1__RevealHeader *h)
{
    if (h->sealed_key == NULL || h->sealed_key->symmetric_secret == NULL || h->stream_header.len != TU_STREAM_HEADER_LEN)
        return tu_error(TEEU_ERR_PROTOBUF, "the reveal header lacks its sealed key or stream header (a plaintext "
                        "reveal is not requested by this client)");
    tu_envelope env;
    if (!tu_wire_envelope_of_secret(h->sealed_key, &env))
        return tu_error(TEEU_ERR_DECRYPT, "the sealed result key has a malformed nonce or tag");
    /* The AAD binds the key to this result and this request: check it is ours before trusting the key. */
    char aad[33 + 1 + TU_WIRE_NONCE_HEX_LEN + 1];
    snprintf(aad, sizeof aad, "%s|%s", s->uuid, s->nonce);
    if (env.aad_len != strlen(aad) || memcmp(env.aad, aad, env.aad_len) != 0)
        return tu_error(TEEU_ERR_DECRYPT, "the sealed result key is bound to another result or request (a replay?)");
    uint8_t *key = NULL;
    size_t key_len = 0;
    teeu_status st = tu_envelope_open(s->c->key, &env, &key, &key_len);
    if (st != TEEU_OK)
        return tu_error_context(st, "opening the sealed result key");
    if (key_len != TU_STREAM_KEY_LEN)
        st = tu_error(TEEU_ERR_DECRYPT, "the sealed result key is %zu bytes, not 32", key_len);
    if (st == TEEU_OK)
        st = tu_stream_open_init(key, (const uint8_t *)aad, strlen(aad), h->stream_header.data, &s->stream);
    tu_free_secret(key, key_len);
    if (st != TEEU_OK)
        return st;
    s->plaintext_size = h->plaintext_size;
    if (h->plaintext_size > ((uint64_t)1 << 40))
        return tu_error(TEEU_ERR_LIMIT, "the result is %llu bytes: too large", (unsigned long long)h->plaintext_size);
    s->have_header = true;
    return TEEU_OK;
}

static teeu_status reveal_msg(void *ctx, const uint8_t *msg, size_t len)
{
    reveal_sink *s = ctx;
    Teeu__V1__RevealResponse *r = teeu__v1__reveal_response__unpack(NULL, len, msg);
    if (r == NULL)
        return tu_error(TEEU_ERR_PROTOBUF, "the TEEU sent a malformed RevealResponse");
    teeu_status st = TEEU_OK;
    if (r->part_case == TEEU__V1__REVEAL_RESPONSE__PART_HEADER) {
        st = s->have_header ? tu_error(TEEU_ERR_PROTOCOL, "the TEEU sent two reveal headers")
                            : reveal_header(s, r->header);
    } else if (r->part_case == TEEU__V1__REVEAL_RESPONSE__PART_SEGMENT) {
        const Teeu__V1__PutObjectSegment *g = r->segment;
        if (!s->have_header)
            st = tu_error(TEEU_ERR_PROTOCOL, "the TEEU sent a result segment before the header");
        else if (s->final_seen)
            st = tu_error(TEEU_ERR_STREAM_ORDER, "the TEEU sent a segment after the final one");
        else if (g->index != s->next_index)
            st = tu_error(TEEU_ERR_STREAM_ORDER, "result segment %u arrived where %llu was expected", g->index,
                          (unsigned long long)s->next_index);
        else if (g->ciphertext.len < TU_GCM_TAG_LEN)
            st = tu_error(TEEU_ERR_STREAM_TRUNCATED, "a result segment is shorter than its tag");
        if (st == TEEU_OK)
            st = tu_stream_open_segment(s->stream, g->ciphertext.data, g->ciphertext.len, g->final,
                                        g->ciphertext.data);
        if (st == TEEU_OK) {
            size_t n = g->ciphertext.len - TU_GCM_TAG_LEN;
            s->got += n;
            s->next_index++;
            s->final_seen = g->final;
            if (s->got > s->plaintext_size)
                st = tu_error(TEEU_ERR_NPY_DATA_LENGTH, "the result is longer than its header says");
            if (st == TEEU_OK)
                st = sink_plain(s, g->ciphertext.data, n);
            tu_wipe(g->ciphertext.data, g->ciphertext.len);
        }
    } else {
        st = tu_error(TEEU_ERR_PROTOBUF, "the TEEU sent an empty RevealResponse");
    }
    teeu__v1__reveal_response__free_unpacked(r, NULL);
    return st;
}

static teeu_status reveal_finish(reveal_sink *s, teeu_ndarray **out)
{
    if (!s->have_header)
        return tu_error(TEEU_ERR_PROTOCOL, "the TEEU ended the reveal without sending the result");
    teeu_status st = tu_stream_finish(s->stream);
    if (st == TEEU_OK && s->got != s->plaintext_size)
        st = tu_error(TEEU_ERR_STREAM_TRUNCATED, "the result is %llu bytes, the header promised %llu",
                      (unsigned long long)s->got, (unsigned long long)s->plaintext_size);
    if (st != TEEU_OK)
        return st;
    if (s->zstd) {
        teeu_npy_decode_options d;
        teeu_npy_decode_options_init(&d);
        d.flags = TEEU_NPY_DECODE_COPY;
        return teeu_ndarray_decode(s->head.data, s->head.len, &d, out);
    }
    if (s->arr == NULL)
        return tu_error(TEEU_ERR_NPY_TRUNCATED, "the result is not a complete .npy array");
    if (s->data_off != s->data_len)
        return tu_error(TEEU_ERR_NPY_DATA_LENGTH, "the result holds %zu data bytes, its header declares %zu",
                        s->data_off, s->data_len);
    *out = s->arr;
    s->arr = NULL;
    return TEEU_OK;
}

teeu_status teeu_reveal_ex(teeu_client *c, const teeu_object *result, long timeout_ms, teeu_ndarray **arr)
{
    if (arr != NULL)
        *arr = NULL;
    if (c == NULL || result == NULL || arr == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_reveal: client, result and arr are required");
    teeu_status st = same_teeu(c, result);
    if (st != TEEU_OK)
        return st;
    op o;
    op_begin(&o, c, timeout_ms, "teeu_reveal");
    st = warm_up(c, &o, false);
    char nonce[TU_WIRE_NONCE_HEX_LEN + 1];
    uint8_t *req = NULL;
    size_t req_len = 0;
    if (st == TEEU_OK)
        st = tu_wire_new_nonce(nonce);
    if (st == TEEU_OK) {
        Teeu__V1__RevealTask t = TEEU__V1__REVEAL_TASK__INIT;
        t.result_uuid = (char *)result->uuid;
        t.requester_id = c->owner_id;
        t.requester_public_key = c->pub_pem;
        t.plaintext = false;
        t.timestamp_ms = now_ms(CLOCK_REALTIME);
        t.nonce = nonce;
        st = signed_request(c, &t.base, &req, &req_len);
    }
    reveal_sink s = {.c = c, .uuid = result->uuid, .nonce = nonce, .head = {.secret = true}};
    tu_rpc_call_opts ro;
    if (st == TEEU_OK)
        st = rpc_opts(&o, false, &ro);
    if (st == TEEU_OK) {
        ro.retry_unavailable = true; /* a reveal only reads */
        st = tu_rpc_server_stream(c->teeu, TEEU_SERVICE "Reveal", req, req_len, reveal_msg, &s, &ro);
        if (st != TEEU_OK) {
            char doing[128];
            snprintf(doing, sizeof doing, "reveal result %s to %s", result->uuid, c->owner_id);
            st = teeu_failure(c, st, doing,
                              "only the parties the caller of teeu_call named as revealers (by default the caller "
                              "and the owners of the inputs) may reveal it",
                              NULL);
        }
    }
    if (st == TEEU_OK)
        st = reveal_finish(&s, arr);
    tu_stream_free(s.stream);
    if (s.arr != NULL) {
        tu_wipe(teeu_ndarray_data(s.arr), s.data_len);
        teeu_ndarray_free(s.arr);
    }
    tu_buf_free(&s.head);
    free(req);
    op_end(&o);
    return st == TEEU_OK ? st : tu_error_context(st, "teeu_reveal");
}

teeu_status teeu_reveal(teeu_client *c, const teeu_object *result, teeu_ndarray **arr)
{
    return teeu_reveal_ex(c, result, 0, arr);
}

/* ---- delete ----------------------------------------------------------- */

teeu_status teeu_delete(teeu_client *c, const teeu_object *obj)
{
    if (c == NULL || obj == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_delete: client and obj are required");
    teeu_status st = same_teeu(c, obj);
    if (st != TEEU_OK)
        return st;
    op o;
    op_begin(&o, c, 0, "teeu_delete");
    st = warm_up(c, &o, false);
    if (st == TEEU_OK && (st = send_delete(c, &o, obj->uuid, false)) != TEEU_OK) {
        char doing[128];
        snprintf(doing, sizeof doing, "delete %s for %s", obj->uuid, c->owner_id);
        st = teeu_failure(c, st, doing,
                          "only the owner of an object (the party that put it) or the requester of a result (the "
                          "party that called) may delete it",
                          "deleted already, or never stored there");
    }
    op_end(&o);
    return st == TEEU_OK ? st : tu_error_context(st, "teeu_delete");
}
