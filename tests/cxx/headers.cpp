// Every public header, included from C++ with -Wpedantic: they must be C++-clean.
#include <teeu/common.h>
#include <teeu/log.h>
#include <teeu/status.h>
#include <teeu/version.h>
#if __has_include(<teeu/ndarray.h>)
#include <teeu/ndarray.h>
#endif
#if __has_include(<teeu/keys.h>)
#include <teeu/keys.h>
#endif
#if __has_include(<teeu/attest.h>)
#include <teeu/attest.h>
#endif
#if __has_include(<teeu/teeu.h>)
#include <teeu/teeu.h>
#endif

#include <cstdio>
#include <cstring>

int main()
{
    if (std::strcmp(teeu_version_string(), TEEU_VERSION_STRING) != 0) {
        std::fprintf(stderr, "header/library version mismatch\n");
        return 1;
    }
    std::printf("%s: %s\n", teeu_version_string(), teeu_status_str(TEEU_ERR_NOMEM));
    return 0;
}
