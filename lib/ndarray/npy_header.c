/*
 * The .npy preamble and header: writing it exactly as numpy.save does and
 * reading it with a strict parser for the small Python-dict-literal subset
 * numpy writes. Nothing here touches array data.
 *
 * Layout: "\x93NUMPY", major, minor, header length (uint16 LE for 1.0,
 * uint32 LE for 2.0/3.0), then the header: a dict literal such as
 *   {'descr': '<f8', 'fortran_order': False, 'shape': (4, 3), }
 * padded with spaces and ended by '\n' so that the data starts at a
 * multiple of 64 bytes.
 */
#include <stdio.h>
#include <string.h>

#include "core/core_internal.h"
#include "ndarray_internal.h"

static const uint8_t npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* numpy.lib.format.GROWTH_AXIS_MAX_DIGITS: spare room numpy leaves after the dict. */
#define GROWTH_AXIS_MAX_DIGITS 21
/* The smallest header any valid array can have, '\n' included. */
#define MIN_HEADER_LEN (sizeof("{'descr':'|b1','fortran_order':False,'shape':()}") - 1 + 1)

/* ---- writing --------------------------------------------------------------- */

static size_t preamble_len(unsigned major)
{
    return major == 1 ? TU_NPY_MAGIC_LEN + 2 : TU_NPY_MAGIC_LEN + 4;
}

/* The dict text numpy writes (keys sorted, repr'd values, trailing ", "), plus its growth padding. */
static size_t header_text(const tu_npy_plan *plan, char *text, size_t cap)
{
    const teeu_ndarray *arr = plan->arr;
    char order = arr->itemsize == 1 ? '|' : plan->byte_order == TEEU_BYTE_ORDER_BIG ? '>' : '<';
    int n = snprintf(text, cap, "{'descr': '%c%s', 'fortran_order': %s, 'shape': (", order,
                     tu_dtype_code(arr->dtype), plan->fortran_order ? "True" : "False");
    size_t len = (size_t)n;
    for (size_t i = 0; i < arr->ndim; i++)
        len += (size_t)snprintf(text + len, cap - len, i == 0 ? "%zu" : ", %zu", arr->shape[i]);
    len += (size_t)snprintf(text + len, cap - len, "%s), }", arr->ndim == 1 ? "," : "");
    if (arr->ndim > 0) {
        /* numpy >= 1.23 leaves room to grow the axis that can be appended to. */
        char digits[32];
        size_t axis = plan->fortran_order ? arr->ndim - 1 : 0;
        size_t nd = (size_t)snprintf(digits, sizeof digits, "%zu", arr->shape[axis]);
        for (size_t i = nd; i < GROWTH_AXIS_MAX_DIGITS; i++)
            text[len++] = ' ';
    }
    text[len] = '\0';
    return len;
}

/* 64 dims of 20 digits and separators, the keys and the growth padding fit easily. */
#define HEADER_TEXT_CAP 2048

static teeu_status header_layout(const tu_npy_plan *plan, char *text, size_t *text_len, unsigned *major,
                                 size_t *header_len)
{
    *text_len = header_text(plan, text, HEADER_TEXT_CAP);
    unsigned v = plan->format_major;
    for (unsigned try = v ? v : 1; try <= 3; try++) {
        size_t pre = preamble_len(try);
        size_t hlen = *text_len + 1; /* the final '\n' */
        size_t pad = TU_NPY_ALIGN - (pre + hlen) % TU_NPY_ALIGN;
        if (hlen + pad <= TU_NPY_MAX_HEADER_LEN) {
            *major = try;
            *header_len = hlen + pad;
            return TEEU_OK;
        }
        if (v != 0)
            break;
    }
    return tu_error(TEEU_ERR_LIMIT, ".npy encode: header of %zu bytes does not fit format %u.0",
                    *text_len, v ? v : 1);
}

