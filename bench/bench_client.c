/*
 * bench_client — libteeu's client API under measurement (bench/run.sh runs
 * it; each invocation is its own process so its peak RSS is the client's).
 *
 *   bench_client OPTIONS put SIZE_BYTES random|compressible|mixed ZSTD_LEVEL REPS
 *   bench_client OPTIONS latency PUT_ITERS CALL_ITERS WARMUP
 *   bench_client OPTIONS seed REPS
 *
 * OPTIONS: --am HOST:PORT --teeu HOST:PORT --key PARTY.pem [--key2 BOB.pem]
 *          [--am-mrenclave HEX] [--teeu-mrenclave HEX] [--sim-root FILE]
 *          [--segment-size BYTES]   (teeu_config.segment_size; default the client's)
 *          [--presign N]            (teeu_config.presign; default the library's)
 *          [--pause-ms N]           (latency: N ms idle before each timed put; default 0)
 *
 * put:     a float64 array of SIZE_BYTES (1-D), uniform random, uniform
 *          random rounded to multiples of 2^-36 (mixed: zstd level 1 keeps
 *          ~77% of it, so the compressed stream is large) or a short
 *          repeating pattern; one warm-up put of a 12-element array (the
 *          client's one-time handshakes), then REPS timed teeu_put calls;
 *          deletes each object after its put (teeu_delete, not timed), and
 *          prints the client's CPU time (user + system) of each put.
 * latency: a 4x3 array; WARMUP then PUT_ITERS timed teeu_put calls (and
 *          the client's cost counters per put), back to back or, with
 *          --pause-ms, each after N ms of idleness (a client that puts now
 *          and then, whose presign thread refills meanwhile); then CALL_ITERS (may be 0) timed
 *          teeu_call of average@1{"axis":1} over [an object, a base object]
 *          each followed by a timed teeu_reveal of its result (checked).
 * seed:    the seed's two-party aggregation, timed end to end from creating
 *          both parties' clients to both reveals (checked against the
 *          average computed here), REPS times with fresh clients.
 *
 * Prints one JSON object on stdout; times in seconds; peak RSS (getrusage
 * ru_maxrss, which is /proc/self/status VmHWM) in KiB.
 */
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <teeu/teeu.h>

#define SEED_FUNC_NAME "average"
#define SEED_FUNC_PARAMS "{\"axis\": 1}"

typedef struct bench_opts {
    const char *am;
    const char *teeu;
    const char *key;
    const char *key2;
    const char *am_mr;
    const char *teeu_mr;
    const char *sim_root;
    size_t segment_size; /* 0 = the client's default */
    int presign;         /* -1 = the library's default */
    long pause_ms;       /* latency: idle before each timed put */
} bench_opts;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long peak_rss_kib(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ru.ru_maxrss;
}

/* User + system CPU seconds of this process so far. */
static double cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0.0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec * 1e-6;
}

static int fail(const char *what, teeu_status st)
{
    fprintf(stderr, "bench_client: %s failed: %s: %s\n", what, teeu_status_str(st), teeu_last_error());
    return 1;
}

static void print_times(const char *name, const double *t, size_t n)
{
    printf("\"%s\": [", name);
    for (size_t i = 0; i < n; i++)
        printf("%s%.9f", i ? ", " : "", t[i]);
    printf("]");
}

static teeu_status make_client(const bench_opts *o, const char *key_file, int zstd_level, teeu_client **out)
{
    teeu_config cfg;
    teeu_config_init(&cfg);
    cfg.auth_manager.address = o->am;
    cfg.auth_manager.mr_enclave = o->am_mr;
    cfg.teeu.address = o->teeu;
    cfg.teeu.mr_enclave = o->teeu_mr;
    cfg.private_key_file = key_file;
    cfg.tee_simulation = 1;
    cfg.sim_root_file = o->sim_root;
    cfg.timeout_ms = 600000;
    cfg.zstd_level = zstd_level;
    cfg.segment_size = o->segment_size;
    if (o->presign >= 0)
        cfg.presign = o->presign;
    return teeu_client_new(&cfg, out);
}

