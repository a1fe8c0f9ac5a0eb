/* Functions (descriptor and identity) and object handles of the client API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"

teeu_status teeu_func_new_version(const char *name, unsigned version, const char *params_json, teeu_func **out)
{
    if (out == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_func_new: out is NULL");
    *out = NULL;
    if (name == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_func_new: name is NULL (e.g. \"average\")");
    teeu_func *f = calloc(1, sizeof *f);
    if (f == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory for a function");
    teeu_status st = tu_func_descriptor_make(name, version, params_json, &f->descriptor);
    if (st == TEEU_OK)
        st = tu_func_identity(f->descriptor, f->identity);
    if (st != TEEU_OK) {
        teeu_func_free(f);
        return st;
    }
    *out = f;
    return TEEU_OK;
}

teeu_status teeu_func_new(const char *name, const char *params_json, teeu_func **out)
{
    return teeu_func_new_version(name, 1, params_json, out);
}

const char *teeu_func_descriptor(const teeu_func *f)
{
    return f ? f->descriptor : NULL;
}

const char *teeu_func_identity(const teeu_func *f)
{
    return f ? f->identity : NULL;
}

void teeu_func_free(teeu_func *f)
{
    if (f == NULL)
        return;
    free(f->descriptor);
    free(f);
}

bool tu_uuid_hex_ok(const char *s)
{
    size_t i = 0;
    for (; s[i] != '\0' && i < 33; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return i == 32;
}

/* host:port with a printable host (no '/', spaces or control bytes) and a decimal port 1..65535. */
static bool address_ok(const char *a, size_t len)
{
    if (len == 0 || len >= sizeof(((teeu_object *)0)->address))
        return false;
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c <= ' ' || c >= 0x7f || c == '/' || c == '?' || c == '#' || c == '@')
            return false;
        if (c == ':')
            colon = a + i;
    }
    if (colon == NULL || colon == a)
        return false;
    size_t plen = (size_t)(a + len - colon - 1);
    if (plen == 0 || plen > 5)
        return false;
    unsigned long port = 0;
    for (const char *p = colon + 1; p < a + len; p++) {
        if (*p < '0' || *p > '9')
            return false;
        port = port * 10 + (unsigned long)(*p - '0');
    }
    return port >= 1 && port <= 65535;
}

teeu_status tu_object_make(const char *address, const char *uuid, teeu_object **out)
{
    *out = NULL;
    if (!address_ok(address, strlen(address)))
        return tu_error(TEEU_ERR_BAD_HANDLE, "TEEU address \"%.64s\" is not host:port", address);
    if (!tu_uuid_hex_ok(uuid))
        return tu_error(TEEU_ERR_BAD_HANDLE, "object id \"%.40s\" is not 32 lowercase hex digits", uuid);
    teeu_object *o = calloc(1, sizeof *o);
    if (o == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory for an object handle");
    snprintf(o->address, sizeof o->address, "%s", address);
    memcpy(o->uuid, uuid, 33);
    snprintf(o->handle, sizeof o->handle, TU_HANDLE_SCHEME "%s/%s", o->address, o->uuid);
    *out = o;
    return TEEU_OK;
}

teeu_status teeu_object_from_string(const char *handle, teeu_object **obj)
{
    if (obj == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_object_from_string: obj is NULL");
    *obj = NULL;
    if (handle == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "teeu_object_from_string: handle is NULL");
    size_t len = strnlen(handle, TU_HANDLE_MAX + 1);
    /* Handles are often read from files: tolerate one trailing newline. */
    while (len > 0 && (handle[len - 1] == '\n' || handle[len - 1] == '\r'))
        len--;
    const size_t slen = strlen(TU_HANDLE_SCHEME);
    if (len > TU_HANDLE_MAX - 1 || len < slen + 3 + 1 + 32 || strncmp(handle, TU_HANDLE_SCHEME, slen) != 0)
        return tu_error(TEEU_ERR_BAD_HANDLE,
                        "\"%.80s\" is not an object handle: expected teeu://HOST:PORT/<32 hex digits>, as "
                        "teeu_object_handle() prints it",
                        handle);
    const char *addr = handle + slen;
    const char *slash = memchr(addr, '/', len - slen);
    if (slash == NULL || (size_t)(handle + len - slash - 1) != 32)
        return tu_error(TEEU_ERR_BAD_HANDLE,
                        "\"%.80s\" is not an object handle: expected teeu://HOST:PORT/<32 hex digits>", handle);
    char address[256], uuid[33];
    size_t alen = (size_t)(slash - addr);
    if (alen >= sizeof address)
        return tu_error(TEEU_ERR_BAD_HANDLE, "object handle: TEEU address is too long");
    memcpy(address, addr, alen);
    address[alen] = '\0';
    memcpy(uuid, slash + 1, 32);
    uuid[32] = '\0';
    teeu_status st = tu_object_make(address, uuid, obj);
    return st == TEEU_OK ? st : tu_error_context(st, "object handle \"%.80s\"", handle);
}

const char *teeu_object_handle(const teeu_object *obj)
{
    return obj ? obj->handle : NULL;
}

const char *teeu_object_uuid(const teeu_object *obj)
{
    return obj ? obj->uuid : NULL;
}

void teeu_object_free(teeu_object *obj)
{
    free(obj);
}
