/* Core layer: status names, per-thread errors, log handler, buffers, encodings, files. */
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core_internal.h"
#include "tu_check.h"
#include <teeu/version.h>

START_TEST(status_names_are_distinct_and_known)
{
    ck_assert_str_eq(teeu_status_str(TEEU_OK), "ok");
    ck_assert_str_eq(teeu_status_str((teeu_status)99999), "unknown status");
    const teeu_status all[] = {TEEU_ERR_INVALID_ARGUMENT, TEEU_ERR_NOMEM, TEEU_ERR_NPY_MAGIC,
                               TEEU_ERR_NPY_DTYPE, TEEU_ERR_KEY_FORMAT, TEEU_ERR_DECRYPT,
                               TEEU_ERR_RPC_PERMISSION_DENIED, TEEU_ERR_QUOTE_FORMAT,
                               TEEU_ERR_NOT_AUTHORIZED};
    for (size_t i = 0; i < TU_ARRAY_LEN(all); i++)
        for (size_t j = i + 1; j < TU_ARRAY_LEN(all); j++)
            ck_assert_str_ne(teeu_status_str(all[i]), teeu_status_str(all[j]));
}
END_TEST

static void *other_thread_error(void *arg)
{
    (void)arg;
    tu_error(TEEU_ERR_IO, "error on the other thread");
    return NULL;
}

START_TEST(last_error_is_per_thread)
{
    ck_assert_int_eq(tu_error(TEEU_ERR_NOMEM, "main %d", 7), TEEU_ERR_NOMEM);
    pthread_t t;
    pthread_create(&t, NULL, other_thread_error, NULL);
    pthread_join(t, NULL);
    ck_assert_str_eq(teeu_last_error(), "main 7");
    tu_error_context(TEEU_ERR_NOMEM, "loading %s", "x");
    ck_assert_str_eq(teeu_last_error(), "loading x: main 7");
    tu_error_clear();
    ck_assert_str_eq(teeu_last_error(), "");
}
END_TEST

static int log_calls;
static char log_last[256];
static void capture_log(teeu_log_level level, const char *msg, void *ud)
{
    (void)level;
    ck_assert_ptr_eq(ud, &log_calls);
    log_calls++;
    snprintf(log_last, sizeof log_last, "%s", msg);
}

START_TEST(log_handler_filters_by_level)
{
    log_calls = 0;
    tu_log(TEEU_LOG_ERROR, "dropped: no handler");
    ck_assert_int_eq(log_calls, 0);
    teeu_set_log_handler(capture_log, &log_calls, TEEU_LOG_WARN);
    tu_log(TEEU_LOG_INFO, "below the level");
    tu_log(TEEU_LOG_WARN, "kept %s", "warning");
    ck_assert_int_eq(log_calls, 1);
    ck_assert_str_eq(log_last, "kept warning");
    teeu_set_log_handler(NULL, NULL, TEEU_LOG_DEBUG);
    tu_log(TEEU_LOG_ERROR, "dropped again");
    ck_assert_int_eq(log_calls, 1);
}
END_TEST

START_TEST(buf_grows_and_formats)
{
    tu_buf b = {.secret = true};
    for (int i = 0; i < 1000; i++)
        ck_assert_ok(tu_buf_printf(&b, "%d,", i));
    ck_assert_uint_eq(b.len, 3890);
    ck_assert_int_eq(memcmp(b.data, "0,1,2,", 6), 0);
    ck_assert_ok(tu_buf_append_u32le(&b, 0x01020304));
    ck_assert_int_eq(b.data[b.len - 4], 4);
    size_t len;
    uint8_t *p = tu_buf_release(&b, &len);
    ck_assert_uint_eq(len, 3894);
    ck_assert_ptr_null(b.data);
    tu_free_secret(p, len);
    tu_buf_free(&b);
}
END_TEST

