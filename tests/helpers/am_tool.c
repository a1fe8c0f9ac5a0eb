/*
 * am_tool — drives libteeu's AuthManager messages and client for the tests.
 *
 * Message building (no network; prints req=<hex>):
 *   am_tool build-register --key PARTY.pem
 *   am_tool build-create --key PARTY.pem --am-pub AM.pem --uuid U --data-key HEX
 *           [--allow ID]... [--mrenclave HEX]... [--func ID]... [--op NAME]...
 *   am_tool build-ra --nonce HEX
 *   am_tool build-task --code C --input U... [--requester R] [--task-id T] [--app-type A] [--pub PEMFILE]
 *           (prints params=<hex> and, with --pub, user_data=<hex> and req=<hex>)
 * Calls (need --endpoint H:P and --plaintext or --ca/--cert/--key-file):
 *   am_tool get-ra [--expect-platform P]     prints cert_pem_hex=, hook=...
 *   am_tool register --key PARTY.pem
 *   am_tool create --key PARTY.pem --uuid U --data-key HEX [auth options as build-create]
 *           (fetches the AuthManager key with GetRaCertPems, registers, creates)
 *   am_tool export-key --key PARTY.pem --uuid U  prints key=<hex>
 *   am_tool compute-meta --code C --input U... [--requester R] [--report]
 *           prints key=<hex> per input
 * Every run ends with status=<int> name=<str> and, on failure, error=<msg>.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto_internal.h"
#include "rpc/authmanager_internal.h"

#define MAX_LIST 64

typedef struct list {
    const char *v[MAX_LIST];
    size_t n;
} list;

typedef struct args {
    const char *cmd;
    const char *key, *am_pub, *uuid, *data_key_hex, *nonce, *code, *requester, *task_id, *app_type, *pub;
    const char *expect_platform;
    bool report;
    list allow, mrenclave, func, op, input;
    tu_rpc_options rpc;
} args;

static void print_hex(const char *name, const uint8_t *p, size_t n)
{
    printf("%s=", name);
    for (size_t i = 0; i < n; i++)
        printf("%02x", p[i]);
    printf("\n");
}

static int push(list *l, const char *v)
{
    if (l->n >= MAX_LIST)
        return -1;
    l->v[l->n++] = v;
    return 0;
}

static int parse(args *a, int argc, char **argv)
{
    memset(a, 0, sizeof *a);
    tu_rpc_options_init(&a->rpc);
    a->rpc.max_retries = 0;
    if (argc < 2)
        return -1;
    a->cmd = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp(o, "--plaintext") == 0) {
            a->rpc.plaintext = true;
            continue;
        }
        if (strcmp(o, "--report") == 0) {
            a->report = true;
            continue;
        }
        if (i + 1 >= argc)
            return -1;
        const char *v = argv[++i];
        int rc = 0;
        if (!strcmp(o, "--key")) a->key = v;
        else if (!strcmp(o, "--am-pub")) a->am_pub = v;
        else if (!strcmp(o, "--uuid")) a->uuid = v;
        else if (!strcmp(o, "--data-key")) a->data_key_hex = v;
        else if (!strcmp(o, "--nonce")) a->nonce = v;
        else if (!strcmp(o, "--code")) a->code = v;
        else if (!strcmp(o, "--requester")) a->requester = v;
        else if (!strcmp(o, "--task-id")) a->task_id = v;
        else if (!strcmp(o, "--app-type")) a->app_type = v;
        else if (!strcmp(o, "--pub")) a->pub = v;
        else if (!strcmp(o, "--expect-platform")) a->expect_platform = v;
        else if (!strcmp(o, "--allow")) rc = push(&a->allow, v);
        else if (!strcmp(o, "--mrenclave")) rc = push(&a->mrenclave, v);
        else if (!strcmp(o, "--func")) rc = push(&a->func, v);
        else if (!strcmp(o, "--op")) rc = push(&a->op, v);
        else if (!strcmp(o, "--input")) rc = push(&a->input, v);
        else if (!strcmp(o, "--endpoint")) a->rpc.endpoint = v;
        else if (!strcmp(o, "--ca")) a->rpc.ca_file = v;
        else if (!strcmp(o, "--cert")) a->rpc.cert_file = v;
        else if (!strcmp(o, "--key-file")) a->rpc.key_file = v;
        else if (!strcmp(o, "--timeout")) a->rpc.default_timeout_ms = (uint32_t)strtoul(v, NULL, 10);
        else return -1;
        if (rc)
            return -1;
    }
    return 0;
}

static teeu_status load_party(const args *a, teeu_key **k)
{
    if (!a->key)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "--key is required");
    return teeu_key_load_private_file(a->key, NULL, k);
}

/* Fills the DataAuth description; data_key receives the decoded key. */
static teeu_status data_auth(const args *a, tu_wire_data_auth *d, uint8_t **data_key, size_t *data_key_len)
{
    memset(d, 0, sizeof *d);
    if (!a->data_key_hex)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "--data-key is required");
    teeu_status st = tu_hex_decode(a->data_key_hex, strlen(a->data_key_hex), data_key, data_key_len);
    if (st != TEEU_OK)
        return st;
    d->data_uuid = a->uuid;
    d->data_key = *data_key;
    d->data_key_len = *data_key_len;
    d->allowed_ins_ids = a->allow.v;
    d->n_allowed_ins_ids = a->allow.n;
    d->allowed_mrenclaves = a->mrenclave.v;
    d->n_allowed_mrenclaves = a->mrenclave.n;
    d->function_ids = a->func.v;
    d->n_function_ids = a->func.n;
    d->operators = a->op.v;
    d->n_operators = a->op.n;
    d->name = "am_tool object";
    return TEEU_OK;
}

