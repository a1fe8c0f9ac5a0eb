/*
 * libteeu client — teeu_put / teeu_call / teeu_reveal (include/teeu/teeu.h).
 *
 * config.c: the JSON config file (sf.init-style keys) into a teeu_config
 *           whose strings a tu_client_config owns.
 * handle.c: functions (descriptor, identity) and object handles.
 * client.c: the client: once-per-client AuthManager and TEEU checks, then
 *           put (CreateDataWithAuth + streamed PutObject), call, reveal.
 */
#ifndef TEEU_CLIENT_INTERNAL_H
#define TEEU_CLIENT_INTERNAL_H

#include <teeu/teeu.h>

#include "core/core_internal.h"
#include "func/func_internal.h"

/** A teeu_config plus the storage of its strings. */
typedef struct tu_client_config {
    teeu_config cfg;
    char *strings[24];   /* owned copies the cfg fields point to */
    size_t n_strings;
    char *party;         /* self party name, or NULL */
} tu_client_config;

/**
 * Parses a JSON config (docs/getting-started.md). Relative file paths are
 * taken relative to base_dir (NULL: the working directory). `origin` names
 * the config in messages. Free with tu_client_config_clear.
 */
teeu_status tu_client_config_parse(const char *json, size_t len, const char *base_dir, const char *origin,
                                   tu_client_config *out) TU_NODISCARD;
void tu_client_config_clear(tu_client_config *c);

struct teeu_func {
    char *descriptor;
    char identity[TU_FUNC_IDENTITY_LEN + 1];
};

#define TU_HANDLE_SCHEME "teeu://"
#define TU_HANDLE_MAX 320

struct teeu_object {
    char address[256];   /* "host:port" of the TEEU holding it */
    char uuid[33];       /* 32 lowercase hex digits */
    char handle[TU_HANDLE_MAX];
};

/** Makes an object for uuid on the TEEU at address (both validated). */
teeu_status tu_object_make(const char *address, const char *uuid, teeu_object **out) TU_NODISCARD;

/** True if s is exactly 32 lowercase hex digits. */
bool tu_uuid_hex_ok(const char *s);

#endif /* TEEU_CLIENT_INTERNAL_H */
