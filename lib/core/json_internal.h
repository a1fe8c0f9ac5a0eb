/*
 * libteeu core — a small, bounded JSON reader and writer helpers.
 *
 * tu_json_parse() turns RFC 8259 text into a tree. It is strict (no comments,
 * no trailing commas, no leading zeros, no control characters in strings,
 * no duplicate object keys, no bytes after the value) and bounded: the input
 * size, the nesting depth and the node count have limits, so hostile input
 * cannot exhaust the stack or the heap.
 *
 * Every node records its byte span [start, end) in the raw input. Signed
 * JSON (e.g. the "tcbInfo" object inside a PCCS answer) is verified over
 * exactly those bytes: cut them with the span, never re-serialize.
 *
 * Strings are unescaped (\uXXXX including surrogate pairs, to UTF-8) and
 * NUL-terminated; a string holding "\u0000" keeps its true length in
 * str_len. Numbers keep their double value and, when the literal is an
 * integer that fits, an exact int64 value.
 */
#ifndef TEEU_JSON_INTERNAL_H
#define TEEU_JSON_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core_internal.h"

typedef enum tu_json_type {
    TU_JSON_NULL,
    TU_JSON_BOOL,
    TU_JSON_NUMBER,
    TU_JSON_STRING,
    TU_JSON_ARRAY,
    TU_JSON_OBJECT
} tu_json_type;

typedef struct tu_json tu_json;
struct tu_json {
    tu_json_type type;
    size_t start;      /**< offset of the value's first byte in the input */
    size_t end;        /**< offset just past its last byte */
    char *key;         /**< member name when the parent is an object (unescaped), else NULL */
    size_t key_len;
    char *str;         /**< TU_JSON_STRING: unescaped, NUL-terminated */
    size_t str_len;
    double num;        /**< TU_JSON_NUMBER */
    bool is_int;       /**< the literal is an integer that fits int64 */
    int64_t i64;       /**< exact value when is_int */
    bool boolean;      /**< TU_JSON_BOOL */
    size_t count;      /**< ARRAY/OBJECT: number of children */
    tu_json *child;    /**< first child (array element or object member) */
    tu_json *next;     /**< next sibling */
};

typedef struct tu_json_limits {
    size_t max_input;  /**< bytes of input accepted (0: 16 MiB) */
    size_t max_depth;  /**< nesting of arrays/objects (0: 64) */
    size_t max_nodes;  /**< values in the whole document (0: 1,000,000) */
} tu_json_limits;

/**
 * Parses len bytes of JSON text (need not be NUL-terminated). limits may be
 * NULL for the defaults. On success *out is the root; free with
 * tu_json_free. On failure TEEU_ERR_JSON (or TEEU_ERR_LIMIT / NOMEM) with a
 * message naming the byte offset.
 */
teeu_status tu_json_parse(const char *text, size_t len, const tu_json_limits *limits,
                          tu_json **out) TU_NODISCARD;
void tu_json_free(tu_json *root);

/** Member of an object by name, or NULL (also when obj is not an object). */
const tu_json *tu_json_get(const tu_json *obj, const char *key);
/** Array element by index, or NULL. */
const tu_json *tu_json_at(const tu_json *arr, size_t index);
/** String value or NULL when v is not a string. */
const char *tu_json_str(const tu_json *v);
/** Short name of a node type ("object", "string", ...). */
const char *tu_json_type_name(tu_json_type type);

/*
 * Typed member access with an error message "<what>: member "<key>" ...".
 * `what` names the document for the message (e.g. "TCB info").
 */
teeu_status tu_json_get_string(const tu_json *obj, const char *key, const char *what,
                               const char **s, size_t *len) TU_NODISCARD;
teeu_status tu_json_get_int(const tu_json *obj, const char *key, const char *what,
                            int64_t min, int64_t max, int64_t *out) TU_NODISCARD;
teeu_status tu_json_get_typed(const tu_json *obj, const char *key, const char *what,
                              tu_json_type type, const tu_json **out) TU_NODISCARD;

/** Appends s (len bytes, UTF-8) as a quoted, escaped JSON string. */
teeu_status tu_json_append_string(tu_buf *buf, const char *s, size_t len) TU_NODISCARD;

#endif /* TEEU_JSON_INTERNAL_H */