teeu_status tu_npy_header_size(const tu_npy_plan *plan, size_t *len)
{
    char text[HEADER_TEXT_CAP];
    size_t text_len, header_len;
    unsigned major;
    teeu_status st = header_layout(plan, text, &text_len, &major, &header_len);
    if (st == TEEU_OK)
        *len = preamble_len(major) + header_len;
    return st;
}

teeu_status tu_npy_header_encode(const tu_npy_plan *plan, uint8_t *buf, size_t cap, size_t *len)
{
    char text[HEADER_TEXT_CAP];
    size_t text_len, header_len;
    unsigned major;
    teeu_status st = header_layout(plan, text, &text_len, &major, &header_len);
    if (st != TEEU_OK)
        return st;
    size_t pre = preamble_len(major), total = pre + header_len;
    if (cap < total)
        return tu_error(TEEU_ERR_BUFFER_TOO_SMALL, ".npy encode: the header needs %zu bytes, the buffer has %zu",
                        total, cap);
    memcpy(buf, npy_magic, sizeof npy_magic);
    buf[6] = (uint8_t)major;
    buf[7] = 0;
    for (size_t i = 0; i < pre - TU_NPY_MAGIC_LEN; i++)
        buf[TU_NPY_MAGIC_LEN + i] = (uint8_t)(header_len >> (8 * i));
    memcpy(buf + pre, text, text_len);
    memset(buf + pre + text_len, ' ', header_len - text_len - 1);
    buf[total - 1] = '\n';
    *len = total;
    return TEEU_OK;
}

/* ---- reading ----------------------------------------------------------------- */

typedef struct cursor {
    const char *p;
    const char *end;
} cursor;

static void skip_spaces(cursor *c)
{
    while (c->p < c->end && *c->p == ' ')
        c->p++;
}

static bool at(const cursor *c, char ch)
{
    return c->p < c->end && *c->p == ch;
}

static bool is_ident_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
}

/* A short excerpt of the text at the cursor, for messages. */
static const char *excerpt(const cursor *c, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = c->p; p < c->end && n + 1 < cap && n < 16; p++)
        out[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
    out[n] = '\0';
    return n ? out : "end of header";
}

#define SYNTAX_ERROR(c, what)                                                                           \
    do {                                                                                                \
        char ex_[24];                                                                                   \
        return tu_error(TEEU_ERR_NPY_HEADER_SYNTAX, ".npy header: %s at byte %td (\"%s\")", what,       \
                        (c)->p - hdr_start, excerpt((c), ex_, sizeof ex_));                             \
    } while (0)

/* A quoted literal (single or double quotes) of printable ASCII, without escapes; s and n point into the header. */
static teeu_status parse_string(cursor *c, const char *hdr_start, const char **s, size_t *n)
{
    char quote = *c->p;
    const char *start = ++c->p;
    while (c->p < c->end && *c->p != quote) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch == '\\')
            SYNTAX_ERROR(c, "escape sequences in strings are not supported");
        if (ch < 0x20 || ch >= 0x7f)
            SYNTAX_ERROR(c, "string holds a control or non-ASCII character");
        c->p++;
    }
    if (c->p >= c->end)
        return tu_error(TEEU_ERR_NPY_HEADER_SYNTAX, ".npy header: unterminated string starting at byte %td",
                        start - 1 - hdr_start);
    *s = start;
    *n = (size_t)(c->p - start);
    c->p++;
    return TEEU_OK;
}

