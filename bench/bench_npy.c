/*
 * bench_npy — encoding a contiguous array into a caller buffer is one pass
 * over the data: compare teeu_ndarray_encode with a plain memcpy of the
 * same bytes.
 *
 *   bench_npy [MiB] [rounds]     (defaults: 256 MiB of float64, 5 rounds)
 *
 * Both buffers are written once before timing so page faults are not
 * measured; each figure is the best of the rounds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ndarray/ndarray_internal.h"
#include <teeu/ndarray.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int die(const char *what, teeu_status st)
{
    fprintf(stderr, "bench_npy: %s: %s: %s\n", what, teeu_status_str(st), teeu_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (mib == 0 || rounds <= 0) {
        fprintf(stderr, "usage: bench_npy [MiB] [rounds]\n");
        return 2;
    }
    size_t count = (mib << 20) / sizeof(double);
    double *src = malloc(count * sizeof(double));
    if (src == NULL)
        return die("allocating the array", TEEU_ERR_NOMEM);
    for (size_t i = 0; i < count; i++)
        src[i] = (double)i * 0.25;
    size_t shape[2] = {count / 1024, 1024};
    teeu_ndarray *arr = NULL;
    teeu_status st = teeu_ndarray_view(TEEU_DTYPE_FLOAT64, 2, shape, src, count * sizeof(double), &arr);
    if (st != TEEU_OK)
        return die("view", st);
    size_t cap = 0, written = 0;
    if ((st = teeu_ndarray_encoded_size(arr, NULL, &cap)) != TEEU_OK)
        return die("encoded size", st);
    unsigned char *dst = malloc(cap);
    if (dst == NULL)
        return die("allocating the output", TEEU_ERR_NOMEM);
    memset(dst, 1, cap);

    teeu_npy_encode_options swapped;
    teeu_npy_encode_options_init(&swapped);
    swapped.flags = tu_native_byte_order() == TEEU_BYTE_ORDER_LITTLE ? TEEU_NPY_BIG_ENDIAN : TEEU_NPY_LITTLE_ENDIAN;

    double best_memcpy = 1e9, best_encode = 1e9, best_swap = 1e9;
    for (int r = 0; r < rounds; r++) {
        double t0 = now();
        memcpy(dst, src, count * sizeof(double));
        double t1 = now();
        if ((st = teeu_ndarray_encode(arr, NULL, dst, cap, &written)) != TEEU_OK)
            return die("encode", st);
        double t2 = now();
        if ((st = teeu_ndarray_encode(arr, &swapped, dst, cap, &written)) != TEEU_OK)
            return die("encode (byte swap)", st);
        double t3 = now();
        best_memcpy = t1 - t0 < best_memcpy ? t1 - t0 : best_memcpy;
        best_encode = t2 - t1 < best_encode ? t2 - t1 : best_encode;
        best_swap = t3 - t2 < best_swap ? t3 - t2 : best_swap;
    }
    double mb = (double)(count * sizeof(double)) / (1 << 20);
    printf("array: float64, %zu MiB, best of %d rounds\n", mib, rounds);
    printf("memcpy              %8.2f ms  %7.0f MiB/s\n", best_memcpy * 1e3, mb / best_memcpy);
    printf("teeu_ndarray_encode %8.2f ms  %7.0f MiB/s  ratio to memcpy %.3f\n", best_encode * 1e3,
           mb / best_encode, best_encode / best_memcpy);
    printf("encode, byte swap   %8.2f ms  %7.0f MiB/s  ratio to memcpy %.3f\n", best_swap * 1e3, mb / best_swap,
           best_swap / best_memcpy);
    teeu_ndarray_free(arr);
    free(dst);
    free(src);
    return 0;
}
