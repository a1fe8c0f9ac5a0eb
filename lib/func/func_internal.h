/*
 * libteeu func — function identity, shared by the client (what a data party
 * authorizes) and teeud (what it runs), so both hash the SAME bytes.
 *
 * A function is named by a descriptor "name@version{params}" whose params
 * are canonical JSON (sorted keys, no spaces), e.g. `average@1{"axis":1}`;
 * its identity is base64(SHA-256(descriptor)) (DESIGN.md "Function
 * identity"). The params JSON subset is what kernels take: a top-level
 * object of ints, null, bools, strings and flat arrays of those; floats and
 * nested objects are refused, so there is exactly one canonical spelling.
 */
#ifndef TEEU_FUNC_INTERNAL_H
#define TEEU_FUNC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core_internal.h"

/** Characters of an identity hash: base64 of 32 bytes, without the NUL. */
#define TU_FUNC_IDENTITY_LEN 44
/** Longest descriptor accepted, in bytes. */
#define TU_FUNC_DESCRIPTOR_MAX 4096

/* ---- params JSON ---------------------------------------------------------- */

typedef enum tu_jtype { TU_J_NULL, TU_J_BOOL, TU_J_INT, TU_J_STRING, TU_J_ARRAY } tu_jtype;

/** Bounds on untrusted params JSON. */
#define TU_PJSON_MAX_KEYS 16
#define TU_PJSON_MAX_ARRAY 64
#define TU_PJSON_MAX_STRING 256

typedef struct tu_jvalue {
    tu_jtype type;
    bool b;
    int64_t i;
    char *s;                   /* TU_J_STRING: NUL-terminated, decoded */
    size_t n;                  /* TU_J_ARRAY: element count */
    struct tu_jvalue *items;   /* TU_J_ARRAY: scalars only (no nesting) */
} tu_jvalue;

typedef struct tu_jmember {
    char *key;
    tu_jvalue value;
} tu_jmember;

/** A parsed params object, members sorted by key. */
typedef struct tu_jobject {
    size_t n;
    tu_jmember members[TU_PJSON_MAX_KEYS];
} tu_jobject;

/** Parses a params object (bounded; duplicate keys refused). Clear with tu_params_json_clear. */
teeu_status tu_params_json_parse(const char *json, size_t len, tu_jobject *obj) TU_NODISCARD;
void tu_params_json_clear(tu_jobject *obj);
/** Appends the canonical text of obj to buf. */
teeu_status tu_params_json_write_canonical(const tu_jobject *obj, tu_buf *buf) TU_NODISCARD;

/**
 * Canonical form of a params JSON object: sorted keys, no spaces, integers
 * in plain decimal, strings with minimal escapes. *out: free with free().
 */
teeu_status tu_params_canonical(const char *json, size_t len, char **out) TU_NODISCARD;

/* ---- descriptors ---------------------------------------------------------- */

/**
 * Identity hash of an already canonical descriptor: writes
 * TU_FUNC_IDENTITY_LEN chars and a NUL to out.
 */
teeu_status tu_func_identity(const char *descriptor, char out[TU_FUNC_IDENTITY_LEN + 1]) TU_NODISCARD;

/**
 * Builds the canonical descriptor "name@version{canonical params}" from its
 * parts (params_json NULL or "" means {}). The name is [a-z0-9_]+ (as kernels
 * are named), at most 64 bytes; version >= 1. This checks syntax only: whether a TEEU has
 * such a kernel is decided by the TEEU. *out: free with free().
 */
teeu_status tu_func_descriptor_make(const char *name, unsigned version, const char *params_json,
                                    char **out) TU_NODISCARD;

#endif /* TEEU_FUNC_INTERNAL_H */