/* Deterministic fill: xorshift64* doubles in [0, 1) (random 1, or 2 = rounded to 2^-36), or a 64-value pattern. */
static void fill(double *v, size_t n, int random)
{
    uint64_t x = 0x9E3779B97F4A7C15u;
    for (size_t i = 0; i < n; i++) {
        if (random) {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            v[i] = (double)((x * 0x2545F4914F6CDD1Du) >> 11) * 0x1.0p-53;
            if (random == 2)
                v[i] = (double)(uint64_t)(v[i] * 0x1.0p36) * 0x1.0p-36; /* >= 0: truncation is floor */
        } else {
            v[i] = (double)(i % 64);
        }
    }
}

static int cmd_put(const bench_opts *o, int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_client OPTIONS put SIZE_BYTES random|compressible|mixed ZSTD_LEVEL REPS\n");
        return 2;
    }
    size_t size = (size_t)strtoull(argv[0], NULL, 10);
    int random = strcmp(argv[1], "random") == 0 ? 1 : strcmp(argv[1], "mixed") == 0 ? 2 : 0;
    int zstd = atoi(argv[2]);
    int reps = atoi(argv[3]);
    if (size < 8 || reps <= 0 || (!random && strcmp(argv[1], "compressible") != 0)) {
        fprintf(stderr, "bench_client put: bad arguments\n");
        return 2;
    }
    size_t n = size / sizeof(double);
    double *data = malloc(n * sizeof(double));
    double *times = calloc((size_t)reps, sizeof(double)), *cpu = calloc((size_t)reps, sizeof(double));
    teeu_client *client = NULL;
    teeu_func *func = NULL;
    teeu_ndarray *arr = NULL, *small = NULL;
    int rc = 1;
    if (data == NULL || times == NULL || cpu == NULL) {
        fprintf(stderr, "bench_client: out of memory for %zu bytes\n", size);
        goto out;
    }
    fill(data, n, random);
    teeu_status st = make_client(o, o->key, zstd, &client);
    if (st != TEEU_OK) {
        rc = fail("teeu_client_new", st);
        goto out;
    }
    size_t shape = n, small_shape = 12;
    if ((st = teeu_func_new(SEED_FUNC_NAME, SEED_FUNC_PARAMS, &func)) != TEEU_OK ||
        (st = teeu_ndarray_view(TEEU_DTYPE_FLOAT64, 1, &shape, data, n * sizeof(double), &arr)) != TEEU_OK ||
        (st = teeu_ndarray_view(TEEU_DTYPE_FLOAT64, 1, &small_shape, data, 12 * sizeof(double), &small)) != TEEU_OK) {
        rc = fail("setup", st);
        goto out;
    }
    const teeu_func *funcs[1] = {func};
    teeu_object *obj = NULL;
    if ((st = teeu_put(client, small, funcs, 1, &obj)) != TEEU_OK) {
        rc = fail("warm-up teeu_put", st);
        goto out;
    }
    st = teeu_delete(client, obj);
    teeu_object_free(obj);
    if (st != TEEU_OK) {
        rc = fail("teeu_delete", st);
        goto out;
    }
    long rss_before = peak_rss_kib();
    for (int r = 0; r < reps; r++) {
        obj = NULL;
        double c0 = cpu_seconds(), t0 = now();
        st = teeu_put(client, arr, funcs, 1, &obj);
        times[r] = now() - t0;
        cpu[r] = cpu_seconds() - c0;
        if (st != TEEU_OK) {
            rc = fail("teeu_put", st);
            goto out;
        }
        /* Not timed: each object is deleted after its put, as the Python path does, so the TEEU's store stays small. */
        st = teeu_delete(client, obj);
        teeu_object_free(obj);
        if (st != TEEU_OK) {
            rc = fail("teeu_delete", st);
            goto out;
        }
    }
    printf("{\"bench\": \"client_put\", \"size\": %zu, \"data\": \"%s\", \"zstd\": %d, ", n * sizeof(double),
           random == 1 ? "random" : random == 2 ? "mixed" : "compressible", zstd);
    print_times("times", times, (size_t)reps);
    printf(", ");
    print_times("cpu_times", cpu, (size_t)reps);
    printf(", \"rss_before_kib\": %ld, \"maxrss_kib\": %ld}\n", rss_before, peak_rss_kib());
    rc = 0;
