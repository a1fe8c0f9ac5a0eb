/*
 * The kernel registry and function identity: descriptor parsing,
 * per-kernel parameter validation, canonical descriptors and their
 * base64(SHA-256) identity hashes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "kernels_internal.h"

_Static_assert(TU_KERNEL_IDENTITY_LEN == TU_FUNC_IDENTITY_LEN, "one identity format for client and teeud");

/* Which params a kernel accepts. */
enum {
    TK_P_AXIS = 1u << 0,        /* null, int or array of ints */
    TK_P_AXIS_INT = 1u << 1,    /* int only */
    TK_P_AXIS_INT_NULL = 1u << 2, /* int or null */
    TK_P_DDOF = 1u << 3,
    TK_P_WEIGHTS = 1u << 4,
};

typedef struct tk_kernel {
    tu_kernel_info info;
    unsigned params;
    size_t min_inputs;
    size_t max_inputs;
    tk_kernel_impl impl;
} tk_kernel;

#define TK_AXIS_HELP "axis: null | int | [int, ...]"

static const tk_kernel tk_kernels[] = {
    {{"average", 1, TK_AXIS_HELP "; weights: bool (last input is the weights)",
      "np.average(a, axis, weights)"}, TK_P_AXIS | TK_P_WEIGHTS, 1, TU_KERNEL_MAX_INPUTS, tk_average},
    {{"mean", 1, TK_AXIS_HELP, "np.mean(a, axis)"}, TK_P_AXIS, 1, TU_KERNEL_MAX_INPUTS, tk_mean},
    {{"sum", 1, TK_AXIS_HELP, "np.sum(a, axis)"}, TK_P_AXIS, 1, TU_KERNEL_MAX_INPUTS, tk_sum},
    {{"min", 1, TK_AXIS_HELP, "np.min(a, axis)"}, TK_P_AXIS, 1, TU_KERNEL_MAX_INPUTS, tk_min},
    {{"max", 1, TK_AXIS_HELP, "np.max(a, axis)"}, TK_P_AXIS, 1, TU_KERNEL_MAX_INPUTS, tk_max},
    {{"var", 1, TK_AXIS_HELP "; ddof: int", "np.var(a, axis, ddof)"}, TK_P_AXIS | TK_P_DDOF, 1,
     TU_KERNEL_MAX_INPUTS, tk_var},
    {{"std", 1, TK_AXIS_HELP "; ddof: int", "np.std(a, axis, ddof)"}, TK_P_AXIS | TK_P_DDOF, 1,
     TU_KERNEL_MAX_INPUTS, tk_std},
    {{"count", 1, TK_AXIS_HELP, "np.count_nonzero(a, axis)"}, TK_P_AXIS, 1, TU_KERNEL_MAX_INPUTS,
     tk_count},
    {{"concatenate", 1, "axis: null | int (default 0)", "np.concatenate([a, b, ...], axis)"},
     TK_P_AXIS_INT_NULL, 1, TU_KERNEL_MAX_INPUTS, tk_concatenate},
    {{"stack", 1, "axis: int (default 0)", "np.stack([a, b, ...], axis)"}, TK_P_AXIS_INT, 1,
     TU_KERNEL_MAX_INPUTS, tk_stack},
    {{"add", 1, "none", "np.add(a, b)"}, 0, 2, 2, tk_add},
    {{"subtract", 1, "none", "np.subtract(a, b)"}, 0, 2, 2, tk_subtract},
    {{"multiply", 1, "none", "np.multiply(a, b)"}, 0, 2, 2, tk_multiply},
    {{"divide", 1, "none", "np.divide(a, b) (true division)"}, 0, 2, 2, tk_divide},
    {{"matmul", 1, "none", "np.matmul(a, b)"}, 0, 2, 2, tk_matmul},
};

struct tu_kernel_fn {
    const tk_kernel *kernel;
    tk_params params;
    char *descriptor;
    char identity[TU_KERNEL_IDENTITY_LEN + 1];
};

size_t tu_kernel_count(void)
{
    return TU_ARRAY_LEN(tk_kernels);
}

