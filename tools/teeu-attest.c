/*
 * teeu-attest — check SGX DCAP quotes and run the simulation attestation
 * authority.
 *
 *   teeu-attest verify --quote FILE (--collateral FILE | --pccs URL [--pccs-ca PEM])
 *                      [--at RFC3339] [--mrenclave HEX] [--mrsigner HEX]
 *                      [--isv-prod-id N] [--min-isv-svn N] [--report-data HEX]
 *                      [--allow-debug] [--accept-status NAME]... [--sim-root PEM]
 *   teeu-attest verify --ua-report FILE [--collateral FILE | --pccs URL] [...same policy options]
 *   teeu-attest sim-init DIR
 *   teeu-attest sim-quote --authority DIR --mrenclave HEX [--mrsigner HEX]
 *                      [--report-data HEX] [--isv-prod-id N] [--isv-svn N] [--debug]
 *                      --out FILE [--collateral-out FILE] [--ua-report-out FILE]
 *   teeu-attest sim-revoke-pck --authority DIR
 *   teeu-attest sim-set-status --authority DIR --platform-status NAME [--qe-status NAME]
 *
 * verify prints one JSON line; exit status 0 only when the quote is accepted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <teeu/attest.h>

#include "attest/attest_internal.h"

#define TU_TOOL_MAX_FILE ((size_t)16 << 20)

static int usage(void)
{
    fprintf(stderr,
            "usage:\n"
            "  teeu-attest verify --quote FILE (--collateral FILE | --pccs URL [--pccs-ca PEM])\n"
            "                     [--at RFC3339-TIME] [--mrenclave HEX] [--mrsigner HEX]\n"
            "                     [--isv-prod-id N] [--min-isv-svn N] [--report-data HEX]\n"
            "                     [--allow-debug] [--accept-status NAME]... [--sim-root PEM]\n"
            "  teeu-attest verify --ua-report FILE [--collateral FILE | --pccs URL] [policy options]\n"
            "  teeu-attest sim-init DIR\n"
            "  teeu-attest sim-quote --authority DIR --mrenclave HEX [--mrsigner HEX]\n"
            "                     [--report-data HEX] [--isv-prod-id N] [--isv-svn N] [--debug]\n"
            "                     --out FILE [--collateral-out FILE] [--ua-report-out FILE]\n"
            "  teeu-attest sim-revoke-pck --authority DIR\n"
            "  teeu-attest sim-set-status --authority DIR --platform-status NAME [--qe-status NAME]\n");
    return 2;
}

typedef struct verify_args {
    const char *quote, *collateral, *pccs, *pccs_ca, *at, *mrenclave, *mrsigner, *report_data;
    const char *sim_root, *ua_report, *prod_id, *min_svn;
    bool allow_debug;
    uint32_t extra_statuses;
} verify_args;

/* Appends while the output is healthy; the first failure sticks in w. */
#define W(expr)              \
    do {                     \
        if (w == TEEU_OK)    \
            w = (expr);      \
    } while (0)

static void json_hex(tu_buf *b, teeu_status *w, const char *key, const uint8_t *v, size_t n)
{
    char hex[129];
    tu_hex_encode_to(v, n, true, hex);
    if (*w == TEEU_OK)
        *w = tu_buf_printf(b, ",\"%s\":\"%s\"", key, hex);
}

