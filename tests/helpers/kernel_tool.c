/*
 * kernel_tool — drives teeud's kernels from the tests.
 *
 *   kernel_tool DESCRIPTOR OUT.npy IN1.npy [IN2.npy ...]   run a kernel
 *   kernel_tool --identity DESCRIPTOR                      print canonical descriptor and hash
 *   kernel_tool --list                                     print every kernel
 *
 * On a kernel error it prints "error: <status>: <detail>" to stderr and
 * exits 2 (usage errors exit 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <teeu/common.h>
#include <teeu/ndarray.h>

#include "core/core_internal.h"
#include "kernels.h"

#define MAX_INPUT_BYTES ((size_t)8 << 30)

static int fail(teeu_status st)
{
    fprintf(stderr, "error: %s: %s\n", teeu_status_str(st), teeu_last_error());
    return 2;
}

static int identity(const char *descriptor)
{
    tu_kernel_fn *fn = NULL;
    teeu_status st = tu_kernel_find(descriptor, &fn);
    if (st != TEEU_OK)
        return fail(st);
    printf("%s %s\n", tu_kernel_fn_descriptor(fn), tu_kernel_fn_identity(fn));
    tu_kernel_fn_free(fn);
    return 0;
}

static int list(void)
{
    char *text = NULL;
    teeu_status st = tu_kernel_list(&text);
    if (st != TEEU_OK)
        return fail(st);
    fputs(text, stdout);
    free(text);
    return 0;
}

static int run(const char *descriptor, const char *out_path, int n, char **paths)
{
    int rc = 2;
    tu_kernel_fn *fn = NULL;
    uint8_t **bytes = calloc((size_t)n, sizeof(*bytes));
    teeu_ndarray **in = calloc((size_t)n, sizeof(*in));
    teeu_ndarray *out = NULL;
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    teeu_status st = bytes && in ? TEEU_OK : TEEU_ERR_NOMEM;
    if (st == TEEU_OK)
        st = tu_kernel_find(descriptor, &fn);
    for (int i = 0; st == TEEU_OK && i < n; i++) {
        size_t len;
        st = tu_read_file(paths[i], MAX_INPUT_BYTES, &bytes[i], &len);
        if (st == TEEU_OK)
            st = teeu_ndarray_decode(bytes[i], len, NULL, &in[i]);
        if (st != TEEU_OK)
            tu_error_context(st, "input %s", paths[i]);
    }
    if (st == TEEU_OK)
        st = tu_kernel_run(fn, (const teeu_ndarray *const *)in, (size_t)n, &out);
    if (st == TEEU_OK)
        st = teeu_ndarray_encode_alloc(out, NULL, &enc, &enc_len);
    if (st == TEEU_OK)
        st = tu_write_file_atomic(out_path, enc, enc_len, 0644);
    if (st == TEEU_OK)
        rc = 0;
    else
        fail(st);
    teeu_free(enc);
    teeu_ndarray_free(out);
    for (int i = 0; in && i < n; i++)
        teeu_ndarray_free(in[i]);
    for (int i = 0; bytes && i < n; i++)
        free(bytes[i]);
    free(in);
    free(bytes);
    tu_kernel_fn_free(fn);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--list") == 0)
        return list();
    if (argc == 3 && strcmp(argv[1], "--identity") == 0)
        return identity(argv[2]);
    if (argc >= 4)
        return run(argv[1], argv[2], argc - 3, argv + 3);
    fprintf(stderr,
            "usage: kernel_tool DESCRIPTOR OUT.npy IN.npy...\n"
            "       kernel_tool --identity DESCRIPTOR\n"
            "       kernel_tool --list\n");
    return 1;
}