const tu_kernel_info *tu_kernel_info_at(size_t i)
{
    return i < TU_ARRAY_LEN(tk_kernels) ? &tk_kernels[i].info : NULL;
}

teeu_status tu_kernel_identity(const char *descriptor, char out[TU_KERNEL_IDENTITY_LEN + 1])
{
    return tu_func_identity(descriptor, out);
}

teeu_status tu_kernel_params_canonical(const char *json, size_t len, char **out)
{
    return tu_params_canonical(json, len, out);
}

static const tk_kernel *kernel_by_name(const char *name, size_t name_len)
{
    for (size_t i = 0; i < TU_ARRAY_LEN(tk_kernels); i++)
        if (strlen(tk_kernels[i].info.name) == name_len && memcmp(tk_kernels[i].info.name, name, name_len) == 0)
            return &tk_kernels[i];
    return NULL;
}

static teeu_status bad_param(const tk_kernel *k, const char *key, const char *why)
{
    return tu_error(TEEU_ERR_INVALID_ARGUMENT, "kernel %s@%u: parameter \"%s\" %s (allowed: %s)",
                    k->info.name, k->info.version, key, why, k->info.params);
}

static teeu_status parse_axis(const tk_kernel *k, const tk_jvalue *v, tk_params *p)
{
    p->axis_given = true;
    memset(&p->axis, 0, sizeof(p->axis));
    if (v->type == TK_J_NULL) {
        if (k->params & TK_P_AXIS_INT)
            return bad_param(k, "axis", "must be an integer, not null");
        p->axis.all = true;
        return TEEU_OK;
    }
    if (v->type == TK_J_INT) {
        p->axis.n = 1;
        p->axis.v[0] = v->i;
        return TEEU_OK;
    }
    if (v->type == TK_J_ARRAY && (k->params & TK_P_AXIS)) {
        if (v->n > TK_MAX_DIMS)
            return bad_param(k, "axis", "has more entries than an array has dimensions");
        for (size_t i = 0; i < v->n; i++) {
            if (v->items[i].type != TK_J_INT)
                return bad_param(k, "axis", "must be a list of integers");
            p->axis.v[i] = v->items[i].i;
        }
        p->axis.tuple = true;
        p->axis.n = v->n;
        return TEEU_OK;
    }
    return bad_param(k, "axis", (k->params & TK_P_AXIS) ? "must be null, an integer or a list of integers"
                                : (k->params & TK_P_AXIS_INT) ? "must be an integer"
                                                              : "must be null or an integer");
}

static teeu_status parse_params(const tk_kernel *k, const tk_jobject *obj, tk_params *p)
{
    memset(p, 0, sizeof(*p));
    p->axis.all = (k->params & TK_P_AXIS) != 0; /* reductions: all axes by default */
    if (!(k->params & TK_P_AXIS)) {
        p->axis.n = 1; /* concatenate, stack: axis 0 by default */
        p->axis.v[0] = 0;
    }
    for (size_t i = 0; i < obj->n; i++) {
        const char *key = obj->members[i].key;
        const tk_jvalue *v = &obj->members[i].value;
        teeu_status st = TEEU_OK;
        if (strcmp(key, "axis") == 0 && (k->params & (TK_P_AXIS | TK_P_AXIS_INT | TK_P_AXIS_INT_NULL))) {
            st = parse_axis(k, v, p);
        } else if (strcmp(key, "ddof") == 0 && (k->params & TK_P_DDOF)) {
            if (v->type != TK_J_INT)
                return bad_param(k, key, "must be an integer");
            if (v->i < -((int64_t)1 << 53) || v->i > ((int64_t)1 << 53))
                return bad_param(k, key, "is out of range");
            p->ddof = v->i;
        } else if (strcmp(key, "weights") == 0 && (k->params & TK_P_WEIGHTS)) {
            if (v->type != TK_J_BOOL)
                return bad_param(k, key, "must be true or false");
            p->weights = v->b;
        } else {
            return tu_error(TEEU_ERR_INVALID_ARGUMENT,
                            "kernel %s@%u: unknown parameter \"%s\" (allowed: %s)", k->info.name,
                            k->info.version, key, k->info.params);
        }
        if (st != TEEU_OK)
            return st;
    }
    return TEEU_OK;
}