/* Prints the verdict line. identity: the quote parsed (fields known). */
static void print_result(teeu_status st, const tu_verdict *v, bool have_verdict,
                         const tu_quote *q, bool have_quote)
{
    tu_buf b = {0};
    teeu_status w = TEEU_OK;
    W(tu_buf_printf(&b, "{\"ok\":%s", st == TEEU_OK ? "true" : "false"));
    if (have_verdict) {
        W(tu_buf_printf(&b, ",\"platform_status\":\"%s\",\"qe_status\":\"%s\",\"advisories\":[",
                            v->platform_status, v->qe_status));
        for (size_t i = 0; i < v->advisory_count; i++) {
            if (i > 0)
                W(tu_buf_append(&b, ",", 1));
            W(tu_json_append_string(&b, v->advisories[i], strlen(v->advisories[i])));
        }
        W(tu_buf_append(&b, "]", 1));
    } else {
        W(tu_buf_append_str(&b, ",\"platform_status\":null,\"qe_status\":null,\"advisories\":[]"));
    }
    if (have_verdict || have_quote) {
        const uint8_t *mre = have_verdict ? v->mr_enclave : q->isv.mr_enclave;
        const uint8_t *mrs = have_verdict ? v->mr_signer : q->isv.mr_signer;
        const uint8_t *rd = have_verdict ? v->report_data : q->isv.report_data;
        json_hex(&b, &w, "mr_enclave", mre, 32);
        json_hex(&b, &w, "mr_signer", mrs, 32);
        W(tu_buf_printf(&b, ",\"isv_prod_id\":%u,\"isv_svn\":%u,\"debug\":%s",
                            have_verdict ? v->isv_prod_id : q->isv.isv_prod_id,
                            have_verdict ? v->isv_svn : q->isv.isv_svn,
                            (have_verdict ? v->debug : (q->isv.flags & 2) != 0) ? "true" : "false"));
        json_hex(&b, &w, "report_data", rd, 64);
    }
    if (have_verdict)
        W(tu_buf_printf(&b, ",\"simulated\":%s", v->simulated ? "true" : "false"));
    if (st != TEEU_OK) {
        W(tu_buf_append_str(&b, ",\"status\":"));
        const char *name = teeu_status_str(st);
        W(tu_json_append_string(&b, name, strlen(name)));
        W(tu_buf_append_str(&b, ",\"error\":"));
        const char *msg = teeu_last_error();
        if (msg[0] == '\0')
            msg = name;
        W(tu_json_append_string(&b, msg, strlen(msg)));
    }
    W(tu_buf_append(&b, "}\n", 2));
    if (w != TEEU_OK)
        printf("{\"ok\":false,\"error\":\"out of memory\"}\n");
    else
        fwrite(b.data, 1, b.len, stdout);
    fflush(stdout);
    tu_buf_free(&b);
}

static teeu_status hex_arg(const char *name, const char *hex, uint8_t *out, size_t max, size_t *len)
{
    size_t hl = strlen(hex);
    if (hl == 0 || hl % 2 != 0 || hl / 2 > max)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "%s must be 2 to %zu hex digits", name, 2 * max);
    if (tu_hex_decode_to(hex, hl, out, hl / 2) != TEEU_OK)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "%s is not hex", name);
    if (len != NULL)
        *len = hl / 2;
    else if (hl / 2 != max)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "%s must be exactly %zu hex digits", name, 2 * max);
    return TEEU_OK;
}

static teeu_status int_arg(const char *name, const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "%s must be an integer in %ld..%ld", name, min, max);
    *out = v;
    return TEEU_OK;
}

static teeu_status load_text(const char *path, char **out, size_t *len)
{
    uint8_t *d;
    teeu_status st = tu_read_file(path, TU_TOOL_MAX_FILE, &d, len);
    *out = (char *)d;
    return st;
}

