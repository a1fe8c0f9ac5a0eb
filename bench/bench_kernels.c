/*
 * bench_kernels — throughput and peak memory of teeud's kernels on large
 * in-memory float64 arrays (no file I/O).
 *
 *   bench_kernels [MiB per input, default 256]
 *
 * Two inputs of that size are made, then each kernel runs once; it prints
 * the time, throughput over the input bytes, and the process's peak RSS
 * (which includes the inputs themselves).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <teeu/ndarray.h>

#include "kernels.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

typedef struct bench_run {
    const char *descriptor;
    int inputs;
    int weights; /* second input is a 1-D strided weights view along axis 0 */
} bench_run;

static const bench_run runs[] = {
    {"sum@1{}", 1, 0},
    {"mean@1{\"axis\":0}", 1, 0},
    {"var@1{\"axis\":1}", 1, 0},
    {"max@1{}", 1, 0},
    {"average@1{\"axis\":1}", 2, 0},
    {"average@1{\"axis\":0,\"weights\":true}", 2, 1},
    {"add@1{}", 2, 0},
};

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 256;
    if (mib == 0 || mib > 65536) {
        fprintf(stderr, "usage: bench_kernels [MiB per input, 1..65536]\n");
        return 1;
    }
    size_t cols = 1024;
    size_t rows = mib * 1024 * 1024 / sizeof(double) / cols;
    size_t n = rows * cols;
    double *a = malloc(n * sizeof(double)), *b = malloc(n * sizeof(double));
    if (a == NULL || b == NULL) {
        fprintf(stderr, "out of memory for two %zu MiB inputs\n", mib);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        a[i] = (double)(i % 1000) * 0.001;
        b[i] = (double)(i % 777) * 0.002 + 1.0;
    }
    size_t shape[2] = {rows, cols};
    teeu_ndarray *va = NULL, *vb = NULL, *w = NULL;
    teeu_ndarray_desc d;
    teeu_ndarray_desc_init(&d, TEEU_DTYPE_FLOAT64);
    ptrdiff_t wstride = (ptrdiff_t)(cols * sizeof(double));
    d.ndim = 1;
    d.shape = &rows;
    d.strides = &wstride;
    if (teeu_ndarray_view(TEEU_DTYPE_FLOAT64, 2, shape, a, n * sizeof(double), &va) != TEEU_OK ||
        teeu_ndarray_view(TEEU_DTYPE_FLOAT64, 2, shape, b, n * sizeof(double), &vb) != TEEU_OK ||
        teeu_ndarray_view_desc(&d, b, n * sizeof(double), &w) != TEEU_OK) {
        fprintf(stderr, "view failed: %s\n", teeu_last_error());
        return 1;
    }
    printf("inputs: 2 x float64 (%zu, %zu) = 2 x %zu MiB; peak RSS before kernels %ld MiB\n", rows, cols, mib,
           peak_rss_kib() / 1024);
    int rc = 0;
    for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]) && rc == 0; i++) {
        const teeu_ndarray *in[2] = {va, runs[i].weights ? w : vb};
        tu_kernel_fn *fn = NULL;
        teeu_ndarray *out = NULL;
        double t0 = now();
        teeu_status st = tu_kernel_find(runs[i].descriptor, &fn);
        if (st == TEEU_OK)
            st = tu_kernel_run(fn, in, (size_t)runs[i].inputs, &out);
        double dt = now() - t0;
        if (st != TEEU_OK) {
            fprintf(stderr, "%s failed: %s\n", runs[i].descriptor, teeu_last_error());
            rc = 1;
        } else {
            double bytes = (double)n * sizeof(double) * (runs[i].inputs == 2 && !runs[i].weights ? 2 : 1);
            printf("%-40s %7.3f s  %7.0f MiB/s  peak RSS %ld MiB\n", runs[i].descriptor, dt,
                   bytes / dt / (1024.0 * 1024.0), peak_rss_kib() / 1024);
        }
        teeu_ndarray_free(out);
        tu_kernel_fn_free(fn);
    }
    teeu_ndarray_free(w);
    teeu_ndarray_free(va);
    teeu_ndarray_free(vb);
    free(a);
    free(b);
    return rc;
}
