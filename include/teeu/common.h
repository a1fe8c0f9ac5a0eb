/* libteeu — memory owned by the library and handed to the caller. */
#ifndef TEEU_COMMON_H
#define TEEU_COMMON_H

#include <stddef.h>
#include <teeu/export.h>

TEEU_BEGIN_DECLS

/**
 * Frees a buffer that a libteeu call allocated and handed to the caller
 * (documented per call as "free with teeu_free"). NULL is a no-op.
 */
TEEU_API void teeu_free(void *ptr);

/**
 * Wipes len bytes at ptr (the compiler cannot elide it) and then frees it
 * as teeu_free does. Use it for secrets the library handed over.
 */
TEEU_API void teeu_free_secret(void *ptr, size_t len);

TEEU_END_DECLS

#endif /* TEEU_COMMON_H */
