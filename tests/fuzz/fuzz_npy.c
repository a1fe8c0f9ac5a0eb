/*
 * libFuzzer target for the .npy decoder (not built by default):
 *
 *   bash tests/fuzz/build.sh && build/fuzz/fuzz_npy -max_total_time=60 tests/fuzz/corpus
 *
 * Every input must either be refused with a non-empty message, or decode
 * to an array that re-encodes and decodes again to the same header and
 * data bytes. A tight decompression bound keeps zstd inputs small.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <teeu/common.h>
#include <teeu/ndarray.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    teeu_npy_decode_options dopts;
    teeu_npy_decode_options_init(&dopts);
    dopts.max_decompressed = 1 << 20;
    teeu_ndarray *arr = NULL;
    teeu_status st = teeu_ndarray_decode(data, size, &dopts, &arr);
    teeu_npy_info info;
    teeu_status st_info = teeu_npy_read_info(data, size, &dopts, &info);
    if (st != st_info)
        abort();
    if (st != TEEU_OK) {
        if (arr != NULL || teeu_last_error()[0] == '\0')
            abort();
        return 0;
    }
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    if (teeu_ndarray_encode_alloc(arr, NULL, &enc, &enc_len) != TEEU_OK)
        abort();
    teeu_ndarray *again = NULL;
    if (teeu_ndarray_decode(enc, enc_len, NULL, &again) != TEEU_OK)
        abort();
    if (teeu_ndarray_nbytes(again) != teeu_ndarray_nbytes(arr) || teeu_ndarray_dtype(again) != teeu_ndarray_dtype(arr))
        abort();
    if (teeu_ndarray_nbytes(arr) > 0 &&
        memcmp(teeu_ndarray_data(again), teeu_ndarray_data(arr), teeu_ndarray_nbytes(arr)) != 0)
        abort();
    teeu_ndarray_free(again);
    teeu_free(enc);
    teeu_ndarray_free(arr);
    return 0;
}
