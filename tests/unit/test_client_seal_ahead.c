/* The sealing thread (lib/client/seal_ahead.c): order, buffers lent one at a time, errors, stopping early. */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "client/client_internal.h"
#include "tu_check.h"

#define BUF_LEN 64

typedef struct counter {
    unsigned next;       /* messages made */
    unsigned last;       /* the final message's number */
    unsigned fail_at;    /* 0: never */
    atomic_int writing;  /* 1 while fn runs */
    uint8_t *bufs[4];    /* distinct buffers seen */
    unsigned n_bufs;
} counter;

/* Message i is BUF_LEN - 8 bytes of (i & 0xff), at offset 8 of buf. */
static teeu_status make(void *ctx, uint8_t *buf, const uint8_t **msg, size_t *len, bool *final)
{
    counter *c = ctx;
    atomic_store(&c->writing, 1);
    unsigned i = c->next++;
    bool seen = false;
    for (unsigned k = 0; k < c->n_bufs; k++)
        seen |= c->bufs[k] == buf;
    if (!seen && c->n_bufs < 4)
        c->bufs[c->n_bufs++] = buf;
    if (c->fail_at != 0 && i == c->fail_at) {
        atomic_store(&c->writing, 0);
        return tu_error(TEEU_ERR_NPY_TRUNCATED, "message %u cannot be made", i);
    }
    memset(buf + 8, (int)(i & 0xff), BUF_LEN - 8);
    *msg = buf + 8;
    *len = BUF_LEN - 8;
    *final = i == c->last;
    atomic_store(&c->writing, 0);
    return TEEU_OK;
}

START_TEST(messages_in_order_and_the_lent_buffer_is_left_alone)
{
    counter c = {.last = 300};
    tu_seal_ahead *a = NULL;
    ck_assert_ok(tu_seal_ahead_start(make, &c, BUF_LEN, &a));
    const uint8_t *prev = NULL;
    for (unsigned i = 0;; i++) {
        const uint8_t *msg = NULL;
        size_t len = 0;
        bool final = false;
        ck_assert_ok(tu_seal_ahead_next(a, &msg, &len, &final));
        ck_assert_uint_eq(len, BUF_LEN - 8);
        ck_assert_ptr_ne(msg, prev); /* never the buffer still lent */
        /* Give the thread time to (wrongly) overwrite what we hold. */
        if (i % 50 == 0)
            nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);
        for (size_t k = 0; k < len; k++)
            ck_assert_uint_eq(msg[k], i & 0xff);
        ck_assert_int_eq(final, i == 300);
        prev = msg;
        if (final)
            break;
    }
    tu_seal_ahead_stop(a);
    ck_assert_uint_eq(c.next, 301); /* nothing made after the final message */
    ck_assert_uint_eq(c.n_bufs, 2);
}
END_TEST

START_TEST(a_failure_reaches_the_consumer_with_its_message)
{
    counter c = {.last = 100, .fail_at = 5};
    tu_seal_ahead *a = NULL;
    ck_assert_ok(tu_seal_ahead_start(make, &c, BUF_LEN, &a));
    const uint8_t *msg;
    size_t len;
    bool final;
    for (unsigned i = 0; i < 5; i++)
        ck_assert_ok(tu_seal_ahead_next(a, &msg, &len, &final));
    ck_assert_status(tu_seal_ahead_next(a, &msg, &len, &final), TEEU_ERR_NPY_TRUNCATED);
    ck_assert_str_eq(teeu_last_error(), "message 5 cannot be made");
    tu_seal_ahead_stop(a);
    ck_assert_uint_eq(c.next, 6);
}
END_TEST

START_TEST(stop_early_at_any_point)
{
    for (unsigned taken = 0; taken < 4; taken++) {
        counter c = {.last = 1000};
        tu_seal_ahead *a = NULL;
        ck_assert_ok(tu_seal_ahead_start(make, &c, BUF_LEN, &a));
        const uint8_t *msg;
        size_t len;
        bool final;
        for (unsigned i = 0; i < taken; i++)
            ck_assert_ok(tu_seal_ahead_next(a, &msg, &len, &final));
        tu_seal_ahead_stop(a); /* joins: the thread is blocked on a full pipeline, or making one */
        ck_assert_int_eq(atomic_load(&c.writing), 0);
        ck_assert_uint_le(c.next, taken + 2);
    }
    tu_seal_ahead_stop(NULL);
}
END_TEST

static Suite *seal_ahead_suite(void)
{
    Suite *s = suite_create("client_seal_ahead");
    TCase *t = tcase_create("seal_ahead");
    tcase_add_test(t, messages_in_order_and_the_lent_buffer_is_left_alone);
    tcase_add_test(t, a_failure_reaches_the_consumer_with_its_message);
    tcase_add_test(t, stop_early_at_any_point);
    suite_add_tcase(s, t);
    return s;
}

TU_CHECK_MAIN(seal_ahead_suite)