out:
    teeu_ndarray_free(small);
    teeu_ndarray_free(arr);
    teeu_func_free(func);
    teeu_client_free(client);
    free(cpu);
    free(times);
    free(data);
    return rc;
}

/* average over axis 1 of the stack [x, y] of two (rows, cols) arrays: (2, cols). */
static int check_average(const teeu_ndarray *got, const double *x, const double *y, size_t rows, size_t cols)
{
    if (teeu_ndarray_dtype(got) != TEEU_DTYPE_FLOAT64 || teeu_ndarray_ndim(got) != 2 ||
        teeu_ndarray_shape(got)[0] != 2 || teeu_ndarray_shape(got)[1] != cols ||
        !teeu_ndarray_is_c_contiguous(got)) {
        fprintf(stderr, "bench_client: revealed array has the wrong dtype or shape\n");
        return 1;
    }
    const double *g = teeu_ndarray_data(got);
    for (size_t k = 0; k < 2; k++) {
        const double *src = k == 0 ? x : y;
        for (size_t c = 0; c < cols; c++) {
            double s = 0.0;
            for (size_t r = 0; r < rows; r++)
                s += src[r * cols + c];
            double want = s / (double)rows;
            if (fabs(g[k * cols + c] - want) > 1e-12 * (1.0 + fabs(want))) {
                fprintf(stderr, "bench_client: revealed [%zu][%zu] = %.17g, expected %.17g\n", k, c,
                        g[k * cols + c], want);
                return 1;
            }
        }
    }
    return 0;
}

/* One timed teeu_put of the 4x3 array. */
static int timed_put(teeu_client *client, const teeu_func *func, const teeu_ndarray *arr, double *t,
                     teeu_object **out)
{
    const teeu_func *funcs[1] = {func};
    teeu_object *obj = NULL;
    double t0 = now();
    teeu_status st = teeu_put(client, arr, funcs, 1, &obj);
    *t = now() - t0;
    if (st != TEEU_OK)
        return fail("teeu_put", st);
    if (out != NULL)
        *out = obj;
    else
        teeu_object_free(obj);
    return 0;
}

/* One timed teeu_call over [obj, base] and one timed teeu_reveal of its result (checked). */
static int timed_call_reveal(teeu_client *client, const teeu_func *func, const teeu_object *obj, const double *x,
                             const teeu_object *base, const double *base_data, double *t_call, double *t_reveal)
{
    teeu_object *result = NULL;
    teeu_ndarray *got = NULL;
    const teeu_object *objs[2] = {obj, base};
    int rc = 1;
    double t0 = now();
    teeu_status st = teeu_call(client, func, objs, 2, &result);
    double t1 = now();
    if (st != TEEU_OK) {
        rc = fail("teeu_call", st);
        goto out;
    }
    st = teeu_reveal(client, result, &got);
    double t2 = now();
    if (st != TEEU_OK) {
        rc = fail("teeu_reveal", st);
        goto out;
    }
    *t_call = t1 - t0;
    *t_reveal = t2 - t1;
    rc = check_average(got, x, base_data, 4, 3);
out:
    teeu_ndarray_free(got);
    teeu_object_free(result);
    return rc;
}