static bool str_is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static teeu_status parse_descr(cursor *c, const char *hdr_start, teeu_npy_info *info)
{
    if (at(c, '['))
        return tu_error(TEEU_ERR_NPY_DTYPE,
                        ".npy header: structured dtypes (a list descr) are not supported; "
                        "libteeu reads bool, int8..int64, uint8..uint64, float16/32/64, complex64/128");
    if (!at(c, '\'') && !at(c, '"'))
        return tu_error(TEEU_ERR_NPY_DTYPE, ".npy header: descr must be a string such as '<f8'");
    const char *s;
    size_t n;
    teeu_status st = parse_string(c, hdr_start, &s, &n);
    if (st != TEEU_OK)
        return st;
    teeu_byte_order order = TEEU_BYTE_ORDER_NATIVE;
    bool not_applicable = false;
    if (n >= 1) {
        switch (s[0]) {
        case '<': order = TEEU_BYTE_ORDER_LITTLE; break;
        case '>': order = TEEU_BYTE_ORDER_BIG; break;
        case '=': order = tu_native_byte_order(); break;
        case '|': not_applicable = true; break;
        default:
            return tu_error(TEEU_ERR_NPY_DTYPE,
                            ".npy header: descr '%.*s' lacks a byte-order character (<, >, = or |)",
                            (int)(n < 32 ? n : 32), s);
        }
    }
    for (int d = TEEU_DTYPE_BOOL; n >= 1 && d <= TEEU_DTYPE_COMPLEX128; d++) {
        if (!str_is(s + 1, n - 1, tu_dtype_code((teeu_dtype)d)))
            continue;
        size_t size = teeu_dtype_size((teeu_dtype)d);
        if (not_applicable && size > 1)
            return tu_error(TEEU_ERR_NPY_DTYPE,
                            ".npy header: descr '%.*s' uses '|' (no byte order) for a %zu-byte type",
                            (int)n, s, size);
        info->dtype = (teeu_dtype)d;
        /* Byte order means nothing for 1-byte types; report LITTLE as documented. */
        info->byte_order = size == 1 ? TEEU_BYTE_ORDER_LITTLE : order;
        return TEEU_OK;
    }
    return tu_error(TEEU_ERR_NPY_DTYPE,
                    ".npy header: unsupported dtype '%.*s'; libteeu reads bool, int8..int64, "
                    "uint8..uint64, float16/32/64 and complex64/128 (not strings, objects, "
                    "datetimes or structured types)",
                    (int)(n < 32 ? n : 32), s);
}

static teeu_status parse_fortran_order(cursor *c, teeu_npy_info *info)
{
    static const char *const words[2] = {"False", "True"};
    for (int v = 0; v < 2; v++) {
        size_t n = strlen(words[v]);
        if ((size_t)(c->end - c->p) >= n && memcmp(c->p, words[v], n) == 0 &&
            (c->p + n == c->end || !is_ident_char(c->p[n]))) {
            c->p += n;
            info->fortran_order = v;
            return TEEU_OK;
        }
    }
    char ex[24];
    return tu_error(TEEU_ERR_NPY_FORTRAN_ORDER, ".npy header: fortran_order must be True or False, not \"%s\"",
                    excerpt(c, ex, sizeof ex));
}

static teeu_status parse_dim(cursor *c, size_t *dim)
{
    char ex[24];
    if (at(c, '-'))
        return tu_error(TEEU_ERR_NPY_SHAPE, ".npy header: shape has a negative dimension \"%s\"",
                        excerpt(c, ex, sizeof ex));
    if (c->p >= c->end || *c->p < '0' || *c->p > '9')
        return tu_error(TEEU_ERR_NPY_SHAPE,
                        ".npy header: shape entries must be non-negative integers, found \"%s\"",
                        excerpt(c, ex, sizeof ex));
    if (*c->p == '0' && c->p + 1 < c->end && c->p[1] >= '0' && c->p[1] <= '9')
        return tu_error(TEEU_ERR_NPY_SHAPE, ".npy header: shape entry with a leading zero \"%s\"",
                        excerpt(c, ex, sizeof ex));
    const char *start = c->p;
    size_t v = 0;
    bool overflow = false;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        overflow |= tu_mul_overflows(v, 10, &v) || tu_add_overflows(v, (size_t)(*c->p - '0'), &v);
        c->p++;
    }
    if (c->p < c->end && (is_ident_char(*c->p) || *c->p == '.'))
        return tu_error(TEEU_ERR_NPY_SHAPE, ".npy header: shape entry \"%.*s\" is not a plain integer",
                        (int)(c->p - start + 1), start);
    if (overflow)
        return tu_error(TEEU_ERR_NPY_SIZE_OVERFLOW, ".npy header: shape entry %.*s is too large",
                        (int)(c->p - start), start);
    *dim = v;
    return TEEU_OK;
}

