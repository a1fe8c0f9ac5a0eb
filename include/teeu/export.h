/* libteeu — symbol visibility and C++ linkage helpers shared by every public header. */
#ifndef TEEU_EXPORT_H
#define TEEU_EXPORT_H

#if defined(TEEU_STATIC_DEFINE)
#  define TEEU_API
#elif defined(__GNUC__) || defined(__clang__)
#  define TEEU_API __attribute__((visibility("default")))
#else
#  define TEEU_API
#endif

#ifdef __cplusplus
#  define TEEU_BEGIN_DECLS extern "C" {
#  define TEEU_END_DECLS }
#else
#  define TEEU_BEGIN_DECLS
#  define TEEU_END_DECLS
#endif

#endif /* TEEU_EXPORT_H */
