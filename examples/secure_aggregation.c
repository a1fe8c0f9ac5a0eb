/*
 * The seed's secure aggregation with libteeu: Alice and Bob each put a
 * random 4x3 array allowing only average over axis 1, exchange handles (as
 * files), one of them calls average([a, b], axis=1) and reveals it, and the
 * result is compared with the plaintext numpy-semantics average.
 *
 * Each step is a separate process, as each party runs its own program:
 *
 *   secure_aggregation --config alice.json put --out a.handle --save a.npy
 *   secure_aggregation --config bob.json   put --out b.handle --save b.npy
 *   secure_aggregation --config alice.json call --in a.handle --in b.handle --out r.handle
 *   secure_aggregation --config alice.json reveal --in r.handle --expect a.npy --expect b.npy
 *
 * `put --allow NAME --params JSON` chooses the function the owner allows
 * (default average {"axis":1}); allowing another one shows the refusal a
 * call then gets (scripts/demo.sh runs both). --save/--expect exist only so
 * the demo can check the result: in real use nobody holds the others'
 * plaintext. Exit status: 0 ok, 1 error, 2 usage, 3 refused (not authorized).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <teeu/teeu.h>

#define MAX_IN 16

static void log_to_stderr(teeu_log_level level, const char *message, void *user_data)
{
    (void)user_data;
    fprintf(stderr, "[libteeu %s] %s\n", teeu_log_level_str(level), message);
}

static int fail(const char *what, teeu_status st)
{
    fprintf(stderr, "secure_aggregation: %s failed: %s\n  %s\n", what, teeu_status_str(st), teeu_last_error());
    return st == TEEU_ERR_NOT_AUTHORIZED ? 3 : 1;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: secure_aggregation --config FILE [--verbose] COMMAND ...\n"
            "  put    --out HANDLE_FILE [--save NPY] [--seed N] [--allow NAME] [--params JSON]\n"
            "  call   --in HANDLE_FILE... --out HANDLE_FILE\n"
            "  reveal --in HANDLE_FILE [--expect NPY...]\n");
    return 2;
}

static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf != NULL) {
        size_t k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (k == 0)
            break;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf != NULL) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "secure_aggregation: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

/* A 4x3 array of random values in [0, 100) rounded to 2 decimals (splitmix64). */
static void random_array(uint64_t seed, double out[12])
{
    for (int i = 0; i < 12; i++) {
        uint64_t z = (seed += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        out[i] = (double)(z % 10000) / 100.0;
    }
}

static void print_array(const char *name, const teeu_ndarray *arr)
{
    const size_t *shape = teeu_ndarray_shape(arr);
    const double *v = teeu_ndarray_data(arr);
    size_t rows = teeu_ndarray_ndim(arr) == 2 ? shape[0] : 1;
    size_t cols = teeu_ndarray_ndim(arr) == 2 ? shape[1] : teeu_ndarray_size(arr);
    printf("%s =\n", name);
    for (size_t r = 0; r < rows; r++) {
        printf("  [");
        for (size_t c = 0; c < cols; c++)
            printf("%s%10.4f", c ? " " : "", v[r * cols + c]);
        printf("]\n");
    }
}

static int cmd_put(teeu_client *client, int argc, char **argv)
{
    const char *out = NULL, *save = NULL, *allow = "average", *params = "{\"axis\":1}";
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--save") == 0 && i + 1 < argc)
            save = argv[++i];
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--allow") == 0 && i + 1 < argc)
            allow = argv[++i];
        else if (strcmp(argv[i], "--params") == 0 && i + 1 < argc)
            params = argv[++i];
        else
            return usage();
    }
    if (out == NULL)
        return usage();
    double values[12];
    random_array(seed, values);
    const size_t shape[2] = {4, 3};
    teeu_ndarray *arr = NULL;
    teeu_func *fn = NULL;
    teeu_object *obj = NULL;
    int rc = 0;
    /* A view: the library reads `values` in place. */
    teeu_status st = teeu_ndarray_view(TEEU_DTYPE_FLOAT64, 2, shape, values, sizeof values, &arr);
    if (st != TEEU_OK)
        return fail("making the array", st);
    st = teeu_func_new(allow, params, &fn);
    if (st != TEEU_OK) {
        rc = fail("naming the allowed function", st);
        goto done;
    }
    const teeu_func *funcs[] = {fn};
    st = teeu_put(client, arr, funcs, 1, &obj);
    if (st != TEEU_OK) {
        rc = fail("teeu_put", st);
        goto done;
    }
    printf("put a 4x3 float64 array allowing only %s: %s\n", teeu_func_descriptor(fn), teeu_object_handle(obj));
    rc = write_file(out, teeu_object_handle(obj), strlen(teeu_object_handle(obj)));
    if (rc == 0 && save != NULL) {
        uint8_t *npy = NULL;
        size_t npy_len = 0;
        st = teeu_ndarray_encode_alloc(arr, NULL, &npy, &npy_len);
        if (st != TEEU_OK)
            rc = fail("saving the plaintext", st);
        else
            rc = write_file(save, npy, npy_len);
        teeu_free(npy);
    }
done:
    teeu_object_free(obj);
    teeu_func_free(fn);
    teeu_ndarray_free(arr);
    return rc;
}