static void task_of(const args *a, tu_wire_task *t)
{
    memset(t, 0, sizeof *t);
    t->task_id = a->task_id;
    t->requester_id = a->requester;
    t->app_type = a->app_type;
    t->code = a->code;
    t->data_uuids = a->input.v;
    t->n_inputs = a->input.n;
}

static teeu_status cmd_build(const args *a)
{
    tu_buf out = {0};
    teeu_key *party = NULL;
    teeu_key *am = NULL;
    uint8_t *dk = NULL;
    size_t dk_len = 0;
    teeu_status st = TEEU_OK;
    if (!strcmp(a->cmd, "build-register")) {
        st = load_party(a, &party);
        if (st == TEEU_OK)
            st = tu_wire_build_register_ins_pub_key(party, &out);
    } else if (!strcmp(a->cmd, "build-create")) {
        tu_wire_data_auth d;
        st = load_party(a, &party);
        if (st == TEEU_OK)
            st = a->am_pub ? teeu_key_load_public_file(a->am_pub, 0, &am)
                           : tu_error(TEEU_ERR_INVALID_ARGUMENT, "--am-pub is required");
        if (st == TEEU_OK)
            st = data_auth(a, &d, &dk, &dk_len);
        if (st == TEEU_OK)
            st = tu_wire_build_create_data_with_auth(party, am, &d, &out);
    } else if (!strcmp(a->cmd, "build-ra")) {
        st = tu_wire_build_get_ra_cert_pems(a->nonce, &out);
    } else {
        tu_wire_task t;
        task_of(a, &t);
        st = tu_wire_build_tee_task_params(&t, &out);
        if (st == TEEU_OK) {
            print_hex("params", out.data, out.len);
            if (a->pub) {
                uint8_t *pem = NULL;
                size_t pem_len = 0;
                char ud[65];
                tu_buf req = {0};
                st = tu_read_file(a->pub, 1 << 20, &pem, &pem_len);
                if (st == TEEU_OK)
                    st = tu_wire_compute_meta_user_data(out.data, out.len, (const char *)pem, ud);
                if (st == TEEU_OK) {
                    printf("user_data=%s\n", ud);
                    st = tu_wire_build_get_compute_meta(out.data, out.len, (const char *)pem, NULL, 0, &req);
                }
                if (st == TEEU_OK)
                    print_hex("req", req.data, req.len);
                tu_buf_free(&req);
                free(pem);
            }
            tu_buf_free(&out);
        }
    }
    if (st == TEEU_OK && out.len)
        print_hex("req", out.data, out.len);
    tu_buf_free(&out);
    free(dk);
    teeu_key_free(party);
    teeu_key_free(am);
    return st;
}

/* The test's attestation hook: logs what it saw, checks the platform if asked. */
static teeu_status attest_hook(void *ctx, const Secretflowapis__V1__Sdc__UnifiedAttestationReport *report,
                               const char *cert_pem, const char *nonce)
{
    const args *a = ctx;
    const char *platform = report ? report->str_tee_platform : "(none)";
    printf("hook=nonce:%s platform:%s cert_len:%zu\n", nonce, platform, strlen(cert_pem));
    if (a->expect_platform && strcmp(a->expect_platform, platform) != 0)
        return tu_error(TEEU_ERR_POLICY, "report platform %s is not %s", platform, a->expect_platform);
    return TEEU_OK;
}