/* Builds options/policy from the arguments; storage keeps the policy's bytes. */
static teeu_status setup(const verify_args *a, teeu_attest_options *o, teeu_attest_policy *p,
                         uint8_t storage[128], char **sim_pem)
{
    teeu_attest_options_init(o);
    teeu_attest_policy_init(p);
    teeu_status st;
    if (a->at != NULL && !tu_rfc3339_parse(a->at, strlen(a->at), &o->verify_time))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "--at %s is not an RFC 3339 time", a->at);
    if (a->sim_root != NULL) {
        size_t l;
        if ((st = load_text(a->sim_root, sim_pem, &l)) != TEEU_OK)
            return st;
        o->simulation = true; /* --sim-root is how the tool turns simulation on */
        o->sim_root_pem = *sim_pem;
        o->sim_root_pem_len = l;
    }
    if (a->mrenclave != NULL) {
        if ((st = hex_arg("--mrenclave", a->mrenclave, storage, 32, NULL)) != TEEU_OK)
            return st;
        p->mr_enclave = storage;
    }
    if (a->mrsigner != NULL) {
        if ((st = hex_arg("--mrsigner", a->mrsigner, storage + 32, 32, NULL)) != TEEU_OK)
            return st;
        p->mr_signer = storage + 32;
    }
    if (a->report_data != NULL) {
        if ((st = hex_arg("--report-data", a->report_data, storage + 64, 64, &p->report_data_len)) !=
            TEEU_OK)
            return st;
        p->report_data = storage + 64;
    }
    long v;
    if (a->prod_id != NULL) {
        if ((st = int_arg("--isv-prod-id", a->prod_id, 0, 65535, &v)) != TEEU_OK)
            return st;
        p->isv_prod_id = (int32_t)v;
    }
    if (a->min_svn != NULL) {
        if ((st = int_arg("--min-isv-svn", a->min_svn, 0, 65535, &v)) != TEEU_OK)
            return st;
        p->min_isv_svn = (int32_t)v;
    }
    p->allow_debug = a->allow_debug;
    p->accepted_statuses |= a->extra_statuses;
    return TEEU_OK;
}

static int cmd_verify(int argc, char **argv)
{
    verify_args a = {0};
    for (int i = 2; i < argc; i++) {
        const char *k = argv[i];
        const char **dst = NULL;
        if (strcmp(k, "--allow-debug") == 0) {
            a.allow_debug = true;
            continue;
        }
        if (strcmp(k, "--quote") == 0) dst = &a.quote;
        else if (strcmp(k, "--collateral") == 0) dst = &a.collateral;
        else if (strcmp(k, "--pccs") == 0) dst = &a.pccs;
        else if (strcmp(k, "--pccs-ca") == 0) dst = &a.pccs_ca;
        else if (strcmp(k, "--at") == 0) dst = &a.at;
        else if (strcmp(k, "--mrenclave") == 0) dst = &a.mrenclave;
        else if (strcmp(k, "--mrsigner") == 0) dst = &a.mrsigner;
        else if (strcmp(k, "--report-data") == 0) dst = &a.report_data;
        else if (strcmp(k, "--sim-root") == 0) dst = &a.sim_root;
        else if (strcmp(k, "--ua-report") == 0) dst = &a.ua_report;
        else if (strcmp(k, "--isv-prod-id") == 0) dst = &a.prod_id;
        else if (strcmp(k, "--min-isv-svn") == 0) dst = &a.min_svn;
        else if (strcmp(k, "--accept-status") == 0) {
            if (i + 1 >= argc)
                return usage();
            uint32_t bit = tu_tcb_status_bit(argv[++i]);
            if (bit == 0) {
                fprintf(stderr, "teeu-attest: unknown TCB status %s\n", argv[i]);
                return 2;
            }
            a.extra_statuses |= bit;
            continue;
        } else {
            fprintf(stderr, "teeu-attest verify: unknown option %s\n", k);
            return usage();
        }
        if (i + 1 >= argc)
            return usage();
        *dst = argv[++i];
    }
    if ((a.quote == NULL) == (a.ua_report == NULL) || (a.collateral != NULL && a.pccs != NULL) ||
        (a.quote != NULL && a.collateral == NULL && a.pccs == NULL))
        return usage();

    teeu_attest_options o;
    teeu_attest_policy p;
    uint8_t storage[128];
    char *sim_pem = NULL, *coll_json = NULL, *ua_json = NULL;
    uint8_t *quote = NULL;
    size_t quote_len = 0, coll_len = 0, ua_len = 0;
    teeu_collateral *coll = NULL;
    tu_ua_report ua = {0};
    tu_verdict verdict;
    tu_quote q;
    bool have_quote = false, have_verdict = false;
    tu_verifier v = {0};

    teeu_status st = setup(&a, &o, &p, storage, &sim_pem);
    if (st == TEEU_OK && a.collateral != NULL)
        st = load_text(a.collateral, &coll_json, &coll_len);
    if (st == TEEU_OK && coll_json != NULL)
        st = teeu_collateral_parse(coll_json, coll_len, &coll);
    if (st == TEEU_OK && a.ua_report != NULL) {
        st = load_text(a.ua_report, &ua_json, &ua_len);
        if (st == TEEU_OK)
            st = tu_ua_report_parse(ua_json, ua_len, &ua);
        if (st == TEEU_OK && coll == NULL && a.pccs == NULL) {
            if (ua.collateral_json == NULL)
                st = tu_error(TEEU_ERR_CONFIG, "the BackgroundCheck report carries no collateral: "
                                               "pass --collateral or --pccs");
            else
                st = teeu_collateral_parse(ua.collateral_json, ua.collateral_json_len, &coll);
        }
        if (st == TEEU_OK) {
            quote = ua.quote;
            quote_len = ua.quote_len;
            ua.quote = NULL;
        }
    } else if (st == TEEU_OK) {
        st = tu_read_file(a.quote, TU_QUOTE_MAX_LEN + 1, &quote, &quote_len);
    }
    if (st == TEEU_OK && tu_quote_parse(quote, quote_len, &q) == TEEU_OK)
        have_quote = true;
    if (st == TEEU_OK && coll == NULL && a.pccs != NULL)
        st = teeu_collateral_fetch(a.pccs, a.pccs_ca, quote, quote_len, &coll);
    if (st == TEEU_OK)
        st = tu_verifier_init(&v, &o);
    if (st == TEEU_OK)
        st = tu_dcap_verify(&v, quote, quote_len, coll, &verdict);
    if (st == TEEU_OK) {
        have_verdict = true;
        st = tu_policy_check(&verdict, &p);
    }
    print_result(st, &verdict, have_verdict, &q, have_quote);
    tu_verifier_clear(&v);
    teeu_collateral_free(coll);
    tu_ua_report_clear(&ua);
    free(ua_json);
    free(coll_json);
    free(sim_pem);
    free(quote);
    return st == TEEU_OK ? 0 : 1;
}