static int read_handles(int argc, char **argv, teeu_object **objs, size_t *n, const char **out)
{
    *n = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--in") == 0 && i + 1 < argc && *n < MAX_IN) {
            size_t len = 0;
            char *text = read_text(argv[++i], &len);
            if (text == NULL) {
                fprintf(stderr, "secure_aggregation: cannot read handle file %s\n", argv[i]);
                return 1;
            }
            teeu_status st = teeu_object_from_string(text, &objs[(*n)++]);
            free(text);
            if (st != TEEU_OK)
                return fail("reading a handle", st);
        } else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc && out != NULL) {
            *out = argv[++i];
        } else if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc) {
            i++; /* reveal's option, read by cmd_reveal */
        } else {
            return usage();
        }
    }
    return *n == 0 ? usage() : 0;
}

static int cmd_call(teeu_client *client, int argc, char **argv)
{
    teeu_object *objs[MAX_IN] = {0};
    size_t n = 0;
    const char *out = NULL;
    int rc = read_handles(argc, argv, objs, &n, &out);
    teeu_func *fn = NULL;
    teeu_object *result = NULL;
    if (rc == 0 && out == NULL)
        rc = usage();
    teeu_status st = rc == 0 ? teeu_func_new("average", "{\"axis\":1}", &fn) : TEEU_OK;
    if (rc == 0 && st != TEEU_OK)
        rc = fail("naming the function", st);
    if (rc == 0) {
        /* The seed's teeu(average)([a, b]): one list argument. */
        st = teeu_call(client, fn, (const teeu_object *const *)objs, n, &result);
        if (st != TEEU_OK)
            rc = fail("teeu_call average([...], axis=1)", st);
    }
    if (rc == 0) {
        printf("called %s over %zu objects: result %s\n", teeu_func_descriptor(fn), n, teeu_object_handle(result));
        rc = write_file(out, teeu_object_handle(result), strlen(teeu_object_handle(result)));
    }
    teeu_object_free(result);
    teeu_func_free(fn);
    for (size_t i = 0; i < n; i++)
        teeu_object_free(objs[i]);
    return rc;
}

