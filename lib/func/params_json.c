/*
 * The params JSON subset kernels accept, parsed from untrusted bytes with
 * fixed bounds, and its canonical text (sorted keys, no spaces), which is
 * what the identity hash covers.
 */
#include <stdlib.h>
#include <string.h>

#include "func/func_internal.h"

typedef struct tu_jparser {
    const char *s;
    size_t len;
    size_t pos;
} tu_jparser;

static teeu_status jp_fail(const tu_jparser *p, const char *what)
{
    return tu_error(TEEU_ERR_JSON, "params JSON: %s at offset %zu", what, p->pos);
}

static void jp_skip_ws(tu_jparser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static bool jp_peek(tu_jparser *p, char c)
{
    jp_skip_ws(p);
    return p->pos < p->len && p->s[p->pos] == c;
}

static bool jp_literal(tu_jparser *p, const char *lit)
{
    size_t n = strlen(lit);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, lit, n) != 0)
        return false;
    p->pos += n;
    return true;
}

static int jp_hex4(const char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;
        v = v << 4 | d;
    }
    return v;
}

static size_t utf8_put(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of a valid UTF-8 sequence starting at s (at most avail bytes), 0 if invalid. */
static size_t utf8_valid_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) { n = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; cp = c & 0x07; }
    else return 0;
    if (avail < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* Parses a string at p (opening quote next); *out is malloc'ed, decoded UTF-8. */
static teeu_status jp_string(tu_jparser *p, char **out)
{
    *out = NULL;
    jp_skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != '"')
        return jp_fail(p, "expected a string");
    p->pos++;
    char tmp[TU_PJSON_MAX_STRING + 4];
    size_t n = 0;
    for (;;) {
        if (p->pos >= p->len)
            return jp_fail(p, "unterminated string");
        if (n > TU_PJSON_MAX_STRING)
            return tu_error(TEEU_ERR_LIMIT, "params JSON: string longer than %d bytes at offset %zu",
                            TU_PJSON_MAX_STRING, p->pos);
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20)
            return jp_fail(p, "control character in string");
        if (c != '\\') {
            size_t k = utf8_valid_len((const unsigned char *)p->s + p->pos, p->len - p->pos);
            if (k == 0)
                return jp_fail(p, "invalid UTF-8 in string");
            memcpy(tmp + n, p->s + p->pos, k);
            n += k;
            p->pos += k;
            continue;
        }
        if (p->pos + 1 >= p->len)
            return jp_fail(p, "unterminated escape");
        char e = p->s[p->pos + 1];
        p->pos += 2;
        switch (e) {
        case '"': tmp[n++] = '"'; break;
        case '\\': tmp[n++] = '\\'; break;
        case '/': tmp[n++] = '/'; break;
        case 'b': tmp[n++] = '\b'; break;
        case 'f': tmp[n++] = '\f'; break;
        case 'n': tmp[n++] = '\n'; break;
        case 'r': tmp[n++] = '\r'; break;
        case 't': tmp[n++] = '\t'; break;
        case 'u': {
            int hi = p->len - p->pos >= 4 ? jp_hex4(p->s + p->pos) : -1;
            if (hi < 0)
                return jp_fail(p, "bad \\u escape");
            p->pos += 4;
            uint32_t cp = (uint32_t)hi;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return jp_fail(p, "lone low surrogate");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                int lo = p->len - p->pos >= 6 && p->s[p->pos] == '\\' && p->s[p->pos + 1] == 'u'
                             ? jp_hex4(p->s + p->pos + 2) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return jp_fail(p, "high surrogate without its low surrogate");
                p->pos += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
            }
            if (cp == 0)
                return jp_fail(p, "NUL character in string");
            n += utf8_put(tmp + n, cp);
            break;
        }
        default:
            return jp_fail(p, "unknown escape");
        }
    }
    *out = tu_memdup(tmp, n);
    if (*out == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory for params JSON");
    return TEEU_OK;
}