/* A stand-in report for GetComputeMeta: it carries the user data the peer checks. */
static teeu_status report_hook(void *ctx, const char *hex_user_data, tu_buf *out)
{
    (void)ctx;
    char json[128];
    snprintf(json, sizeof json, "{\"hex_user_data\":\"%s\"}", hex_user_data);
    Secretflowapis__V1__Sdc__UnifiedAttestationReport r = SECRETFLOWAPIS__V1__SDC__UNIFIED_ATTESTATION_REPORT__INIT;
    r.str_report_version = (char *)"1.0";
    r.str_report_type = (char *)"Passport";
    r.str_tee_platform = (char *)"SIM";
    r.json_report = json;
    size_t n = protobuf_c_message_get_packed_size(&r.base);
    teeu_status st = tu_buf_reserve(out, n);
    if (st != TEEU_OK)
        return st;
    protobuf_c_message_pack(&r.base, out->data);
    out->len = n;
    return TEEU_OK;
}

static teeu_status cmd_call(const args *a)
{
    tu_rpc_channel *ch = NULL;
    teeu_key *party = NULL;
    teeu_key *am = NULL;
    char *cert = NULL;
    uint8_t *dk = NULL;
    size_t dk_len = 0;
    teeu_status st = tu_rpc_channel_new(&a->rpc, &ch);
    if (st != TEEU_OK)
        return st;
    if (!strcmp(a->cmd, "get-ra")) {
        st = tu_am_get_ra_cert_pems(ch, attest_hook, (void *)a, NULL, &am, &cert);
        if (st == TEEU_OK)
            print_hex("cert_pem_hex", (const uint8_t *)cert, strlen(cert));
    } else if (!strcmp(a->cmd, "register")) {
        st = load_party(a, &party);
        if (st == TEEU_OK)
            st = tu_am_register_ins_pub_key(ch, party, NULL);
    } else if (!strcmp(a->cmd, "create")) {
        tu_wire_data_auth d;
        st = load_party(a, &party);
        if (st == TEEU_OK)
            st = data_auth(a, &d, &dk, &dk_len);
        if (st == TEEU_OK)
            st = tu_am_get_ra_cert_pems(ch, NULL, NULL, NULL, &am, NULL);
        if (st == TEEU_OK)
            st = tu_am_register_ins_pub_key(ch, party, NULL);
        if (st == TEEU_OK)
            st = tu_am_create_data_with_auth(ch, party, am, &d, NULL, NULL);
    } else if (!strcmp(a->cmd, "export-key")) {
        uint8_t key[TU_WIRE_DATA_KEY_LEN];
        st = load_party(a, &party);
        if (st == TEEU_OK)
            st = tu_am_get_export_data_key(ch, party, a->uuid, NULL, key);
        if (st == TEEU_OK)
            print_hex("key", key, sizeof key);
    } else if (!strcmp(a->cmd, "compute-meta")) {
        tu_wire_task t;
        uint8_t *keys = NULL;
        task_of(a, &t);
        st = tu_am_get_compute_meta(ch, &t, NULL, a->report ? report_hook : NULL, NULL, NULL, &keys);
        for (size_t i = 0; st == TEEU_OK && i < t.n_inputs; i++)
            print_hex("key", keys + i * TU_WIRE_DATA_KEY_LEN, TU_WIRE_DATA_KEY_LEN);
        if (keys)
            tu_free_secret(keys, t.n_inputs * TU_WIRE_DATA_KEY_LEN);
    } else {
        st = tu_error(TEEU_ERR_INVALID_ARGUMENT, "unknown command %s", a->cmd);
    }
    free(cert);
    free(dk);
    teeu_key_free(party);
    teeu_key_free(am);
    tu_rpc_channel_free(ch);
    return st;
}

int main(int argc, char **argv)
{
    args a;
    if (parse(&a, argc, argv) != 0) {
        fprintf(stderr, "usage: see the comment at the top of tests/helpers/am_tool.c\n");
        return 2;
    }
    teeu_status st = strncmp(a.cmd, "build-", 6) == 0 ? cmd_build(&a) : cmd_call(&a);
    printf("status=%d name=%s\n", (int)st, teeu_status_str(st));
    if (st != TEEU_OK)
        printf("error=%s\n", teeu_last_error());
    return st == TEEU_OK ? 0 : 1;
}