static teeu_status parse_shape(cursor *c, teeu_npy_info *info)
{
    if (!at(c, '('))
        return tu_error(TEEU_ERR_NPY_SHAPE, ".npy header: shape must be a tuple such as (4, 3) or (5,)");
    c->p++;
    size_t ndim = 0;
    bool trailing_comma = false;
    for (;;) {
        skip_spaces(c);
        if (at(c, ')'))
            break;
        if (ndim > 0 && !trailing_comma)
            return tu_error(TEEU_ERR_NPY_SHAPE, ".npy header: shape entries must be separated by ','");
        if (ndim == TEEU_NDARRAY_MAX_DIMS)
            return tu_error(TEEU_ERR_NPY_SHAPE, ".npy header: shape has more than %d dimensions",
                            TEEU_NDARRAY_MAX_DIMS);
        teeu_status st = parse_dim(c, &info->shape[ndim]);
        if (st != TEEU_OK)
            return st;
        ndim++;
        skip_spaces(c);
        trailing_comma = at(c, ',');
        if (trailing_comma)
            c->p++;
    }
    c->p++;
    if (ndim == 1 && !trailing_comma)
        return tu_error(TEEU_ERR_NPY_SHAPE, ".npy header: shape (%zu) is not a tuple; a 1-d shape is written (%zu,)",
                        info->shape[0], info->shape[0]);
    info->ndim = ndim;
    return TEEU_OK;
}

enum { KEY_DESCR = 1, KEY_FORTRAN = 2, KEY_SHAPE = 4 };

static teeu_status parse_entry(cursor *c, const char *hdr_start, teeu_npy_info *info, unsigned *seen)
{
    if (!at(c, '\'') && !at(c, '"'))
        SYNTAX_ERROR(c, "expected a quoted key");
    const char *key;
    size_t n;
    teeu_status st = parse_string(c, hdr_start, &key, &n);
    if (st != TEEU_OK)
        return st;
    unsigned which = str_is(key, n, "descr") ? KEY_DESCR
                     : str_is(key, n, "fortran_order") ? KEY_FORTRAN
                     : str_is(key, n, "shape") ? KEY_SHAPE
                                                   : 0;
    if (which == 0)
        return tu_error(TEEU_ERR_NPY_HEADER_KEYS,
                        ".npy header: unknown key '%.*s' (only 'descr', 'fortran_order' and 'shape' are allowed)",
                        (int)(n < 32 ? n : 32), key);
    if (*seen & which)
        return tu_error(TEEU_ERR_NPY_HEADER_KEYS, ".npy header: key '%.*s' appears twice", (int)n, key);
    *seen |= which;
    skip_spaces(c);
    if (!at(c, ':'))
        SYNTAX_ERROR(c, "expected ':' after a key");
    c->p++;
    skip_spaces(c);
    switch (which) {
    case KEY_DESCR: return parse_descr(c, hdr_start, info);
    case KEY_FORTRAN: return parse_fortran_order(c, info);
    default: return parse_shape(c, info);
    }
}

/* Parses the dict at c, then requires only padding spaces up to the end. */
static teeu_status parse_dict(cursor *c, teeu_npy_info *info)
{
    const char *hdr_start = c->p;
    if (!at(c, '{'))
        SYNTAX_ERROR(c, "header does not start with '{'");
    c->p++;
    unsigned seen = 0;
    for (;;) {
        skip_spaces(c);
        if (at(c, '}'))
            break;
        teeu_status st = parse_entry(c, hdr_start, info, &seen);
        if (st != TEEU_OK)
            return st;
        skip_spaces(c);
        if (at(c, ','))
            c->p++;
        else if (!at(c, '}'))
            SYNTAX_ERROR(c, "expected ',' or '}'");
    }
    c->p++;
    static const char *const names[3] = {"descr", "fortran_order", "shape"};
    for (int i = 0; i < 3; i++)
        if (!(seen & (1u << i)))
            return tu_error(TEEU_ERR_NPY_HEADER_KEYS, ".npy header: key '%s' is missing", names[i]);
    while (c->p < c->end) {
        if (*c->p != ' ')
            return tu_error(TEEU_ERR_NPY_HEADER_PADDING,
                            ".npy header: byte 0x%02x after the dict at byte %td; only spaces may pad the header",
                            (unsigned char)*c->p, c->p - hdr_start);
        c->p++;
    }
    return TEEU_OK;
}