static bool name_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static teeu_status make_fn(const tk_kernel *k, const char *json, size_t json_len, tu_kernel_fn **out)
{
    tk_jobject obj;
    teeu_status st = tk_json_parse_object(json, json_len, &obj);
    if (st != TEEU_OK)
        return tu_error_context(st, "kernel %s@%u", k->info.name, k->info.version);
    tu_kernel_fn *fn = calloc(1, sizeof(*fn));
    tu_buf buf = {0};
    if (fn == NULL) {
        st = tu_error(TEEU_ERR_NOMEM, "out of memory for a kernel function");
        goto done;
    }
    fn->kernel = k;
    st = parse_params(k, &obj, &fn->params);
    if (st == TEEU_OK)
        st = tu_buf_printf(&buf, "%s@%u", k->info.name, k->info.version);
    if (st == TEEU_OK)
        st = tk_json_write_canonical(&obj, &buf);
    if (st == TEEU_OK)
        st = tu_buf_append(&buf, "", 1);
    if (st == TEEU_OK && buf.len > TU_KERNEL_DESCRIPTOR_MAX)
        st = tu_error(TEEU_ERR_LIMIT, "kernel descriptor longer than %d bytes", TU_KERNEL_DESCRIPTOR_MAX);
    if (st == TEEU_OK) {
        size_t n;
        fn->descriptor = (char *)tu_buf_release(&buf, &n);
        st = tu_kernel_identity(fn->descriptor, fn->identity);
    }
done:
    tu_buf_free(&buf);
    tk_json_object_clear(&obj);
    if (st != TEEU_OK) {
        tu_kernel_fn_free(fn);
        return st;
    }
    *out = fn;
    return TEEU_OK;
}

static teeu_status lookup(const char *name, size_t name_len, unsigned long version, const tk_kernel **out)
{
    const tk_kernel *k = kernel_by_name(name, name_len);
    if (k == NULL)
        return tu_error(TEEU_ERR_UNSUPPORTED, "unknown kernel \"%.*s\" (teeud --list-kernels lists them)",
                        (int)(name_len > 64 ? 64 : name_len), name);
    if (version != k->info.version)
        return tu_error(TEEU_ERR_UNSUPPORTED, "kernel %s has version %u, not %lu", k->info.name,
                        k->info.version, version);
    *out = k;
    return TEEU_OK;
}

teeu_status tu_kernel_find(const char *descriptor, tu_kernel_fn **out)
{
    if (out != NULL)
        *out = NULL;
    if (descriptor == NULL || out == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "kernel descriptor: NULL argument");
    size_t len = strnlen(descriptor, TU_KERNEL_DESCRIPTOR_MAX + 1);
    if (len > TU_KERNEL_DESCRIPTOR_MAX)
        return tu_error(TEEU_ERR_LIMIT, "kernel descriptor longer than %d bytes", TU_KERNEL_DESCRIPTOR_MAX);
    size_t i = 0;
    while (i < len && name_char_ok(descriptor[i]))
        i++;
    size_t name_len = i;
    if (name_len == 0 || i >= len || descriptor[i] != '@')
        return tu_error(TEEU_ERR_INVALID_ARGUMENT,
                        "kernel descriptor \"%.64s\" is not name@version{params}, e.g. average@1{\"axis\":1}",
                        descriptor);
    i++;
    unsigned long version = 0;
    size_t vstart = i;
    while (i < len && descriptor[i] >= '0' && descriptor[i] <= '9' && i - vstart < 9)
        version = version * 10 + (unsigned long)(descriptor[i++] - '0');
    if (i == vstart || i >= len || descriptor[i] != '{' || (descriptor[vstart] == '0' && i - vstart > 1))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT,
                        "kernel descriptor \"%.64s\": expected a decimal version then {params} after '@'",
                        descriptor);
    const tk_kernel *k;
    teeu_status st = lookup(descriptor, name_len, version, &k);
    if (st != TEEU_OK)
        return st;
    return make_fn(k, descriptor + i, len - i, out);
}

