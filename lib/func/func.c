/*
 * Function identity: canonical descriptors and their base64(SHA-256)
 * hashes (func_internal.h). One implementation for the client and teeud.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "func/func_internal.h"

#define NAME_MAX_LEN 64

teeu_status tu_func_identity(const char *descriptor, char out[TU_FUNC_IDENTITY_LEN + 1])
{
    if (descriptor == NULL || out == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "function identity: NULL argument");
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (EVP_Digest(descriptor, strlen(descriptor), md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
        return tu_error(TEEU_ERR_CRYPTO, "function identity: SHA-256 of the descriptor failed in OpenSSL");
    char *b64 = NULL;
    teeu_status st = tu_base64_encode(md, md_len, &b64);
    if (st != TEEU_OK)
        return st;
    if (strlen(b64) != TU_FUNC_IDENTITY_LEN) {
        free(b64);
        return tu_error(TEEU_ERR_INTERNAL_BUG, "function identity: base64 of SHA-256 is not 44 chars");
    }
    memcpy(out, b64, TU_FUNC_IDENTITY_LEN + 1);
    free(b64);
    return TEEU_OK;
}

static bool name_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

teeu_status tu_func_descriptor_make(const char *name, unsigned version, const char *params_json, char **out)
{
    if (out == NULL || name == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "function: name and output are required");
    *out = NULL;
    size_t name_len = strnlen(name, NAME_MAX_LEN + 1);
    if (name_len == 0 || name_len > NAME_MAX_LEN)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "function name must be 1 to %d characters (e.g. \"average\")",
                        NAME_MAX_LEN);
    for (size_t i = 0; i < name_len; i++)
        if (!name_char_ok(name[i]))
            return tu_error(TEEU_ERR_INVALID_ARGUMENT,
                            "function name \"%.64s\" may only hold a-z, 0-9 and '_' (kernel names are "
                            "lower case, e.g. \"average\"; `teeud --list-kernels` lists them)",
                            name);
    if (version == 0 || version > 999999999u)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "function %s: version must be 1..999999999, not %u", name,
                        version);
    const char *json = (params_json == NULL || params_json[0] == '\0') ? "{}" : params_json;
    char *canon = NULL;
    teeu_status st = tu_params_canonical(json, strlen(json), &canon);
    if (st != TEEU_OK)
        return tu_error_context(st, "function %s parameters", name);
    tu_buf buf = {0};
    st = tu_buf_printf(&buf, "%s@%u%s", name, version, canon);
    free(canon);
    if (st == TEEU_OK)
        st = tu_buf_append(&buf, "", 1);
    if (st == TEEU_OK && buf.len > TU_FUNC_DESCRIPTOR_MAX)
        st = tu_error(TEEU_ERR_LIMIT, "function descriptor longer than %d bytes", TU_FUNC_DESCRIPTOR_MAX);
    if (st != TEEU_OK) {
        tu_buf_free(&buf);
        return st;
    }
    size_t n;
    *out = (char *)tu_buf_release(&buf, &n);
    return TEEU_OK;
}
