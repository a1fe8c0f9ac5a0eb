// Out-of-tree C++ consumer built with find_package(teeu CONFIG).
#include <cstdio>
#include <string>

#include <teeu/status.h>
#include <teeu/version.h>
#if __has_include(<teeu/ndarray.h>)
#include <teeu/ndarray.h>
#endif

int main()
{
    if (std::string(teeu_version_string()) != TEEU_VERSION_STRING)
        return 1;
    std::printf("C++ consumer linked libteeu %s (%s)\n", teeu_version_string(),
                teeu_status_str(TEEU_ERR_CONFIG));
    return 0;
}
