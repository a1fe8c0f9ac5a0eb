/*
 * teeud attestation backends (docs/teeud.md "Attestation backends").
 *
 *   sim      quotes signed through the simulation attestation authority
 *            (lib/attest/sim.c) with MRENCLAVE = SHA-256 of this binary;
 *            the report carries the authority's collateral ("Passport").
 *   gramine  inside a Gramine SGX enclave: write the 64 report-data bytes
 *            to /dev/attestation/user_report_data, read the DCAP quote from
 *            /dev/attestation/quote. No collateral is attached
 *            ("BackgroundCheck"): the verifier fetches it from its PCCS.
 *   none     no reports (simulation without an authority).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "attest/attest_internal.h"
#include "crypto/crypto_internal.h"
#include "teeud_internal.h"

#define GRAMINE_DIR "/dev/attestation"
#define MAX_SELF_BYTES ((size_t)512 << 20)

typedef enum { BACKEND_NONE, BACKEND_SIM, BACKEND_GRAMINE } backend_kind;

struct td_attester {
    backend_kind kind;
    tu_sim_authority *sim;
    uint8_t mr_enclave[32];
};

teeu_status td_self_measurement(uint8_t out[32])
{
    uint8_t *data = NULL;
    size_t len = 0;
    teeu_status st = tu_read_file("/proc/self/exe", MAX_SELF_BYTES, &data, &len);
    if (st != TEEU_OK)
        return tu_error_context(st, "measuring this binary (/proc/self/exe)");
    tu_bytes part = TU_BYTES(data, len);
    st = tu_sha256(&part, 1, out);
    free(data);
    return st;
}

teeu_status td_attester_open(const char *name, const char *sim_dir, const uint8_t mr_enclave[32],
                             td_attester **out)
{
    *out = NULL;
    td_attester *a = calloc(1, sizeof *a);
    if (a == NULL)
        return tu_error(TEEU_ERR_NOMEM, "attestation backend");
    memcpy(a->mr_enclave, mr_enclave, 32);
    teeu_status st = TEEU_OK;
    if (strcmp(name, "none") == 0) {
        a->kind = BACKEND_NONE;
    } else if (strcmp(name, "sim") == 0) {
        a->kind = BACKEND_SIM;
        if (sim_dir == NULL)
            st = tu_error(TEEU_ERR_CONFIG, "the sim attestation backend needs --sim-authority DIR");
        else
            st = tu_sim_authority_open(sim_dir, &a->sim);
    } else if (strcmp(name, "gramine") == 0) {
        a->kind = BACKEND_GRAMINE;
        if (access(GRAMINE_DIR "/user_report_data", W_OK) != 0 || access(GRAMINE_DIR "/quote", R_OK) != 0)
            st = tu_error(TEEU_ERR_UNSUPPORTED,
                          "the gramine attestation backend needs %s/user_report_data and %s/quote (%s): run "
                          "teeud inside a Gramine SGX enclave with remote attestation enabled "
                          "(sgx.remote_attestation = \"dcap\"), or use --simulation",
                          GRAMINE_DIR, GRAMINE_DIR, strerror(errno));
    } else {
        st = tu_error(TEEU_ERR_CONFIG, "unknown attestation backend '%s' (sim, gramine, none)", name);
    }
    if (st != TEEU_OK) {
        td_attester_free(a);
        return st;
    }
    *out = a;
    return TEEU_OK;
}

void td_attester_free(td_attester *a)
{
    if (a == NULL)
        return;
    tu_sim_authority_free(a->sim);
    free(a);
}

const char *td_attester_name(const td_attester *a)
{
    return a->kind == BACKEND_SIM ? "sim" : a->kind == BACKEND_GRAMINE ? "gramine" : "none";
}

bool td_attester_available(const td_attester *a)
{
    return a->kind != BACKEND_NONE;
}

static teeu_status gramine_quote(const uint8_t rd[64], uint8_t **quote, size_t *len)
{
    int fd = open(GRAMINE_DIR "/user_report_data", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return tu_error(TEEU_ERR_IO, "cannot open %s/user_report_data: %s", GRAMINE_DIR, strerror(errno));
    ssize_t n = write(fd, rd, 64);
    int err = errno;
    close(fd);
    if (n != 64)
        return tu_error(TEEU_ERR_IO, "cannot write the report data to %s/user_report_data: %s", GRAMINE_DIR,
                        n < 0 ? strerror(err) : "short write");
    teeu_status st = tu_read_file(GRAMINE_DIR "/quote", TU_QUOTE_MAX_LEN, quote, len);
    return st == TEEU_OK ? st : tu_error_context(st, "reading the SGX quote from Gramine");
}

teeu_status td_attester_report(td_attester *a, const uint8_t *report_data, size_t report_data_len, tu_buf *out)
{
    if (report_data_len > 64)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "report data longer than 64 bytes");
    uint8_t rd[64] = {0};
    memcpy(rd, report_data, report_data_len);
    uint8_t *quote = NULL;
    size_t quote_len = 0;
    const char *collateral = NULL;
    teeu_status st;
    switch (a->kind) {
    case BACKEND_SIM: {
        tu_sim_quote_params p = {.mr_enclave = a->mr_enclave, .report_data = rd, .report_data_len = 64};
        st = tu_sim_quote(a->sim, &p, &quote, &quote_len);
        collateral = tu_sim_collateral_json(a->sim);
        break;
    }
    case BACKEND_GRAMINE:
        st = gramine_quote(rd, &quote, &quote_len);
        break;
    default:
        return tu_error(TEEU_ERR_UNSUPPORTED, "no attestation backend configured (simulation without --sim-authority)");
    }
    if (st != TEEU_OK)
        return st;
    Secretflowapis__V1__Sdc__UnifiedAttestationReport m;
    st = tu_ua_report_to_pb(quote, quote_len, collateral, &m);
    free(quote);
    if (st != TEEU_OK)
        return st;
    size_t len = secretflowapis__v1__sdc__unified_attestation_report__get_packed_size(&m);
    st = tu_buf_reserve(out, len);
    if (st == TEEU_OK) {
        secretflowapis__v1__sdc__unified_attestation_report__pack(&m, out->data + out->len);
        out->len += len;
    }
    tu_ua_report_pb_clear(&m);
    return st;
}
