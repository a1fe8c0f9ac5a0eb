/*
 * Encodes a 4x3 float64 array (arange(12) / 4, row-major) as .npy with
 * libteeu and writes it to the path given as the first argument:
 *
 *   npy_example a.npy && python3 -c 'import numpy; print(numpy.load("a.npy"))'
 */
#include <stdio.h>
#include <stdlib.h>

#include <teeu/common.h>
#include <teeu/ndarray.h>
#include <teeu/status.h>

static int report(const char *what, teeu_status st)
{
    fprintf(stderr, "npy_example: %s: %s: %s\n", what, teeu_status_str(st), teeu_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUT.npy\n", argv[0]);
        return 2;
    }
    double values[12];
    for (int i = 0; i < 12; i++)
        values[i] = i / 4.0;
    const size_t shape[2] = {4, 3};

    /* A view: libteeu reads `values` in place and never copies or frees it. */
    teeu_ndarray *arr = NULL;
    teeu_status st = teeu_ndarray_view(TEEU_DTYPE_FLOAT64, 2, shape, values, sizeof values, &arr);
    if (st != TEEU_OK)
        return report("making the array", st);

    /* Encode into a buffer sized exactly by the library. */
    size_t need = 0, written = 0;
    st = teeu_ndarray_encoded_size(arr, NULL, &need);
    unsigned char *buf = st == TEEU_OK ? malloc(need) : NULL;
    if (st == TEEU_OK && buf == NULL)
        st = TEEU_ERR_NOMEM;
    if (st == TEEU_OK)
        st = teeu_ndarray_encode(arr, NULL, buf, need, &written);
    teeu_ndarray_free(arr);
    if (st != TEEU_OK) {
        free(buf);
        return report("encoding", st);
    }

    FILE *f = fopen(argv[1], "wb");
    int ok = f != NULL && fwrite(buf, 1, written, f) == written;
    ok = (f != NULL && fclose(f) == 0) && ok;
    free(buf);
    if (!ok) {
        perror(argv[1]);
        return 1;
    }
    printf("wrote %zu bytes of .npy (float64, shape (4, 3)) to %s\n", written, argv[1]);
    return 0;
}
