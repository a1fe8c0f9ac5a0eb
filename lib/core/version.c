#include <teeu/version.h>

const char *teeu_version_string(void)
{
    return TEEU_VERSION_STRING;
}

unsigned teeu_version_number(void)
{
    return TEEU_VERSION_NUMBER;
}
