/*
 * bench_memcpy — single-thread memcpy bandwidth, the physical reference for
 * "one pass over the data" (bench/run.sh).
 *
 *   bench_memcpy [MiB] [rounds]     (defaults: 256 MiB, 5 rounds)
 *
 * Copies MiB from one buffer to another `rounds` times (both buffers
 * written before timing so page faults are not measured) and prints one
 * JSON line with the best round: bytes copied per second.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    unsigned long mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (mib == 0 || mib > 16384 || rounds <= 0 || rounds > 1000) {
        fprintf(stderr, "usage: bench_memcpy [MiB 1..16384] [rounds 1..1000]\n");
        return 2;
    }
    size_t n = (size_t)mib << 20;
    unsigned char *src = malloc(n), *dst = malloc(n);
    if (src == NULL || dst == NULL) {
        fprintf(stderr, "bench_memcpy: out of memory for 2 x %lu MiB\n", mib);
        free(src);
        free(dst);
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        src[i] = (unsigned char)(i * 131u + 7u);
    memset(dst, 0, n);
    double best = 0.0;
    for (int r = 0; r < rounds; r++) {
        double t0 = now();
        memcpy(dst, src, n);
        double dt = now() - t0;
        /* Touch the copy so the compiler cannot drop it. */
        if (dst[n / 2] != src[n / 2]) {
            fprintf(stderr, "bench_memcpy: copy mismatch\n");
            return 1;
        }
        double bps = (double)n / dt;
        if (bps > best)
            best = bps;
        src[r % n] ^= 1u; /* each round copies different bytes */
    }
    printf("{\"bench\": \"memcpy\", \"bytes\": %zu, \"rounds\": %d, \"bytes_per_s\": %.0f}\n", n, rounds, best);
    free(src);
    free(dst);
    return 0;
}