/* numpy's np.average([a, b, ...], axis=1) for 4x3 float64 inputs: shape (n, 3). */
static int check_expected(const teeu_ndarray *got, int argc, char **argv)
{
    teeu_ndarray *ins[MAX_IN] = {0};
    size_t n = 0;
    int rc = 0;
    for (int i = 0; i < argc && rc == 0; i++) {
        if (strcmp(argv[i], "--expect") != 0 || i + 1 >= argc || n == MAX_IN)
            continue;
        size_t len = 0;
        char *bytes = read_text(argv[++i], &len);
        teeu_status st = bytes ? teeu_ndarray_decode(bytes, len, NULL, &ins[n]) : TEEU_ERR_IO;
        if (st == TEEU_OK) {
            /* decode may return a view into bytes: keep an owning copy */
            teeu_ndarray_desc d;
            teeu_ndarray_desc_init(&d, TEEU_DTYPE_FLOAT64);
            static const size_t shape43[2] = {4, 3};
            d.ndim = 2;
            d.shape = shape43;
            teeu_ndarray *copy = NULL;
            if (teeu_ndarray_dtype(ins[n]) != TEEU_DTYPE_FLOAT64 || teeu_ndarray_size(ins[n]) != 12)
                st = TEEU_ERR_INVALID_ARGUMENT;
            if (st == TEEU_OK)
                st = teeu_ndarray_new(&d, &copy);
            if (st == TEEU_OK)
                memcpy(teeu_ndarray_data(copy), teeu_ndarray_data(ins[n]), 12 * sizeof(double));
            teeu_ndarray_free(ins[n]);
            ins[n] = copy;
        }
        free(bytes);
        if (st != TEEU_OK) {
            fprintf(stderr, "secure_aggregation: cannot read a 4x3 float64 array from %s\n", argv[i]);
            rc = 1;
        } else {
            n++;
        }
    }
    if (rc != 0 || n == 0)
        goto done;
    const size_t *shape = teeu_ndarray_shape(got);
    if (teeu_ndarray_dtype(got) != TEEU_DTYPE_FLOAT64 || teeu_ndarray_ndim(got) != 2 || shape[0] != n ||
        shape[1] != 3) {
        fprintf(stderr, "secure_aggregation: the result is not a (%zu, 3) float64 array\n", n);
        rc = 1;
        goto done;
    }
    const double *r = teeu_ndarray_data(got);
    double maxdiff = 0;
    for (size_t k = 0; k < n; k++) {
        const double *v = teeu_ndarray_data(ins[k]);
        for (size_t c = 0; c < 3; c++) {
            double s = 0;
            for (size_t row = 0; row < 4; row++)
                s += v[row * 3 + c];
            double diff = r[k * 3 + c] - s / 4.0;
            diff = diff < 0 ? -diff : diff;
            if (diff > maxdiff)
                maxdiff = diff;
        }
    }
    if (maxdiff <= 1e-9) {
        printf("matches plaintext average\n");
    } else {
        printf("DOES NOT match the plaintext average (max difference %g)\n", maxdiff);
        rc = 1;
    }
done:
    for (size_t i = 0; i < n; i++)
        teeu_ndarray_free(ins[i]);
    return rc;
}

static int cmd_reveal(teeu_client *client, int argc, char **argv)
{
    teeu_object *objs[MAX_IN] = {0};
    size_t n = 0;
    int rc = read_handles(argc, argv, objs, &n, NULL);
    teeu_ndarray *arr = NULL;
    if (rc == 0 && n != 1)
        rc = usage();
    if (rc == 0) {
        teeu_status st = teeu_reveal(client, objs[0], &arr);
        if (st != TEEU_OK)
            rc = fail("teeu_reveal", st);
    }
    if (rc == 0) {
        if (teeu_ndarray_dtype(arr) == TEEU_DTYPE_FLOAT64)
            print_array("revealed average([a, b], axis=1)", arr);
        else
            printf("revealed a %s array of %zu elements\n", teeu_dtype_name(teeu_ndarray_dtype(arr)),
                   teeu_ndarray_size(arr));
        rc = check_expected(arr, argc, argv);
    }
    teeu_ndarray_free(arr);
    for (size_t i = 0; i < n; i++)
        teeu_object_free(objs[i]);
    return rc;
}

int main(int argc, char **argv)
{
    const char *config = NULL;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[++i];
        else if (strcmp(argv[i], "--verbose") == 0)
            teeu_set_log_handler(log_to_stderr, NULL, TEEU_LOG_INFO);
        else
            return usage();
    }
    if (config == NULL || i >= argc)
        return usage();
    const char *cmd = argv[i++];
    teeu_client *client = NULL;
    teeu_status st = teeu_client_new_from_file(config, &client);
    if (st != TEEU_OK)
        return fail("loading the config", st);
    int rc;
    if (strcmp(cmd, "put") == 0)
        rc = cmd_put(client, argc - i, argv + i);
    else if (strcmp(cmd, "call") == 0)
        rc = cmd_call(client, argc - i, argv + i);
    else if (strcmp(cmd, "reveal") == 0)
        rc = cmd_reveal(client, argc - i, argv + i);
    else
        rc = usage();
    teeu_client_free(client);
    return rc;
}
