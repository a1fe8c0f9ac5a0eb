/* Bounded, strict JSON reader with byte spans; JSON string writer. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"

#define TU_JSON_DEFAULT_MAX_INPUT ((size_t)16 << 20)
#define TU_JSON_DEFAULT_MAX_DEPTH 64
#define TU_JSON_DEFAULT_MAX_NODES 1000000

typedef struct tu_json_parser {
    const char *s;
    size_t len;
    size_t pos;
    size_t depth;
    size_t nodes;
    tu_json_limits lim;
} tu_json_parser;

static teeu_status tu_json_value(tu_json_parser *p, tu_json **out);

static teeu_status tu_json_fail(const tu_json_parser *p, const char *what)
{
    if (p->pos >= p->len)
        return tu_error(TEEU_ERR_JSON, "JSON: %s at offset %zu (input ends there: truncated?)",
                        what, p->pos);
    return tu_error(TEEU_ERR_JSON, "JSON: %s at offset %zu", what, p->pos);
}

static void tu_json_skip_ws(tu_json_parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static teeu_status tu_json_new_node(tu_json_parser *p, tu_json_type type, tu_json **out)
{
    if (++p->nodes > p->lim.max_nodes)
        return tu_error(TEEU_ERR_LIMIT, "JSON: more than %zu values", p->lim.max_nodes);
    tu_json *n = calloc(1, sizeof *n);
    if (n == NULL)
        return tu_error(TEEU_ERR_NOMEM, "JSON: out of memory");
    n->type = type;
    n->start = p->pos;
    *out = n;
    return TEEU_OK;
}

static int tu_hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool tu_json_read_u4(tu_json_parser *p, uint32_t *v)
{
    if (p->len - p->pos < 4)
        return false;
    uint32_t r = 0;
    for (int i = 0; i < 4; i++) {
        int d = tu_hexval(p->s[p->pos + (size_t)i]);
        if (d < 0)
            return false;
        r = r << 4 | (uint32_t)d;
    }
    p->pos += 4;
    *v = r;
    return true;
}

static size_t tu_utf8_put(uint32_t cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of a valid UTF-8 sequence starting at s (at most n bytes), or 0. */
static size_t tu_utf8_valid_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t need;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) { need = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { need = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { need = 4; cp = c & 0x07; }
    else return 0;
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if ((need == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (need == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return need;
}

/* Parses a string starting at the opening quote; output is unescaped. */
static teeu_status tu_json_string(tu_json_parser *p, char **out, size_t *out_len)
{
    p->pos++; /* opening quote */
    /* The unescaped form is never longer than the escaped one. */
    size_t scan = p->pos;
    while (scan < p->len && p->s[scan] != '"') {
        if (p->s[scan] == '\\')
            scan++;
        scan++;
    }
    if (scan >= p->len) {
        p->pos = p->len;
        return tu_json_fail(p, "unterminated string");
    }
    char *o = malloc(scan - p->pos + 1);
    if (o == NULL)
        return tu_error(TEEU_ERR_NOMEM, "JSON: out of memory");
    size_t n = 0;
    while (p->s[p->pos] != '"') {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c < 0x20) {
            free(o);
            return tu_json_fail(p, "control character in string");
        }
        if (c != '\\') {
            size_t k = tu_utf8_valid_len((const unsigned char *)p->s + p->pos, p->len - p->pos);
            if (k == 0) {
                free(o);
                return tu_json_fail(p, "invalid UTF-8 in string");
            }
            memcpy(o + n, p->s + p->pos, k);
            n += k;
            p->pos += k;
            continue;
        }
        p->pos++;
        char e = p->s[p->pos++];
        switch (e) {
        case '"': o[n++] = '"'; break;
        case '\\': o[n++] = '\\'; break;
        case '/': o[n++] = '/'; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'n': o[n++] = '\n'; break;
        case 'r': o[n++] = '\r'; break;
        case 't': o[n++] = '\t'; break;
        case 'u': {
            uint32_t cp;
            if (!tu_json_read_u4(p, &cp)) {
                free(o);
                return tu_json_fail(p, "bad \\u escape");
            }
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
                free(o);
                return tu_json_fail(p, "lone low surrogate in \\u escape");
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
                    free(o);
                    return tu_json_fail(p, "high surrogate not followed by \\u low surrogate");
                }
                p->pos += 2;
                if (!tu_json_read_u4(p, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                    free(o);
                    return tu_json_fail(p, "bad low surrogate");
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            n += tu_utf8_put(cp, o + n);
            break;
        }
        default:
            p->pos--;
            free(o);
            return tu_json_fail(p, "unknown escape in string");
        }
    }
    p->pos++; /* closing quote */
    o[n] = '\0';
    *out = o;
    *out_len = n;
    return TEEU_OK;
}

static teeu_status tu_json_number(tu_json_parser *p, tu_json *n)
{
    size_t b = p->pos;
    bool integral = true;
    if (p->pos < p->len && p->s[p->pos] == '-')
        p->pos++;
    if (p->pos >= p->len)
        return tu_json_fail(p, "truncated number");
    if (p->s[p->pos] == '0') {
        p->pos++;
    } else if (p->s[p->pos] >= '1' && p->s[p->pos] <= '9') {
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
    } else {
        return tu_json_fail(p, "invalid number");
    }
    if (p->pos < p->len && p->s[p->pos] == '.') {
        integral = false;
        p->pos++;
        size_t d = p->pos;
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
        if (d == p->pos)
            return tu_json_fail(p, "number has no digits after '.'");
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        integral = false;
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
            p->pos++;
        size_t d = p->pos;
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
        if (d == p->pos)
            return tu_json_fail(p, "number has no exponent digits");
    }
    size_t nlen = p->pos - b;
    if (nlen > 64)
        return tu_json_fail(p, "number literal longer than 64 characters");
    char tmp[72];
    memcpy(tmp, p->s + b, nlen);
    tmp[nlen] = '\0';
    n->num = strtod(tmp, NULL);
    if (integral) {
        errno = 0;
        long long v = strtoll(tmp, NULL, 10);
        if (errno == 0) {
            n->is_int = true;
            n->i64 = (int64_t)v;
        }
    }
    return TEEU_OK;
}

static teeu_status tu_json_literal(tu_json_parser *p, const char *word)
{
    size_t wl = strlen(word);
    if (p->len - p->pos < wl || memcmp(p->s + p->pos, word, wl) != 0)
        return tu_json_fail(p, "invalid literal");
    p->pos += wl;
    return TEEU_OK;
}

static teeu_status tu_json_container(tu_json_parser *p, tu_json *n)
{
    bool is_obj = n->type == TU_JSON_OBJECT;
    char close = is_obj ? '}' : ']';
    if (++p->depth > p->lim.max_depth)
        return tu_error(TEEU_ERR_LIMIT, "JSON: nesting deeper than %zu at offset %zu",
                        p->lim.max_depth, p->pos);
    p->pos++;
    tu_json_skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        p->depth--;
        return TEEU_OK;
    }
    tu_json **tail = &n->child;
    for (;;) {
        char *key = NULL;
        size_t key_len = 0;
        tu_json_skip_ws(p);
        if (is_obj) {
            if (p->pos >= p->len || p->s[p->pos] != '"')
                return tu_json_fail(p, "expected a member name");
            teeu_status st = tu_json_string(p, &key, &key_len);
            if (st != TEEU_OK)
                return st;
            for (const tu_json *m = n->child; m != NULL; m = m->next) {
                if (m->key_len == key_len && memcmp(m->key, key, key_len) == 0) {
                    free(key);
                    return tu_json_fail(p, "duplicate member name");
                }
            }
            tu_json_skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') {
                free(key);
                return tu_json_fail(p, "expected ':'");
            }
            p->pos++;
            tu_json_skip_ws(p);
        }
        tu_json *child = NULL;
        teeu_status st = tu_json_value(p, &child);
        if (child != NULL) {
            child->key = key;
            child->key_len = key_len;
            *tail = child;
            tail = &child->next;
            n->count++;
        } else {
            free(key);
        }
        if (st != TEEU_OK)
            return st;
        tu_json_skip_ws(p);
        if (p->pos >= p->len)
            return tu_json_fail(p, is_obj ? "unterminated object" : "unterminated array");
        if (p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->s[p->pos] == close) {
            p->pos++;
            p->depth--;
            return TEEU_OK;
        }
        return tu_json_fail(p, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

/* On failure *out may hold a partial node (linked by the caller, then freed). */
static teeu_status tu_json_value(tu_json_parser *p, tu_json **out)
{
    *out = NULL;
    tu_json_skip_ws(p);
    if (p->pos >= p->len)
        return tu_json_fail(p, "expected a value");
    char c = p->s[p->pos];
    tu_json_type type;
    switch (c) {
    case '{': type = TU_JSON_OBJECT; break;
    case '[': type = TU_JSON_ARRAY; break;
    case '"': type = TU_JSON_STRING; break;
    case 't': case 'f': type = TU_JSON_BOOL; break;
    case 'n': type = TU_JSON_NULL; break;
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            type = TU_JSON_NUMBER;
            break;
        }
        return tu_json_fail(p, "unexpected character");
    }
    tu_json *n = NULL;
    teeu_status st = tu_json_new_node(p, type, &n);
    if (st != TEEU_OK)
        return st;
    *out = n;
    switch (type) {
    case TU_JSON_OBJECT:
    case TU_JSON_ARRAY: st = tu_json_container(p, n); break;
    case TU_JSON_STRING: st = tu_json_string(p, &n->str, &n->str_len); break;
    case TU_JSON_NUMBER: st = tu_json_number(p, n); break;
    case TU_JSON_NULL: st = tu_json_literal(p, "null"); break;
    case TU_JSON_BOOL:
        n->boolean = c == 't';
        st = tu_json_literal(p, n->boolean ? "true" : "false");
        break;
    }
    n->end = p->pos;
    return st;
}

teeu_status tu_json_parse(const char *text, size_t len, const tu_json_limits *limits, tu_json **out)
{
    if (out == NULL)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "tu_json_parse: out is NULL");
    *out = NULL;
    if (text == NULL && len != 0)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "tu_json_parse: text is NULL");
    tu_json_parser p = {.s = text, .len = len};
    if (limits != NULL)
        p.lim = *limits;
    if (p.lim.max_input == 0) p.lim.max_input = TU_JSON_DEFAULT_MAX_INPUT;
    if (p.lim.max_depth == 0) p.lim.max_depth = TU_JSON_DEFAULT_MAX_DEPTH;
    if (p.lim.max_nodes == 0) p.lim.max_nodes = TU_JSON_DEFAULT_MAX_NODES;
    if (len > p.lim.max_input)
        return tu_error(TEEU_ERR_LIMIT, "JSON: input of %zu bytes exceeds the %zu-byte limit",
                        len, p.lim.max_input);
    tu_json *root = NULL;
    teeu_status st = tu_json_value(&p, &root);
    if (st == TEEU_OK) {
        tu_json_skip_ws(&p);
        if (p.pos != p.len)
            st = tu_json_fail(&p, "unexpected bytes after the JSON value");
    }
    if (st != TEEU_OK) {
        tu_json_free(root);
        return st;
    }
    *out = root;
    return TEEU_OK;
}

void tu_json_free(tu_json *root)
{
    /* Depth is bounded by the parser, so recursion here is bounded too. */
    tu_json *n = root;
    while (n != NULL) {
        tu_json *next = n->next;
        tu_json_free(n->child);
        free(n->key);
        free(n->str);
        free(n);
        n = next;
    }
}

const tu_json *tu_json_get(const tu_json *obj, const char *key)
{
    if (obj == NULL || obj->type != TU_JSON_OBJECT || key == NULL)
        return NULL;
    size_t kl = strlen(key);
    for (const tu_json *m = obj->child; m != NULL; m = m->next)
        if (m->key_len == kl && memcmp(m->key, key, kl) == 0)
            return m;
    return NULL;
}

const tu_json *tu_json_at(const tu_json *arr, size_t index)
{
    if (arr == NULL || arr->type != TU_JSON_ARRAY)
        return NULL;
    const tu_json *m = arr->child;
    for (size_t i = 0; m != NULL && i < index; i++)
        m = m->next;
    return m;
}

const char *tu_json_str(const tu_json *v)
{
    return v != NULL && v->type == TU_JSON_STRING ? v->str : NULL;
}

const char *tu_json_type_name(tu_json_type type)
{
    switch (type) {
    case TU_JSON_NULL: return "null";
    case TU_JSON_BOOL: return "boolean";
    case TU_JSON_NUMBER: return "number";
    case TU_JSON_STRING: return "string";
    case TU_JSON_ARRAY: return "array";
    case TU_JSON_OBJECT: return "object";
    }
    return "unknown";
}

teeu_status tu_json_get_typed(const tu_json *obj, const char *key, const char *what,
                              tu_json_type type, const tu_json **out)
{
    *out = NULL;
    const tu_json *v = tu_json_get(obj, key);
    if (v == NULL)
        return tu_error(TEEU_ERR_JSON, "%s: member \"%s\" is missing", what, key);
    if (v->type != type)
        return tu_error(TEEU_ERR_JSON, "%s: member \"%s\" is a %s, expected a %s", what, key,
                        tu_json_type_name(v->type), tu_json_type_name(type));
    *out = v;
    return TEEU_OK;
}

teeu_status tu_json_get_string(const tu_json *obj, const char *key, const char *what,
                               const char **s, size_t *len)
{
    const tu_json *v;
    teeu_status st = tu_json_get_typed(obj, key, what, TU_JSON_STRING, &v);
    if (st != TEEU_OK)
        return st;
    *s = v->str;
    if (len != NULL)
        *len = v->str_len;
    return TEEU_OK;
}

teeu_status tu_json_get_int(const tu_json *obj, const char *key, const char *what, int64_t min,
                            int64_t max, int64_t *out)
{
    const tu_json *v;
    teeu_status st = tu_json_get_typed(obj, key, what, TU_JSON_NUMBER, &v);
    if (st != TEEU_OK)
        return st;
    if (!v->is_int || v->i64 < min || v->i64 > max)
        return tu_error(TEEU_ERR_JSON, "%s: member \"%s\" must be an integer in [%lld, %lld]",
                        what, key, (long long)min, (long long)max);
    *out = v->i64;
    return TEEU_OK;
}

teeu_status tu_json_append_string(tu_buf *buf, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    teeu_status st = tu_buf_append(buf, "\"", 1);
    for (size_t i = 0; i < len && st == TEEU_OK; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            st = tu_buf_append(buf, esc, 2);
        } else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            st = tu_buf_append(buf, esc, 6);
        } else {
            st = tu_buf_append(buf, &s[i], 1);
        }
    }
    if (st == TEEU_OK)
        st = tu_buf_append(buf, "\"", 1);
    return st;
}
