/* Shared scaffolding for the Check unit tests. */
#ifndef TU_CHECK_H
#define TU_CHECK_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include <teeu/status.h>

/* Asserts a status and shows the library's detail message when it differs. */
#define ck_assert_status(expr, expected)                                                   \
    do {                                                                                   \
        teeu_status tu_ck_st_ = (expr);                                                    \
        ck_assert_msg(tu_ck_st_ == (expected), "%s: got %d (%s: %s), expected %d (%s)",    \
                      #expr, (int)tu_ck_st_, teeu_status_str(tu_ck_st_), teeu_last_error(), \
                      (int)(expected), teeu_status_str(expected));                         \
    } while (0)

#define ck_assert_ok(expr) ck_assert_status((expr), TEEU_OK)

/* Environment set by ctest (tests/CMakeLists.txt); NULL-safe defaults. */
static inline const char *tu_test_env(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

#define TU_CHECK_MAIN(make_suite)                                 \
    int main(void)                                                \
    {                                                             \
        SRunner *runner = srunner_create(make_suite());           \
        srunner_run_all(runner, CK_NORMAL);                       \
        int failed = srunner_ntests_failed(runner);               \
        srunner_free(runner);                                     \
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;         \
    }

#endif /* TU_CHECK_H */