/* Integers only: JSON's -?(0|[1-9][0-9]*), within int64. */
static teeu_status jp_int(tu_jparser *p, int64_t *out)
{
    size_t start = p->pos;
    bool neg = false;
    if (p->pos < p->len && p->s[p->pos] == '-') {
        neg = true;
        p->pos++;
    }
    if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9') {
        p->pos = start;
        return jp_fail(p, "expected a value");
    }
    if (p->s[p->pos] == '0' && p->pos + 1 < p->len && p->s[p->pos + 1] >= '0' && p->s[p->pos + 1] <= '9')
        return jp_fail(p, "number with a leading zero");
    uint64_t mag = 0;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        uint64_t d = (uint64_t)(p->s[p->pos] - '0');
        if (mag > (UINT64_MAX - d) / 10)
            return tu_error(TEEU_ERR_JSON, "params JSON: integer out of range at offset %zu", start);
        mag = mag * 10 + d;
        p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == '.' || p->s[p->pos] == 'e' || p->s[p->pos] == 'E'))
        return tu_error(TEEU_ERR_JSON,
                        "params JSON: only integer numbers are allowed (offset %zu); write e.g. 1, not 1.0",
                        start);
    if ((!neg && mag > (uint64_t)INT64_MAX) || (neg && mag > (uint64_t)INT64_MAX + 1))
        return tu_error(TEEU_ERR_JSON, "params JSON: integer out of the int64 range at offset %zu", start);
    *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return TEEU_OK;
}

static void jvalue_clear(tu_jvalue *v)
{
    if (v->type == TU_J_STRING)
        free(v->s);
    if (v->type == TU_J_ARRAY) {
        for (size_t i = 0; i < v->n; i++)
            jvalue_clear(&v->items[i]);
        free(v->items);
    }
    memset(v, 0, sizeof(*v));
}

static teeu_status jp_value(tu_jparser *p, tu_jvalue *v, bool allow_array)
{
    memset(v, 0, sizeof(*v));
    jp_skip_ws(p);
    if (p->pos >= p->len)
        return jp_fail(p, "expected a value");
    char c = p->s[p->pos];
    if (c == 'n' && jp_literal(p, "null")) {
        v->type = TU_J_NULL;
        return TEEU_OK;
    }
    if (c == 't' && jp_literal(p, "true")) {
        v->type = TU_J_BOOL;
        v->b = true;
        return TEEU_OK;
    }
    if (c == 'f' && jp_literal(p, "false")) {
        v->type = TU_J_BOOL;
        return TEEU_OK;
    }
    if (c == '"') {
        v->type = TU_J_STRING;
        return jp_string(p, &v->s);
    }
    if (c == '{')
        return jp_fail(p, "nested objects are not allowed in params");
    if (c == '[') {
        if (!allow_array)
            return jp_fail(p, "nested arrays are not allowed in params");
        p->pos++;
        v->type = TU_J_ARRAY;
        v->items = calloc(TU_PJSON_MAX_ARRAY, sizeof(*v->items));
        if (v->items == NULL)
            return tu_error(TEEU_ERR_NOMEM, "out of memory for params JSON");
        if (jp_peek(p, ']')) {
            p->pos++;
            return TEEU_OK;
        }
        for (;;) {
            if (v->n == TU_PJSON_MAX_ARRAY)
                return tu_error(TEEU_ERR_LIMIT, "params JSON: array longer than %d entries",
                                TU_PJSON_MAX_ARRAY);
            teeu_status st = jp_value(p, &v->items[v->n], false);
            if (st != TEEU_OK)
                return st;
            v->n++;
            jp_skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == ',') {
                p->pos++;
                continue;
            }
            if (p->pos < p->len && p->s[p->pos] == ']') {
                p->pos++;
                return TEEU_OK;
            }
            return jp_fail(p, "expected ',' or ']' in array");
        }
    }
    v->type = TU_J_INT;
    return jp_int(p, &v->i);
}

static int member_cmp(const void *a, const void *b)
{
    return strcmp(((const tu_jmember *)a)->key, ((const tu_jmember *)b)->key);
}

static teeu_status jp_object(tu_jparser *p, tu_jobject *obj)
{
    jp_skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != '{')
        return jp_fail(p, "params must be a JSON object");
    p->pos++;
    if (jp_peek(p, '}')) {
        p->pos++;
        return TEEU_OK;
    }
    for (;;) {
        if (obj->n == TU_PJSON_MAX_KEYS)
            return tu_error(TEEU_ERR_LIMIT, "params JSON: more than %d keys", TU_PJSON_MAX_KEYS);
        tu_jmember *m = &obj->members[obj->n];
        teeu_status st = jp_string(p, &m->key);
        if (st != TEEU_OK)
            return st;
        obj->n++; /* owns key from here on */
        if (!jp_peek(p, ':'))
            return jp_fail(p, "expected ':' after key");
        p->pos++;
        st = jp_value(p, &m->value, true);
        if (st != TEEU_OK)
            return st;
        jp_skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == '}') {
            p->pos++;
            return TEEU_OK;
        }
        return jp_fail(p, "expected ',' or '}' in object");
    }
}

