/* Out-of-tree C consumer built with pkg-config against the installed tree. */
#include <stdio.h>
#include <string.h>

#include <teeu/status.h>
#include <teeu/version.h>
#if __has_include(<teeu/ndarray.h>)
#include <teeu/ndarray.h>
#define HAVE_NDARRAY 1
#endif

int main(void)
{
    if (strcmp(teeu_version_string(), TEEU_VERSION_STRING) != 0)
        return 1;
#ifdef HAVE_NDARRAY
    double values[6] = {1, 2, 3, 4, 5, 6};
    size_t shape[2] = {2, 3};
    teeu_ndarray *arr = NULL;
    if (teeu_ndarray_view(TEEU_DTYPE_FLOAT64, 2, shape, values, sizeof values, &arr) != TEEU_OK)
        return 2;
    size_t need = 0;
    if (teeu_ndarray_encoded_size(arr, 0, &need) != TEEU_OK || need == 0)
        return 3;
    teeu_ndarray_free(arr);
#endif
    printf("C consumer linked libteeu %s\n", teeu_version_string());
    return 0;
}
