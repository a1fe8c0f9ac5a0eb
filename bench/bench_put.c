/*
 * bench_put — latency of teeu_put for a small (4x3 float64) array from C,
 * the reference bench/bench_python_put.py compares the Python bindings with.
 *
 *   bench_put CONFIG.json [puts] [warmup]     (defaults: 200 puts, 20 warm-up)
 *   bench_put CONFIG.json --serve [warmup]
 *
 * CONFIG.json is a client config file (teeu_client_new_from_file) for
 * running teeu-authmanager and teeud. The warm-up puts pay the once per
 * client costs (AuthManager key, key registration, TEEU attestation); the
 * timed puts each encrypt the array, register it with the AuthManager and
 * stream it to the TEEU, exactly as a Python put does. Prints one JSON
 * line: {"puts": N, "mean_us": ..., "p50_us": ..., "p90_us": ..., "min_us": ...}.
 *
 * With --serve the client stays up after its warm-up and reads batch sizes
 * from stdin, one per line; for each it runs that many timed puts and
 * prints one line with every latency in microseconds ("lat_us": [...]).
 * bench_python_put.py uses it to interleave C and Python batches against
 * the same warm services, so drift on a shared machine hits both sides.
 *
 * Compiled with -DBENCH_PUT_LIBRARY -shared it is instead a library
 * exporting bench_put_batch() (below), with no main.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <teeu/teeu.h>

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

/* One put of arr allowing f; the object is freed at once (the TEEU keeps it). */
static teeu_status put_once(teeu_client *c, const teeu_ndarray *arr, const teeu_func *f)
{
    teeu_object *obj = NULL;
    const teeu_func *funcs[1] = {f};
    teeu_status st = teeu_put(c, arr, funcs, 1, &obj);
    teeu_object_free(obj);
    return st;
}

/*
 * n timed puts on an existing client; latencies (microseconds) into lat_us.
 * Built into a shared library (-DBENCH_PUT_LIBRARY) it lets
 * bench_python_put.py run the C loop and the Python loop on the SAME
 * teeu_client in one process, so both share one connection and one
 * warm-up and differ only by the bindings.
 */
#ifdef BENCH_PUT_LIBRARY
__attribute__((visibility("default"))) int bench_put_batch(teeu_client *client, long n, double *lat_us);
#endif
int bench_put_batch(teeu_client *client, long n, double *lat_us)
{
    static const double values[12] = {0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.25, 2.5, 2.75};
    size_t shape[2] = {4, 3};
    teeu_func *f = NULL;
    teeu_ndarray *arr = NULL;
    teeu_status st = teeu_func_new("average", "{\"axis\":1}", &f);
    if (st == TEEU_OK)
        st = teeu_ndarray_view(TEEU_DTYPE_FLOAT64, 2, shape, values, sizeof values, &arr);
    for (long i = 0; st == TEEU_OK && i < n; i++) {
        double t0 = now_us();
        st = put_once(client, arr, f);
        lat_us[i] = now_us() - t0;
    }
    teeu_ndarray_free(arr);
    teeu_func_free(f);
    return (int)st;
}

#ifndef BENCH_PUT_LIBRARY
static int die(const char *what, teeu_status st)
{
    fprintf(stderr, "bench_put: %s: %s: %s\n", what, teeu_status_str(st), teeu_last_error());
    return 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* --serve: timed batches on request; returns 0 at end of input. */
static int serve(teeu_client *client, const teeu_ndarray *arr, const teeu_func *f)
{
    char line[64];
    while (fgets(line, sizeof line, stdin) != NULL) {
        long n = strtol(line, NULL, 10);
        if (n <= 0 || n > 100000) {
            fprintf(stderr, "bench_put: batch size must be 1..100000, got \"%s\"\n", line);
            return 2;
        }
        printf("{\"lat_us\": [");
        for (long i = 0; i < n; i++) {
            double t0 = now_us();
            teeu_status st = put_once(client, arr, f);
            double dt = now_us() - t0;
            if (st != TEEU_OK)
                return die("put", st);
            printf("%s%.1f", i ? ", " : "", dt);
        }
        printf("]}\n");
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: bench_put CONFIG.json [puts] [warmup]\n       bench_put CONFIG.json --serve [warmup]\n");
        return 2;
    }
    int serving = argc > 2 && strcmp(argv[2], "--serve") == 0;
    long puts = argc > 2 && !serving ? strtol(argv[2], NULL, 10) : 200;
    long warmup = argc > 3 ? strtol(argv[3], NULL, 10) : 20;
    if (puts <= 0 || puts > 1000000 || warmup < 0 || warmup > 1000000) {
        fprintf(stderr, "bench_put: puts must be 1..1000000 and warmup 0..1000000\n");
        return 2;
    }
    double values[12];
    for (int i = 0; i < 12; i++)
        values[i] = (double)i * 0.25;
    size_t shape[2] = {4, 3};

    teeu_client *client = NULL;
    teeu_func *f = NULL;
    teeu_ndarray *arr = NULL;
    double *lat = calloc((size_t)puts, sizeof *lat);
    int rc = 1;
    teeu_status st;
    if (lat == NULL) {
        rc = die("allocating the latency table", TEEU_ERR_NOMEM);
        goto out;
    }
    if ((st = teeu_client_new_from_file(argv[1], &client)) != TEEU_OK) {
        rc = die("client", st);
        goto out;
    }
    if ((st = teeu_func_new("average", "{\"axis\":1}", &f)) != TEEU_OK) {
        rc = die("function", st);
        goto out;
    }
    if ((st = teeu_ndarray_view(TEEU_DTYPE_FLOAT64, 2, shape, values, sizeof values, &arr)) != TEEU_OK) {
        rc = die("array view", st);
        goto out;
    }
    for (long i = 0; i < warmup; i++) {
        if ((st = put_once(client, arr, f)) != TEEU_OK) {
            rc = die("warm-up put", st);
            goto out;
        }
    }
    if (serving) {
        rc = serve(client, arr, f);
        goto out;
    }
    double total = 0;
    for (long i = 0; i < puts; i++) {
        double t0 = now_us();
        st = put_once(client, arr, f);
        lat[i] = now_us() - t0;
        if (st != TEEU_OK) {
            rc = die("put", st);
            goto out;
        }
        total += lat[i];
    }
    qsort(lat, (size_t)puts, sizeof *lat, cmp_double);
    printf("{\"puts\": %ld, \"mean_us\": %.1f, \"p50_us\": %.1f, \"p90_us\": %.1f, \"min_us\": %.1f}\n", puts,
           total / (double)puts, lat[puts / 2], lat[(puts * 9) / 10], lat[0]);
    rc = 0;
out:
    teeu_ndarray_free(arr);
    teeu_func_free(f);
    teeu_client_free(client);
    free(lat);
    return rc;
}
#endif /* BENCH_PUT_LIBRARY */