static int cmd_latency(const bench_opts *o, int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench_client OPTIONS latency PUT_ITERS CALL_ITERS WARMUP\n");
        return 2;
    }
    int put_iters = atoi(argv[0]), call_iters = atoi(argv[1]), warmup = atoi(argv[2]);
    if (put_iters <= 0 || call_iters < 0 || warmup < 0) {
        fprintf(stderr, "bench_client latency: bad arguments\n");
        return 2;
    }
    int call_warmup = call_iters == 0 ? 0 : warmup < 3 ? warmup : 3;
    double *put = calloc((size_t)put_iters, sizeof(double)), *call = calloc((size_t)call_iters + 1, sizeof(double)),
           *reveal = calloc((size_t)call_iters + 1, sizeof(double));
    double x[12], base_data[12], scratch[2];
    for (int i = 0; i < 12; i++) {
        x[i] = (double)i;
        base_data[i] = 0.5 * (double)i + 1.0;
    }
    size_t shape[2] = {4, 3};
    teeu_client *client = NULL;
    teeu_func *func = NULL;
    teeu_ndarray *arr = NULL, *base_arr = NULL;
    teeu_object *base = NULL, *obj = NULL;
    teeu_client_stats s0, s1;
    int rc = 1;
    if (put == NULL || call == NULL || reveal == NULL) {
        fprintf(stderr, "bench_client: out of memory\n");
        goto out;
    }
    teeu_status st;
    if ((st = make_client(o, o->key, 0, &client)) != TEEU_OK ||
        (st = teeu_func_new(SEED_FUNC_NAME, SEED_FUNC_PARAMS, &func)) != TEEU_OK ||
        (st = teeu_ndarray_view(TEEU_DTYPE_FLOAT64, 2, shape, x, sizeof(x), &arr)) != TEEU_OK ||
        (st = teeu_ndarray_view(TEEU_DTYPE_FLOAT64, 2, shape, base_data, sizeof(base_data), &base_arr)) !=
            TEEU_OK) {
        rc = fail("setup", st);
        goto out;
    }
    if (timed_put(client, func, base_arr, scratch, &base) != 0 || timed_put(client, func, arr, scratch, &obj) != 0)
        goto out;
    /* Puts: warm-up, then the timed iterations (cost counters around them). */
    for (int i = 0; i < warmup; i++)
        if (timed_put(client, func, arr, scratch, NULL) != 0)
            goto out;
    if ((st = teeu_client_get_stats(client, &s0)) != TEEU_OK) {
        rc = fail("teeu_client_get_stats", st);
        goto out;
    }
    struct timespec pause = {.tv_sec = o->pause_ms / 1000, .tv_nsec = (o->pause_ms % 1000) * 1000000L};
    for (int i = 0; i < put_iters; i++) {
        if (o->pause_ms > 0)
            nanosleep(&pause, NULL);
        if (timed_put(client, func, arr, &put[i], NULL) != 0)
            goto out;
    }
    if ((st = teeu_client_get_stats(client, &s1)) != TEEU_OK) {
        rc = fail("teeu_client_get_stats", st);
        goto out;
    }
    /* Calls and reveals over [obj, base]. */
    for (int i = 0; i < call_warmup; i++)
        if (timed_call_reveal(client, func, obj, x, base, base_data, &scratch[0], &scratch[1]) != 0)
            goto out;
    for (int i = 0; i < call_iters; i++)
        if (timed_call_reveal(client, func, obj, x, base, base_data, &call[i], &reveal[i]) != 0)
            goto out;
    printf("{\"bench\": \"client_latency\", \"put_iters\": %d, \"call_iters\": %d, \"warmup\": %d, "
           "\"pause_ms\": %ld, ",
           put_iters, call_iters, warmup, o->pause_ms);
    print_times("put_times", put, (size_t)put_iters);
    printf(", ");
    print_times("call_times", call, (size_t)call_iters);
    printf(", ");
    print_times("reveal_times", reveal, (size_t)call_iters);
    double n = (double)put_iters;
    printf(", \"per_put\": {\"rpc_calls\": %.2f, \"am_calls\": %.2f, \"teeu_calls\": %.2f, \"rsa_private_ops\": %.2f, "
           "\"rsa_private_ops_precomputed\": %.2f, \"presigned\": %.2f, \"presigned_auth\": %.2f}",
           (double)(s1.rpc_calls - s0.rpc_calls) / n, (double)(s1.am_calls - s0.am_calls) / n,
           (double)(s1.teeu_calls - s0.teeu_calls) / n, (double)(s1.rsa_private_ops - s0.rsa_private_ops) / n,
           (double)(s1.rsa_private_ops_precomputed - s0.rsa_private_ops_precomputed) / n,
           (double)(s1.puts_presigned - s0.puts_presigned) / n,
           (double)(s1.puts_presigned_auth - s0.puts_presigned_auth) / n);
    printf(", \"maxrss_kib\": %ld}\n", peak_rss_kib());
    rc = 0;