static int fail(const char *what)
{
    fprintf(stderr, "teeu-attest %s: %s\n", what, teeu_last_error());
    return 1;
}

static int cmd_sim_init(int argc, char **argv)
{
    if (argc != 3)
        return usage();
    if (tu_sim_authority_create(argv[2]) != TEEU_OK)
        return fail("sim-init");
    printf("{\"authority\":\"%s\",\"root\":\"%s/root_ca.pem\",\"collateral\":\"%s/collateral.json\"}\n",
           argv[2], argv[2], argv[2]);
    return 0;
}

static int cmd_sim_revoke(int argc, char **argv)
{
    if (argc != 4 || strcmp(argv[2], "--authority") != 0)
        return usage();
    tu_sim_authority *auth;
    if (tu_sim_authority_load(argv[3], &auth) != TEEU_OK)
        return fail("sim-revoke-pck");
    teeu_status st = tu_sim_authority_revoke_pck(auth);
    tu_sim_authority_free(auth);
    return st == TEEU_OK ? 0 : fail("sim-revoke-pck");
}

static int cmd_sim_status(int argc, char **argv)
{
    const char *dir = NULL, *plat = NULL, *qe = "UpToDate";
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--authority") == 0) dir = argv[i + 1];
        else if (strcmp(argv[i], "--platform-status") == 0) plat = argv[i + 1];
        else if (strcmp(argv[i], "--qe-status") == 0) qe = argv[i + 1];
        else return usage();
    }
    if (dir == NULL || plat == NULL || argc % 2 != 0)
        return usage();
    tu_sim_authority *auth;
    if (tu_sim_authority_load(dir, &auth) != TEEU_OK)
        return fail("sim-set-status");
    teeu_status st = tu_sim_authority_set_status(auth, plat, qe);
    tu_sim_authority_free(auth);
    return st == TEEU_OK ? 0 : fail("sim-set-status");
}

