/*
 * teeu-npy — inspect and re-encode .npy files with libteeu's codec.
 *
 *   teeu-npy info FILE                 one JSON line describing the array
 *   teeu-npy copy IN OUT [options]     decode IN, re-encode it to OUT
 *
 * Exit status: 0 on success, 1 when a file cannot be read, decoded or
 * written (the reason goes to stderr), 2 on a usage error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_internal.h"
#include "ndarray/ndarray_internal.h"
#include <teeu/ndarray.h>

/* Whole files are read into memory; this keeps a typo'd path to a huge file from exhausting it. */
#define MAX_FILE_BYTES ((size_t)1 << 40)

static const char usage[] =
    "usage: teeu-npy info FILE [--max-decompressed BYTES]\n"
    "       teeu-npy copy IN OUT [--zstd LEVEL] [--byte-order little|big] [--format 1|2|3]\n"
    "                            [--max-decompressed BYTES]\n"
    "\n"
    "info  prints one JSON line: dtype (numpy name), descr, byte_order (\"little\",\n"
    "      \"big\", or \"not applicable\" for 1-byte dtypes), shape, order (\"C\" or \"F\"),\n"
    "      format_version (also as version, e.g. \"1.0\"), compressed (zstd frame),\n"
    "      header_len and data_len (bytes of the uncompressed .npy).\n"
    "copy  decodes IN (plain or zstd-framed .npy) and writes it to OUT, keeping dtype,\n"
    "      shape, byte order and C/Fortran order; the format version is the lowest that\n"
    "      fits (1.0) unless --format forces one.\n"
    "  --zstd LEVEL             wrap OUT in a zstd frame at this level (1..22, or negative)\n"
    "  --byte-order ORDER       write multi-byte elements little or big endian\n"
    "  --format N               write .npy format N.0\n"
    "  --max-decompressed BYTES refuse zstd input expanding past BYTES (default 4 GiB)\n";

static int fail(const char *what, teeu_status st)
{
    fprintf(stderr, "teeu-npy: %s: %s: %s\n", what, teeu_status_str(st), teeu_last_error());
    return 1;
}

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "teeu-npy: %s%s%s\n%s", msg, arg ? " " : "", arg ? arg : "", usage);
    return 2;
}

static int parse_long(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

typedef struct options {
    const char *files[2];
    size_t nfiles;
    teeu_npy_encode_options enc;
    teeu_npy_decode_options dec;
} options;

static int parse_args(int argc, char **argv, options *o)
{
    teeu_npy_encode_options_init(&o->enc);
    teeu_npy_decode_options_init(&o->dec);
    o->nfiles = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        bool has_value = i + 1 < argc;
        if (strcmp(a, "--zstd") == 0) {
            if (!has_value || parse_long(argv[++i], -131072, 22, &v) != 0)
                return usage_error("--zstd needs a level, e.g. 3", NULL);
            o->enc.flags |= TEEU_NPY_ZSTD;
            o->enc.zstd_level = (int)v;
        } else if (strcmp(a, "--byte-order") == 0) {
            const char *val = has_value ? argv[++i] : "";
            o->enc.flags &= ~(TEEU_NPY_LITTLE_ENDIAN | TEEU_NPY_BIG_ENDIAN);
            if (strcmp(val, "little") == 0)
                o->enc.flags |= TEEU_NPY_LITTLE_ENDIAN;
            else if (strcmp(val, "big") == 0)
                o->enc.flags |= TEEU_NPY_BIG_ENDIAN;
            else
                return usage_error("--byte-order takes little or big, not", val);
        } else if (strcmp(a, "--format") == 0) {
            if (!has_value || parse_long(argv[++i], 1, 3, &v) != 0)
                return usage_error("--format takes 1, 2 or 3", NULL);
            o->enc.format_major = (unsigned)v;
        } else if (strcmp(a, "--max-decompressed") == 0) {
            if (!has_value || parse_long(argv[++i], 1, INT64_MAX, &v) != 0)
                return usage_error("--max-decompressed takes a positive byte count", NULL);
            o->dec.max_decompressed = (uint64_t)v;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option", a);
        } else if (o->nfiles < 2) {
            o->files[o->nfiles++] = a;
        } else {
            return usage_error("too many arguments:", a);
        }
    }
    return 0;
}

static const char *byte_order_name(const teeu_npy_info *info)
{
    if (teeu_dtype_size(info->dtype) == 1)
        return "not applicable";
    return info->byte_order == TEEU_BYTE_ORDER_BIG ? "big" : "little";
}

static int cmd_info(const options *o)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    teeu_status st = tu_read_file(o->files[0], MAX_FILE_BYTES, &bytes, &len);
    if (st != TEEU_OK)
        return fail(o->files[0], st);
    teeu_npy_info info;
    st = teeu_npy_read_info(bytes, len, &o->dec, &info);
    free(bytes);
    if (st != TEEU_OK)
        return fail(o->files[0], st);
    char order = teeu_dtype_size(info.dtype) == 1 ? '|' : info.byte_order == TEEU_BYTE_ORDER_BIG ? '>' : '<';
    printf("{\"dtype\": \"%s\", \"descr\": \"%c%s\", \"byte_order\": \"%s\", \"shape\": [",
           teeu_dtype_name(info.dtype), order, tu_dtype_code(info.dtype), byte_order_name(&info));
    for (size_t i = 0; i < info.ndim; i++)
        printf(i ? ", %zu" : "%zu", info.shape[i]);
    printf("], \"order\": \"%s\", \"format_version\": \"%u.%u\", \"version\": \"%u.%u\", "
           "\"compressed\": %s, \"header_len\": %zu, \"data_len\": %zu}\n",
           info.fortran_order ? "F" : "C", info.format_major, info.format_minor, info.format_major,
           info.format_minor, info.compressed ? "true" : "false", info.header_len, info.data_len);
    return fflush(stdout) == 0 ? 0 : 1;
}

static int cmd_copy(const options *o)
{
    uint8_t *bytes = NULL, *out = NULL;
    size_t len = 0, out_len = 0;
    teeu_ndarray *arr = NULL;
    int rc = 0;
    teeu_status st = tu_read_file(o->files[0], MAX_FILE_BYTES, &bytes, &len);
    if (st != TEEU_OK) {
        rc = fail(o->files[0], st);
        goto done;
    }
    /* A view into the file's bytes when aligned: no copy before re-encoding. */
    if ((st = teeu_ndarray_decode(bytes, len, &o->dec, &arr)) != TEEU_OK) {
        rc = fail(o->files[0], st);
        goto done;
    }
    if ((st = teeu_ndarray_encode_alloc(arr, &o->enc, &out, &out_len)) != TEEU_OK) {
        rc = fail("encoding", st);
        goto done;
    }
    if ((st = tu_write_file_atomic(o->files[1], out, out_len, 0644)) != TEEU_OK)
        rc = fail(o->files[1], st);
done:
    teeu_ndarray_free(arr);
    teeu_free(out);
    free(bytes);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("missing command", NULL);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
    }
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0)
        return rc;
    if (strcmp(argv[1], "info") == 0) {
        if (o.nfiles != 1)
            return usage_error("info takes one FILE", NULL);
        return cmd_info(&o);
    }
    if (strcmp(argv[1], "copy") == 0) {
        if (o.nfiles != 2)
            return usage_error("copy takes IN and OUT", NULL);
        return cmd_copy(&o);
    }
    return usage_error("unknown command", argv[1]);
}