/* Fills data_len and checks that shape x itemsize fits (strides included, as teeu_ndarray_new needs). */
static teeu_status check_sizes(teeu_npy_info *info)
{
    size_t span = teeu_dtype_size(info->dtype), size = 1;
    for (size_t i = 0; i < info->ndim; i++) {
        size_t dim = info->shape[i] ? info->shape[i] : 1;
        if (tu_mul_overflows(span, dim, &span) || span > (size_t)PTRDIFF_MAX)
            return tu_error(TEEU_ERR_NPY_SIZE_OVERFLOW,
                            ".npy header: the shape's byte size overflows (axis %zu has %zu elements)", i,
                            info->shape[i]);
        size *= info->shape[i];
    }
    info->data_len = size * teeu_dtype_size(info->dtype);
    return TEEU_OK;
}

static teeu_status need_more(size_t want, size_t *need, const char *where, size_t have)
{
    if (need != NULL)
        *need = want;
    return tu_error(TEEU_ERR_NPY_TRUNCATED, ".npy input ends inside the %s (%zu of %zu bytes)", where, have, want);
}

teeu_status tu_npy_parse_header(const uint8_t *bytes, size_t len, teeu_npy_info *info, size_t *need)
{
    if (need != NULL)
        *need = 0;
    if (info == NULL || (bytes == NULL && len > 0))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "tu_npy_parse_header: NULL argument");
    memset(info, 0, sizeof *info);
    size_t cmp = len < sizeof npy_magic ? len : sizeof npy_magic;
    if (memcmp(bytes ? bytes : npy_magic, npy_magic, cmp) != 0)
        return tu_error(TEEU_ERR_NPY_MAGIC, "not a .npy file: it does not start with \"\\x93NUMPY\"");
    if (len < TU_NPY_MAGIC_LEN)
        return need_more(TU_NPY_MAGIC_LEN + 2, need, "magic string", len);
    unsigned major = bytes[6], minor = bytes[7];
    if (major < 1 || major > 3 || minor != 0)
        return tu_error(TEEU_ERR_NPY_VERSION, ".npy format version %u.%u is not supported (1.0, 2.0 and 3.0 are)",
                        major, minor);
    size_t pre = preamble_len(major);
    if (len < pre)
        return need_more(pre, need, "header length field", len);
    size_t hl = 0;
    for (size_t i = 0; i < pre - TU_NPY_MAGIC_LEN; i++)
        hl |= (size_t)bytes[TU_NPY_MAGIC_LEN + i] << (8 * i);
    if (hl < MIN_HEADER_LEN || hl > TU_NPY_MAX_HEADER_LEN)
        return tu_error(TEEU_ERR_NPY_HEADER_LENGTH,
                        ".npy header length %zu is out of bounds (%zu..%u bytes)", hl, (size_t)MIN_HEADER_LEN,
                        TU_NPY_MAX_HEADER_LEN);
    if (len - pre < hl)
        return need_more(pre + hl, need, "header", len);
    const char *text = (const char *)bytes + pre;
    if (text[hl - 1] != '\n')
        return tu_error(TEEU_ERR_NPY_HEADER_PADDING, ".npy header does not end with a newline");
    info->format_major = major;
    info->format_minor = minor;
    cursor c = {text, text + hl - 1};
    teeu_status st = parse_dict(&c, info);
    if (st != TEEU_OK)
        return st;
    info->header_len = pre + hl;
    return check_sizes(info);
}