out:
    teeu_object_free(obj);
    teeu_object_free(base);
    teeu_ndarray_free(base_arr);
    teeu_ndarray_free(arr);
    teeu_func_free(func);
    teeu_client_free(client);
    free(put);
    free(call);
    free(reveal);
    return rc;
}

/* The seed: Alice and Bob each put a 2x4 array, Alice runs average([a, b], axis=1), both reveal. */
static int seed_once(const bench_opts *o, const teeu_func *func, const double *a, const double *b, double *elapsed)
{
    size_t shape[2] = {2, 4};
    teeu_client *alice = NULL, *bob = NULL;
    teeu_ndarray *va = NULL, *vb = NULL, *ra = NULL, *rb = NULL;
    teeu_object *oa = NULL, *ob = NULL, *ob_at_alice = NULL, *result = NULL, *result_at_bob = NULL;
    const teeu_func *funcs[1] = {func};
    int rc = 1;
    teeu_status st;
    double t0 = now();
    if ((st = make_client(o, o->key, 0, &alice)) != TEEU_OK || (st = make_client(o, o->key2, 0, &bob)) != TEEU_OK) {
        rc = fail("teeu_client_new", st);
        goto out;
    }
    if ((st = teeu_ndarray_view(TEEU_DTYPE_FLOAT64, 2, shape, a, 8 * sizeof(double), &va)) != TEEU_OK ||
        (st = teeu_ndarray_view(TEEU_DTYPE_FLOAT64, 2, shape, b, 8 * sizeof(double), &vb)) != TEEU_OK) {
        rc = fail("teeu_ndarray_view", st);
        goto out;
    }
    if ((st = teeu_put(alice, va, funcs, 1, &oa)) != TEEU_OK || (st = teeu_put(bob, vb, funcs, 1, &ob)) != TEEU_OK) {
        rc = fail("teeu_put", st);
        goto out;
    }
    /* Handles travel out of band between the parties. */
    if ((st = teeu_object_from_string(teeu_object_handle(ob), &ob_at_alice)) != TEEU_OK) {
        rc = fail("teeu_object_from_string", st);
        goto out;
    }
    const teeu_object *objs[2] = {oa, ob_at_alice};
    if ((st = teeu_call(alice, func, objs, 2, &result)) != TEEU_OK) {
        rc = fail("teeu_call", st);
        goto out;
    }
    if ((st = teeu_object_from_string(teeu_object_handle(result), &result_at_bob)) != TEEU_OK) {
        rc = fail("teeu_object_from_string", st);
        goto out;
    }
    if ((st = teeu_reveal(alice, result, &ra)) != TEEU_OK || (st = teeu_reveal(bob, result_at_bob, &rb)) != TEEU_OK) {
        rc = fail("teeu_reveal", st);
        goto out;
    }
    *elapsed = now() - t0;
    rc = check_average(ra, a, b, 2, 4) || check_average(rb, a, b, 2, 4);
out:
    teeu_ndarray_free(ra);
    teeu_ndarray_free(rb);
    teeu_object_free(result_at_bob);
    teeu_object_free(result);
    teeu_object_free(ob_at_alice);
    teeu_object_free(ob);
    teeu_object_free(oa);
    teeu_ndarray_free(va);
    teeu_ndarray_free(vb);
    teeu_client_free(bob);
    teeu_client_free(alice);
    return rc;
}