teeu_status tu_kernel_find_parts(const char *name, unsigned version, const char *params_json,
                                 tu_kernel_fn **out)
{
    if (out != NULL)
        *out = NULL;
    if (name == NULL || out == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "kernel: NULL name or output");
    const char *json = params_json != NULL && params_json[0] != '\0' ? params_json : "{}";
    size_t json_len = strnlen(json, TU_KERNEL_DESCRIPTOR_MAX + 1);
    if (json_len > TU_KERNEL_DESCRIPTOR_MAX)
        return tu_error(TEEU_ERR_LIMIT, "kernel params longer than %d bytes", TU_KERNEL_DESCRIPTOR_MAX);
    const tk_kernel *k;
    teeu_status st = lookup(name, strlen(name), version, &k);
    if (st != TEEU_OK)
        return st;
    return make_fn(k, json, json_len, out);
}

void tu_kernel_fn_free(tu_kernel_fn *fn)
{
    if (fn == NULL)
        return;
    free(fn->descriptor);
    free(fn);
}

const char *tu_kernel_fn_descriptor(const tu_kernel_fn *fn)
{
    return fn->descriptor;
}

const char *tu_kernel_fn_identity(const tu_kernel_fn *fn)
{
    return fn->identity;
}

const tu_kernel_info *tu_kernel_fn_info(const tu_kernel_fn *fn)
{
    return &fn->kernel->info;
}

void tu_kernel_fn_input_range(const tu_kernel_fn *fn, size_t *min_inputs, size_t *max_inputs)
{
    *min_inputs = fn->kernel->min_inputs + (fn->params.weights ? 1 : 0);
    *max_inputs = fn->kernel->max_inputs;
}

teeu_status tu_kernel_run(const tu_kernel_fn *fn, const teeu_ndarray *const *inputs, size_t n_inputs,
                          teeu_ndarray **out)
{
    if (out != NULL)
        *out = NULL;
    if (fn == NULL || out == NULL || (inputs == NULL && n_inputs > 0))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "kernel run: NULL argument");
    const tk_kernel *k = fn->kernel;
    for (size_t i = 0; i < n_inputs; i++)
        if (inputs[i] == NULL)
            return tu_error(TEEU_ERR_INVALID_ARGUMENT, "%s: input %zu is NULL", fn->descriptor, i);
    size_t min_in = k->min_inputs + (fn->params.weights ? 1 : 0);
    if (n_inputs < min_in || n_inputs > k->max_inputs) {
        if (k->min_inputs == k->max_inputs)
            return tu_error(TEEU_ERR_INVALID_ARGUMENT, "%s takes %zu inputs, got %zu", fn->descriptor,
                            k->min_inputs, n_inputs);
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "%s takes %zu to %zu inputs, got %zu", fn->descriptor,
                        min_in, k->max_inputs, n_inputs);
    }
    teeu_status st = k->impl(&fn->params, inputs, n_inputs, out);
    if (st != TEEU_OK)
        return tu_error_context(st, "%s", fn->descriptor);
    return TEEU_OK;
}

teeu_status tu_kernel_list(char **out)
{
    *out = NULL;
    tu_buf buf = {0};
    teeu_status st = TEEU_OK;
    for (size_t i = 0; st == TEEU_OK && i < TU_ARRAY_LEN(tk_kernels); i++) {
        const tu_kernel_info *info = &tk_kernels[i].info;
        char desc[128];
        char id[TU_KERNEL_IDENTITY_LEN + 1];
        snprintf(desc, sizeof(desc), "%s@%u{}", info->name, info->version);
        st = tu_kernel_identity(desc, id);
        if (st == TEEU_OK)
            st = tu_buf_printf(&buf, "%-16s %s  params: %s  (%s)\n", desc, id, info->params, info->summary);
    }
    if (st == TEEU_OK)
        st = tu_buf_append(&buf, "", 1);
    if (st != TEEU_OK) {
        tu_buf_free(&buf);
        return st;
    }
    size_t n;
    *out = (char *)tu_buf_release(&buf, &n);
    return TEEU_OK;
}
