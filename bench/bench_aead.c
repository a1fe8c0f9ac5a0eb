/*
 * bench_aead — throughput of libteeu's streaming AEAD (AES-256-GCM over
 * fixed-size segments), sealing and opening, on one core.
 *
 *   bench_aead [TOTAL_MIB [SEGMENT_MIB [PASSES]]]   defaults: 1024 MiB in 4 MiB segments, 3 passes
 *
 * Sealing encrypts TOTAL bytes segment by segment from one plaintext buffer
 * into one output buffer (as a sender streaming from a file would). Opening
 * times only tu_stream_open_segment: each segment is first sealed (untimed)
 * so every index has genuine ciphertext, then opened and authenticated.
 * Each pass measures both directions; the best pass per direction is
 * reported (the machine may be shared, so the best pass is the one least
 * disturbed). Throughput is printed in MB/s (10^6 bytes, like `openssl
 * speed`) plus a machine-readable line per direction:
 * "bench_aead <seal|open> <bytes/s>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "crypto/crypto_internal.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int die(const char *what, teeu_status st)
{
    fprintf(stderr, "bench_aead: %s: %s: %s\n", what, teeu_status_str(st), teeu_last_error());
    return 1;
}

typedef struct bench_ctx {
    uint8_t key[TU_STREAM_KEY_LEN];
    uint8_t *pt, *ct, *back;
    size_t seg;
    uint64_t segments;
} bench_ctx;

static const uint8_t bench_aad[] = "0123456789abcdef0123456789abcdef"; /* a data_uuid */

/* Seals b->segments segments; *secs is the time spent. */
static teeu_status bench_seal(const bench_ctx *b, double *secs)
{
    uint8_t header[TU_STREAM_HEADER_LEN];
    tu_stream *s = NULL;
    teeu_status st = tu_stream_seal_init(b->key, bench_aad, sizeof bench_aad - 1, b->seg, header, &s);
    double t0 = now();
    for (uint64_t i = 0; i < b->segments && st == TEEU_OK; i++)
        st = tu_stream_seal_segment(s, b->pt, b->seg, i + 1 == b->segments, b->ct);
    *secs = now() - t0;
    if (st == TEEU_OK)
        st = tu_stream_finish(s);
    tu_stream_free(s);
    return st;
}

/* Opens b->segments segments, each sealed just before (untimed); *secs is the opening time. */
static teeu_status bench_open(const bench_ctx *b, double *secs)
{
    uint8_t header[TU_STREAM_HEADER_LEN];
    tu_stream *sealer = NULL, *opener = NULL;
    teeu_status st = tu_stream_seal_init(b->key, bench_aad, sizeof bench_aad - 1, b->seg, header, &sealer);
    if (st == TEEU_OK)
        st = tu_stream_open_init(b->key, bench_aad, sizeof bench_aad - 1, header, &opener);
    *secs = 0;
    for (uint64_t i = 0; i < b->segments && st == TEEU_OK; i++) {
        bool final = i + 1 == b->segments;
        st = tu_stream_seal_segment(sealer, b->pt, b->seg, final, b->ct);
        if (st != TEEU_OK)
            break;
        double t1 = now();
        st = tu_stream_open_segment(opener, b->ct, b->seg + TU_GCM_TAG_LEN, final, b->back);
        *secs += now() - t1;
    }
    if (st == TEEU_OK)
        st = tu_stream_finish(opener);
    tu_stream_free(sealer);
    tu_stream_free(opener);
    return st;
}

int main(int argc, char **argv)
{
    unsigned long total_mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
    unsigned long seg_mib = argc > 2 ? strtoul(argv[2], NULL, 10) : 4;
    unsigned long passes = argc > 3 ? strtoul(argv[3], NULL, 10) : 3;
    if (total_mib == 0 || seg_mib == 0 || seg_mib > TU_STREAM_MAX_SEGMENT >> 20 || total_mib < seg_mib ||
        passes == 0 || passes > 100) {
        fprintf(stderr, "usage: bench_aead [TOTAL_MIB [SEGMENT_MIB [PASSES]]] "
                        "(segment 1..64 MiB, total >= segment, passes 1..100)\n");
        return 2;
    }
    bench_ctx b = {.seg = (size_t)seg_mib << 20, .segments = (uint64_t)total_mib / seg_mib};
    b.pt = malloc(b.seg);
    b.ct = malloc(b.seg + TU_GCM_TAG_LEN);
    b.back = malloc(b.seg);
    if (b.pt == NULL || b.ct == NULL || b.back == NULL)
        return die("allocating buffers", TEEU_ERR_NOMEM);
    teeu_status st = tu_random(b.key, sizeof b.key);
    if (st == TEEU_OK)
        st = tu_random(b.pt, b.seg);
    if (st != TEEU_OK)
        return die("random input", st);

    /* Warm-up: fault in the buffers and the AES code paths. */
    bench_ctx warm = b;
    warm.segments = 2;
    double secs, best_seal = 1e30, best_open = 1e30;
    if ((st = bench_seal(&warm, &secs)) != TEEU_OK)
        return die("warm-up", st);
    for (unsigned long p = 0; p < passes; p++) {
        if ((st = bench_seal(&b, &secs)) != TEEU_OK)
            return die("sealing", st);
        best_seal = secs < best_seal ? secs : best_seal;
        if ((st = bench_open(&b, &secs)) != TEEU_OK)
            return die("opening", st);
        best_open = secs < best_open ? secs : best_open;
    }

    double bytes = (double)b.segments * (double)b.seg;
    printf("streaming AES-256-GCM, %llu segments of %lu MiB (%.0f MiB total), one core, best of %lu passes\n",
           (unsigned long long)b.segments, seg_mib, bytes / 1048576.0, passes);
    printf("seal: %9.1f MB/s  (%.3f s)\n", bytes / best_seal / 1e6, best_seal);
    printf("open: %9.1f MB/s  (%.3f s)\n", bytes / best_open / 1e6, best_open);
    printf("bench_aead seal %.0f\n", bytes / best_seal);
    printf("bench_aead open %.0f\n", bytes / best_open);
    free(b.pt);
    free(b.ct);
    free(b.back);
    return 0;
}