teeu_status tu_params_json_parse(const char *json, size_t len, tu_jobject *obj)
{
    memset(obj, 0, sizeof(*obj));
    tu_jparser p = {json, len, 0};
    teeu_status st = jp_object(&p, obj);
    if (st == TEEU_OK) {
        jp_skip_ws(&p);
        if (p.pos != p.len)
            st = jp_fail(&p, "trailing characters after the params object");
    }
    if (st == TEEU_OK) {
        qsort(obj->members, obj->n, sizeof(obj->members[0]), member_cmp);
        for (size_t i = 1; i < obj->n; i++)
            if (strcmp(obj->members[i - 1].key, obj->members[i].key) == 0)
                st = tu_error(TEEU_ERR_JSON, "params JSON: duplicate key \"%s\"", obj->members[i].key);
    }
    if (st != TEEU_OK)
        tu_params_json_clear(obj);
    return st;
}

void tu_params_json_clear(tu_jobject *obj)
{
    for (size_t i = 0; i < obj->n; i++) {
        free(obj->members[i].key);
        jvalue_clear(&obj->members[i].value);
    }
    memset(obj, 0, sizeof(*obj));
}

static teeu_status write_string(const char *s, tu_buf *buf)
{
    teeu_status st = tu_buf_append_str(buf, "\"");
    for (const unsigned char *c = (const unsigned char *)s; st == TEEU_OK && *c; c++) {
        switch (*c) {
        case '"': st = tu_buf_append_str(buf, "\\\""); break;
        case '\\': st = tu_buf_append_str(buf, "\\\\"); break;
        case '\b': st = tu_buf_append_str(buf, "\\b"); break;
        case '\f': st = tu_buf_append_str(buf, "\\f"); break;
        case '\n': st = tu_buf_append_str(buf, "\\n"); break;
        case '\r': st = tu_buf_append_str(buf, "\\r"); break;
        case '\t': st = tu_buf_append_str(buf, "\\t"); break;
        default:
            if (*c < 0x20)
                st = tu_buf_printf(buf, "\\u%04x", *c);
            else
                st = tu_buf_append(buf, c, 1);
        }
    }
    if (st == TEEU_OK)
        st = tu_buf_append_str(buf, "\"");
    return st;
}

static teeu_status write_value(const tu_jvalue *v, tu_buf *buf)
{
    switch (v->type) {
    case TU_J_NULL: return tu_buf_append_str(buf, "null");
    case TU_J_BOOL: return tu_buf_append_str(buf, v->b ? "true" : "false");
    case TU_J_INT: return tu_buf_printf(buf, "%lld", (long long)v->i);
    case TU_J_STRING: return write_string(v->s, buf);
    case TU_J_ARRAY: {
        teeu_status st = tu_buf_append_str(buf, "[");
        for (size_t i = 0; st == TEEU_OK && i < v->n; i++) {
            if (i > 0)
                st = tu_buf_append_str(buf, ",");
            if (st == TEEU_OK)
                st = write_value(&v->items[i], buf);
        }
        return st == TEEU_OK ? tu_buf_append_str(buf, "]") : st;
    }
    }
    return tu_error(TEEU_ERR_INTERNAL_BUG, "params JSON: unknown value type %d", (int)v->type);
}

teeu_status tu_params_json_write_canonical(const tu_jobject *obj, tu_buf *buf)
{
    teeu_status st = tu_buf_append_str(buf, "{");
    for (size_t i = 0; st == TEEU_OK && i < obj->n; i++) {
        if (i > 0)
            st = tu_buf_append_str(buf, ",");
        if (st == TEEU_OK)
            st = write_string(obj->members[i].key, buf);
        if (st == TEEU_OK)
            st = tu_buf_append_str(buf, ":");
        if (st == TEEU_OK)
            st = write_value(&obj->members[i].value, buf);
    }
    return st == TEEU_OK ? tu_buf_append_str(buf, "}") : st;
}

teeu_status tu_params_canonical(const char *json, size_t len, char **out)
{
    *out = NULL;
    if (json == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "params JSON: NULL input");
    tu_jobject obj;
    teeu_status st = tu_params_json_parse(json, len, &obj);
    if (st != TEEU_OK)
        return st;
    tu_buf buf = {0};
    st = tu_params_json_write_canonical(&obj, &buf);
    if (st == TEEU_OK)
        st = tu_buf_append(&buf, "", 1);
    tu_params_json_clear(&obj);
    if (st != TEEU_OK) {
        tu_buf_free(&buf);
        return st;
    }
    size_t n;
    *out = (char *)tu_buf_release(&buf, &n);
    return TEEU_OK;
}
