/* The RSA key pool: keys are fresh, never handed out twice, and the pool refills. */
#include <string.h>
#include <unistd.h>

#include "crypto/crypto_internal.h"
#include "tu_check.h"

static void owner_of(const teeu_key *k, char out[TEEU_OWNER_ID_LEN + 1])
{
    ck_assert_ok(teeu_key_owner_id(k, out));
}

START_TEST(pool_hands_out_distinct_fresh_keys)
{
    tu_keypool *pool = NULL;
    ck_assert_ok(tu_keypool_new(2048, 2, &pool));
    /* Wait (bounded) for the thread to fill the pool. */
    for (int i = 0; i < 600 && tu_keypool_available(pool) < 2; i++)
        usleep(50000);
    ck_assert_uint_eq(tu_keypool_available(pool), 2);
    teeu_key *keys[4] = {NULL};
    char ids[4][TEEU_OWNER_ID_LEN + 1];
    for (int i = 0; i < 4; i++) { /* the last two may come from inline generation */
        ck_assert_ok(tu_keypool_take(pool, &keys[i]));
        ck_assert(teeu_key_is_private(keys[i]));
        ck_assert_uint_eq(teeu_key_bits(keys[i]), 2048);
        owner_of(keys[i], ids[i]);
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(ids[i], ids[j]);
    }
    for (int i = 0; i < 4; i++)
        teeu_key_free(keys[i]);
    /* Freeing with keys still inside (or being generated) must not leak or hang. */
    tu_keypool_free(pool);
}
END_TEST

START_TEST(no_pool_generates_inline_and_bad_capacity_is_refused)
{
    teeu_key *k = NULL;
    ck_assert_ok(tu_keypool_take(NULL, &k));
    ck_assert_uint_eq(teeu_key_bits(k), 3072);
    teeu_key_free(k);
    tu_keypool *pool = NULL;
    ck_assert_status(tu_keypool_new(3072, 0, &pool), TEEU_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(pool);
    tu_keypool_free(NULL);
}
END_TEST

static Suite *keypool_suite(void)
{
    Suite *s = suite_create("keypool");
    TCase *tc = tcase_create("keypool");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, pool_hands_out_distinct_fresh_keys);
    tcase_add_test(tc, no_pool_generates_inline_and_bad_capacity_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

TU_CHECK_MAIN(keypool_suite)