START_TEST(base64_matches_rfc4648_vectors)
{
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < TU_ARRAY_LEN(plain); i++) {
        char *s;
        ck_assert_ok(tu_base64_encode((const uint8_t *)plain[i], strlen(plain[i]), &s));
        ck_assert_str_eq(s, enc[i]);
        free(s);
        uint8_t *d;
        size_t n;
        ck_assert_ok(tu_base64_decode(enc[i], strlen(enc[i]), &d, &n));
        ck_assert_uint_eq(n, strlen(plain[i]));
        ck_assert_int_eq(memcmp(d, plain[i], n), 0);
        free(d);
    }
}
END_TEST

START_TEST(base64_rejects_malformed)
{
    uint8_t *d;
    size_t n;
    ck_assert_status(tu_base64_decode("Zg=", 3, &d, &n), TEEU_ERR_ENCODING);
    ck_assert_status(tu_base64_decode("Zm9!", 4, &d, &n), TEEU_ERR_ENCODING);
    ck_assert_status(tu_base64_decode("Zh==", 4, &d, &n), TEEU_ERR_ENCODING);
    ck_assert_status(tu_base64_decode("=Zg=", 4, &d, &n), TEEU_ERR_ENCODING);
    ck_assert_ptr_null(d);
}
END_TEST

START_TEST(hex_round_trip_and_errors)
{
    const uint8_t bytes[] = {0x00, 0xab, 0xff, 0x10};
    char *s;
    ck_assert_ok(tu_hex_encode(bytes, 4, true, &s));
    ck_assert_str_eq(s, "00ABFF10");
    uint8_t *d;
    size_t n;
    ck_assert_ok(tu_hex_decode("00abFF10", 8, &d, &n));
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(memcmp(d, bytes, 4), 0);
    free(d);
    free(s);
    ck_assert_status(tu_hex_decode("abc", 3, &d, &n), TEEU_ERR_ENCODING);
    ck_assert_status(tu_hex_decode("zz", 2, &d, &n), TEEU_ERR_ENCODING);
    uint8_t fixed[2];
    ck_assert_status(tu_hex_decode_to("0011aa", 6, fixed, 2), TEEU_ERR_ENCODING);
}
END_TEST

START_TEST(files_write_atomically_and_read_bounded)
{
    char dir[] = "/tmp/teeu-core-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/f.bin", dir);
    ck_assert_ok(tu_write_file_atomic(path, "hello", 5, 0600));
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    uint8_t *data;
    size_t len;
    ck_assert_ok(tu_read_file(path, 5, &data, &len));
    ck_assert_uint_eq(len, 5);
    ck_assert_str_eq((char *)data, "hello");
    free(data);
    ck_assert_status(tu_read_file(path, 4, &data, &len), TEEU_ERR_LIMIT);
    unlink(path);
    ck_assert_status(tu_read_file(path, 4, &data, &len), TEEU_ERR_IO);
    ck_assert_ptr_nonnull(strstr(teeu_last_error(), "f.bin"));
    rmdir(dir);
}
END_TEST

START_TEST(version_matches_headers)
{
    ck_assert_str_eq(teeu_version_string(), TEEU_VERSION_STRING);
    ck_assert_uint_eq(teeu_version_number(), TEEU_VERSION_NUMBER);
}
END_TEST

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, status_names_are_distinct_and_known);
    tcase_add_test(tc, last_error_is_per_thread);
    tcase_add_test(tc, log_handler_filters_by_level);
    tcase_add_test(tc, buf_grows_and_formats);
    tcase_add_test(tc, base64_matches_rfc4648_vectors);
    tcase_add_test(tc, base64_rejects_malformed);
    tcase_add_test(tc, hex_round_trip_and_errors);
    tcase_add_test(tc, files_write_atomically_and_read_bounded);
    tcase_add_test(tc, version_matches_headers);
    suite_add_tcase(s, tc);
    return s;
}

TU_CHECK_MAIN(core_suite)