static int cmd_sim_quote(int argc, char **argv)
{
    const char *dir = NULL, *mre = NULL, *mrs = NULL, *rd = NULL, *out = NULL, *coll_out = NULL;
    const char *ua_out = NULL, *prod = NULL, *svn = NULL;
    bool debug = false;
    for (int i = 2; i < argc; i++) {
        const char *k = argv[i];
        const char **dst = NULL;
        if (strcmp(k, "--debug") == 0) {
            debug = true;
            continue;
        }
        if (strcmp(k, "--authority") == 0) dst = &dir;
        else if (strcmp(k, "--mrenclave") == 0) dst = &mre;
        else if (strcmp(k, "--mrsigner") == 0) dst = &mrs;
        else if (strcmp(k, "--report-data") == 0) dst = &rd;
        else if (strcmp(k, "--out") == 0) dst = &out;
        else if (strcmp(k, "--collateral-out") == 0) dst = &coll_out;
        else if (strcmp(k, "--ua-report-out") == 0) dst = &ua_out;
        else if (strcmp(k, "--isv-prod-id") == 0) dst = &prod;
        else if (strcmp(k, "--isv-svn") == 0) dst = &svn;
        else
            return usage();
        if (i + 1 >= argc)
            return usage();
        *dst = argv[++i];
    }
    if (dir == NULL || mre == NULL || out == NULL)
        return usage();
    uint8_t mr_enclave[32], mr_signer[32], report_data[64];
    tu_sim_quote_params qp = {.mr_enclave = mr_enclave};
    long v;
    if (hex_arg("--mrenclave", mre, mr_enclave, 32, NULL) != TEEU_OK ||
        (mrs != NULL && hex_arg("--mrsigner", mrs, mr_signer, 32, NULL) != TEEU_OK) ||
        (rd != NULL && hex_arg("--report-data", rd, report_data, 64, &qp.report_data_len) != TEEU_OK))
        return fail("sim-quote");
    if (mrs != NULL)
        qp.mr_signer = mr_signer;
    if (rd != NULL)
        qp.report_data = report_data;
    if (prod != NULL) {
        if (int_arg("--isv-prod-id", prod, 0, 65535, &v) != TEEU_OK)
            return fail("sim-quote");
        qp.isv_prod_id = (uint16_t)v;
    }
    if (svn != NULL) {
        if (int_arg("--isv-svn", svn, 0, 65535, &v) != TEEU_OK)
            return fail("sim-quote");
        qp.isv_svn = (uint16_t)v;
    }
    qp.debug = debug;
    tu_sim_authority *auth;
    if (tu_sim_authority_load(dir, &auth) != TEEU_OK)
        return fail("sim-quote");
    uint8_t *quote = NULL;
    size_t quote_len = 0;
    char *ua = NULL;
    const char *coll = tu_sim_collateral_json(auth);
    teeu_status st = tu_sim_quote(auth, &qp, &quote, &quote_len);
    if (st == TEEU_OK)
        st = tu_write_file_atomic(out, quote, quote_len, 0644);
    if (st == TEEU_OK && coll_out != NULL)
        st = tu_write_file_atomic(coll_out, coll, strlen(coll), 0644);
    if (st == TEEU_OK && ua_out != NULL) {
        st = tu_ua_report_make(quote, quote_len, coll, &ua);
        if (st == TEEU_OK)
            st = tu_write_file_atomic(ua_out, ua, strlen(ua), 0644);
    }
    free(ua);
    free(quote);
    tu_sim_authority_free(auth);
    if (st != TEEU_OK)
        return fail("sim-quote");
    printf("{\"quote\":\"%s\",\"collateral\":\"%s/collateral.json\",\"root\":\"%s/root_ca.pem\"}\n",
           out, dir, dir);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "verify") == 0)
        return cmd_verify(argc, argv);
    if (strcmp(argv[1], "sim-init") == 0)
        return cmd_sim_init(argc, argv);
    if (strcmp(argv[1], "sim-quote") == 0)
        return cmd_sim_quote(argc, argv);
    if (strcmp(argv[1], "sim-revoke-pck") == 0)
        return cmd_sim_revoke(argc, argv);
    if (strcmp(argv[1], "sim-set-status") == 0)
        return cmd_sim_status(argc, argv);
    return usage();
}
