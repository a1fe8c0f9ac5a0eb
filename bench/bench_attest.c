/*
 * bench_attest — CPU time to verify the real DCAP sample once its collateral
 * is parsed (DCAP.md steps 1-10: chains, CRLs, signatures, TCB info and QE
 * identity parsing, level selection, policy).
 *
 *   bench_attest [QUOTE COLLATERAL] [ITERATIONS]
 * Defaults: $TEEU_TESTDATA_DIR/dcap/sgx_quote.bin and sgx_quote_collateral.json, 500.
 * Prints one JSON line: mean and median CPU microseconds per verification.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/attest_internal.h"

static double cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *dir = getenv("TEEU_TESTDATA_DIR");
    char qpath[1024], cpath[1024];
    snprintf(qpath, sizeof qpath, "%s/dcap/sgx_quote.bin", dir != NULL ? dir : "../shared/testdata");
    snprintf(cpath, sizeof cpath, "%s/dcap/sgx_quote_collateral.json",
             dir != NULL ? dir : "../shared/testdata");
    const char *qp = argc >= 3 ? argv[1] : qpath;
    const char *cp = argc >= 3 ? argv[2] : cpath;
    int iters = argc >= 4 ? atoi(argv[3]) : argc == 2 ? atoi(argv[1]) : 500;
    if (iters <= 0)
        iters = 500;
    uint8_t *quote, *coll_json;
    size_t quote_len, coll_len;
    if (tu_read_file(qp, 1 << 20, &quote, &quote_len) != TEEU_OK ||
        tu_read_file(cp, 16 << 20, &coll_json, &coll_len) != TEEU_OK) {
        fprintf(stderr, "bench_attest: %s\n", teeu_last_error());
        return 1;
    }
    teeu_collateral *coll;
    teeu_attest_options o;
    teeu_attest_options_init(&o);
    o.verify_time = 1751328000; /* 2025-07-01T00:00:00Z, inside the sample's window */
    tu_verifier v;
    if (teeu_collateral_parse((const char *)coll_json, coll_len, &coll) != TEEU_OK ||
        tu_verifier_init(&v, &o) != TEEU_OK) {
        fprintf(stderr, "bench_attest: %s\n", teeu_last_error());
        return 1;
    }
    double *t = calloc((size_t)iters, sizeof *t);
    tu_verdict verdict;
    for (int i = 0; i < iters; i++) {
        double t0 = cpu_us();
        teeu_status st = tu_dcap_verify(&v, quote, quote_len, coll, &verdict);
        if (st == TEEU_OK)
            st = tu_policy_check(&verdict, NULL);
        t[i] = cpu_us() - t0;
        if (st != TEEU_OK) {
            fprintf(stderr, "bench_attest: verification failed: %s\n", teeu_last_error());
            return 1;
        }
    }
    double sum = 0;
    for (int i = 0; i < iters; i++)
        sum += t[i];
    qsort(t, (size_t)iters, sizeof *t, cmp_double);
    printf("{\"bench\":\"attest_verify_real_sample\",\"iterations\":%d,\"mean_cpu_us\":%.1f,"
           "\"median_cpu_us\":%.1f,\"p95_cpu_us\":%.1f,\"target_us\":2000}\n",
           iters, sum / iters, t[iters / 2], t[(size_t)iters * 95 / 100]);
    free(t);
    tu_verifier_clear(&v);
    teeu_collateral_free(coll);
    free(quote);
    free(coll_json);
    return 0;
}