static int cmd_seed(const bench_opts *o, int argc, char **argv)
{
    if (argc != 1 || o->key2 == NULL) {
        fprintf(stderr, "usage: bench_client OPTIONS --key2 BOB.pem seed REPS\n");
        return 2;
    }
    int reps = atoi(argv[0]);
    if (reps <= 0 || reps > 1000) {
        fprintf(stderr, "bench_client seed: REPS must be 1..1000\n");
        return 2;
    }
    double *times = calloc((size_t)reps, sizeof(double));
    double a[8], b[8];
    fill(a, 8, 1);
    for (int i = 0; i < 8; i++)
        b[i] = 10.0 * a[7 - i] - 3.0;
    teeu_func *func = NULL;
    int rc = 1;
    teeu_status st;
    if (times == NULL) {
        fprintf(stderr, "bench_client: out of memory\n");
        goto out;
    }
    if ((st = teeu_func_new(SEED_FUNC_NAME, SEED_FUNC_PARAMS, &func)) != TEEU_OK) {
        rc = fail("teeu_func_new", st);
        goto out;
    }
    for (int r = 0; r < reps; r++)
        if (seed_once(o, func, a, b, &times[r]) != 0)
            goto out;
    printf("{\"bench\": \"client_seed\", \"reps\": %d, ", reps);
    print_times("times", times, (size_t)reps);
    printf(", \"maxrss_kib\": %ld}\n", peak_rss_kib());
    rc = 0;
out:
    teeu_func_free(func);
    free(times);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"am", required_argument, NULL, 'a'},       {"teeu", required_argument, NULL, 't'},
        {"key", required_argument, NULL, 'k'},      {"key2", required_argument, NULL, 'K'},
        {"am-mrenclave", required_argument, NULL, 'm'}, {"teeu-mrenclave", required_argument, NULL, 'M'},
        {"sim-root", required_argument, NULL, 'r'}, {"segment-size", required_argument, NULL, 's'},
        {"presign", required_argument, NULL, 'p'},  {"pause-ms", required_argument, NULL, 'P'},
        {NULL, 0, NULL, 0},
    };
    bench_opts o = {.presign = -1};
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'a': o.am = optarg; break;
        case 't': o.teeu = optarg; break;
        case 'k': o.key = optarg; break;
        case 'K': o.key2 = optarg; break;
        case 'm': o.am_mr = optarg; break;
        case 'M': o.teeu_mr = optarg; break;
        case 'r': o.sim_root = optarg; break;
        case 's': o.segment_size = (size_t)strtoull(optarg, NULL, 10); break;
        case 'p': o.presign = atoi(optarg); break;
        case 'P': o.pause_ms = atol(optarg); break;
        default: return 2;
        }
    }
    if (o.am == NULL || o.teeu == NULL || o.key == NULL || optind >= argc || o.pause_ms < 0) {
        fprintf(stderr, "usage: bench_client --am HOST:PORT --teeu HOST:PORT --key PEM [--key2 PEM]\n"
                        "       [--am-mrenclave HEX] [--teeu-mrenclave HEX] [--sim-root FILE] [--segment-size BYTES]\n"
                        "       [--presign N] [--pause-ms N]\n"
                        "       put SIZE random|compressible|mixed ZSTD REPS | latency PUT_ITERS CALL_ITERS WARMUP | seed REPS\n");
        return 2;
    }
    teeu_set_log_handler(teeu_log_to_stderr, NULL, TEEU_LOG_ERROR);
    const char *cmd = argv[optind];
    int rest = argc - optind - 1;
    char **args = argv + optind + 1;
    if (strcmp(cmd, "put") == 0)
        return cmd_put(&o, rest, args);
    if (strcmp(cmd, "latency") == 0)
        return cmd_latency(&o, rest, args);
    if (strcmp(cmd, "seed") == 0)
        return cmd_seed(&o, rest, args);
    fprintf(stderr, "bench_client: unknown command %s\n", cmd);
    return 2;
}
