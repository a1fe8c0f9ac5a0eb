/*
 * The teeud spool: objects/ and results/ under the state folder. Each entry
 * is <uuid>.seg (the stream segments, ciphertext || tag each, back to back)
 * and <uuid>.json (its metadata). An entry exists once its .json exists:
 * the data is written to <uuid>.seg.tmp, fsynced and renamed, then the
 * metadata is written atomically (temp file, fsync, rename) and the folder
 * fsynced. Start-up removes temp files and .seg files without metadata, so
 * a half-received object never becomes visible.
 *
 * Recycling: the .seg file of a deleted entry (of at least SPARE_MIN bytes,
 * that nobody is reading) is moved to spare/ rather than unlinked, up to
 * spare_cap bytes in all, and the next large upload overwrites it. Writing
 * into pages a file already has costs about half of writing into fresh ones
 * (page allocation, accounting: ~0.05 s per 256 MiB on tmpfs here), the
 * reason databases recycle their log files. spare/ is emptied at start-up.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "crypto/crypto_internal.h"
#include "teeud_internal.h"

#define META_MAX_BYTES (1u << 20)
/* Smaller files are unlinked: their pages cost little to allocate again. */
#define SPARE_MIN ((uint64_t)1 << 20)

typedef struct entry {
    td_kind kind;
    char *uuid;
    char *owner_id;
    bool pending;     /* upload in progress */
    unsigned readers; /* td_store_open_data without td_store_close_data */
    uint64_t gen;     /* tells a later entry of the same uuid (deleted, then put again) from this one */
} entry;

typedef struct spare {
    char *path;
    uint64_t size;
} spare;

struct td_store {
    char *dir[2];    /* objects/, results/ */
    char *spare_dir; /* spare/ */
    pthread_mutex_t lock;
    entry *entries;
    size_t n, cap;
    uint64_t next_gen;
    spare *spares;   /* oldest first */
    size_t n_spares, cap_spares;
    uint64_t spare_bytes, spare_cap, spare_seq;
};

struct td_writer {
    td_store *st;
    td_kind kind;
    char *uuid;
    char *tmp_path;
    int fd;
    bool recycled;   /* the file is a spare: cut it to size at commit */
    uint64_t bytes;
};

static const char *kind_dir[2] = {"objects", "results"};

bool td_uuid_valid(const char *uuid)
{
    size_t n = strlen(uuid);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = uuid[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

void td_meta_clear(td_meta *m)
{
    free(m->uuid);
    free(m->owner_id);
    free(m->sealed_key);
    for (size_t i = 0; i < m->n_revealers; i++)
        free(m->revealers[i]);
    free(m->revealers);
    free(m->function);
    memset(m, 0, sizeof *m);
}

size_t td_segment_pt_len(const td_meta *m, uint64_t i)
{
    if (i + 1 < m->n_segments)
        return (size_t)m->segment_size;
    return (size_t)(m->plaintext_size - (m->n_segments - 1) * m->segment_size);
}

static char *path_of(const td_store *st, td_kind kind, const char *uuid, const char *ext)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s%s", st->dir[kind], uuid, ext) < 0)
        return NULL;
    return p;
}

static teeu_status fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return tu_error(TEEU_ERR_IO, "cannot open folder %s: %s", dir, strerror(errno));
    int rv = fsync(fd);
    int err = errno;
    close(fd);
    if (rv != 0)
        return tu_error(TEEU_ERR_IO, "cannot fsync folder %s: %s", dir, strerror(err));
    return TEEU_OK;
}

/* ---- metadata JSON ---------------------------------------------------------- */

static char *meta_to_json(const td_meta *m)
{
    char hdr[65];
    tu_hex_encode_to(m->stream_header, 32, false, hdr);
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:I}", "kind",
                          m->kind == TD_RESULT ? "result" : "object", "uuid", m->uuid, "owner_id", m->owner_id,
                          "plaintext_size", (json_int_t)m->plaintext_size, "segment_size",
                          (json_int_t)m->segment_size, "n_segments", (json_int_t)m->n_segments, "stored_bytes",
                          (json_int_t)m->stored_bytes, "stream_header", hdr, "created_ms",
                          (json_int_t)m->created_ms);
    if (o == NULL)
        return NULL;
    if (m->kind == TD_RESULT) {
        json_t *rev = json_array();
        for (size_t i = 0; rev && i < m->n_revealers; i++)
            json_array_append_new(rev, json_string(m->revealers[i]));
        if (rev == NULL || json_object_set_new(o, "revealers", rev) != 0 ||
            json_object_set_new(o, "sealed_key", json_string(m->sealed_key ? m->sealed_key : "")) != 0 ||
            json_object_set_new(o, "allow_plaintext", json_boolean(m->allow_plaintext)) != 0 ||
            json_object_set_new(o, "function", json_string(m->function ? m->function : "")) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return text;
}

static teeu_status meta_from_json(const char *path, const uint8_t *text, size_t len, td_meta *m)
{
    memset(m, 0, sizeof *m);
    json_error_t err;
    json_t *o = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &err);
    if (o == NULL)
        return tu_error(TEEU_ERR_JSON, "%s: corrupt metadata: %s", path, err.text);
    const char *kind = NULL, *uuid = NULL, *owner = NULL, *hdr = NULL;
    json_int_t pt = 0, seg = 0, nseg = 0, stored = 0, created = 0;
    teeu_status st = TEEU_OK;
    if (json_unpack(o, "{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s?I}", "kind", &kind, "uuid", &uuid, "owner_id",
                    &owner, "plaintext_size", &pt, "segment_size", &seg, "n_segments", &nseg, "stored_bytes",
                    &stored, "stream_header", &hdr, "created_ms", &created) != 0 ||
        pt < 0 || seg <= 0 || nseg <= 0 || stored < 0) {
        st = tu_error(TEEU_ERR_JSON, "%s: metadata lacks a field or has a bad value", path);
        goto out;
    }
    m->kind = strcmp(kind, "result") == 0 ? TD_RESULT : TD_OBJECT;
    m->uuid = tu_strdup(uuid);
    m->owner_id = tu_strdup(owner);
    m->plaintext_size = (uint64_t)pt;
    m->segment_size = (uint64_t)seg;
    m->n_segments = (uint64_t)nseg;
    m->stored_bytes = (uint64_t)stored;
    m->created_ms = created;
    if (m->uuid == NULL || m->owner_id == NULL) {
        st = tu_error(TEEU_ERR_NOMEM, "metadata");
        goto out;
    }
    if ((st = tu_hex_decode_to(hdr, strlen(hdr), m->stream_header, 32)) != TEEU_OK)
        goto out;
    /* The segment layout must add up, or reading would run past buffers. */
    uint64_t full = m->n_segments - 1, before, expect;
    if (m->segment_size > TU_STREAM_MAX_SEGMENT || __builtin_mul_overflow(full, m->segment_size, &before) ||
        before > m->plaintext_size ||
        m->plaintext_size - before > m->segment_size ||
        __builtin_mul_overflow(m->n_segments, (uint64_t)TU_GCM_TAG_LEN, &expect) ||
        __builtin_add_overflow(expect, m->plaintext_size, &expect) || expect != m->stored_bytes) {
        st = tu_error(TEEU_ERR_JSON, "%s: inconsistent segment layout (damaged metadata)", path);
        goto out;
    }
    if (m->kind == TD_RESULT) {
        json_t *rev = json_object_get(o, "revealers");
        const char *key = json_string_value(json_object_get(o, "sealed_key"));
        const char *fn = json_string_value(json_object_get(o, "function"));
        if (!json_is_array(rev) || key == NULL || fn == NULL) {
            st = tu_error(TEEU_ERR_JSON, "%s: result metadata lacks revealers/sealed_key/function", path);
            goto out;
        }
        m->allow_plaintext = json_is_true(json_object_get(o, "allow_plaintext"));
        m->sealed_key = tu_strdup(key);
        m->function = tu_strdup(fn);
        m->n_revealers = json_array_size(rev);
        m->revealers = calloc(m->n_revealers ? m->n_revealers : 1, sizeof *m->revealers);
        if (m->sealed_key == NULL || m->function == NULL || m->revealers == NULL) {
            st = tu_error(TEEU_ERR_NOMEM, "metadata");
            goto out;
        }
        for (size_t i = 0; i < m->n_revealers; i++) {
            const char *r = json_string_value(json_array_get(rev, i));
            if (r == NULL || (m->revealers[i] = tu_strdup(r)) == NULL) {
                st = tu_error(TEEU_ERR_JSON, "%s: bad revealer", path);
                goto out;
            }
        }
    }
out:
    json_decref(o);
    if (st != TEEU_OK)
        td_meta_clear(m);
    return st;
}

static teeu_status read_meta(td_store *st, td_kind kind, const char *uuid, td_meta *m)
{
    char *path = path_of(st, kind, uuid, ".json");
    if (path == NULL)
        return tu_error(TEEU_ERR_NOMEM, "path");
    uint8_t *text = NULL;
    size_t len = 0;
    teeu_status s = tu_read_file(path, META_MAX_BYTES, &text, &len);
    if (s == TEEU_OK)
        s = meta_from_json(path, text, len, m);
    if (s == TEEU_OK && (strcmp(m->uuid, uuid) != 0 || m->kind != kind)) {
        s = tu_error(TEEU_ERR_JSON, "%s: metadata names another entry (damaged or moved file)", path);
        td_meta_clear(m);
    }
    free(text);
    free(path);
    return s;
}

/* ---- the index ---------------------------------------------------------------- */

static entry *find_entry(td_store *st, const char *uuid)
{
    for (size_t i = 0; i < st->n; i++)
        if (strcmp(st->entries[i].uuid, uuid) == 0)
            return &st->entries[i];
    return NULL;
}

static teeu_status add_entry(td_store *st, td_kind kind, const char *uuid, const char *owner, bool pending)
{
    if (st->n == st->cap) {
        size_t ncap = st->cap ? st->cap * 2 : 64;
        entry *grown = realloc(st->entries, ncap * sizeof *grown);
        if (grown == NULL)
            return tu_error(TEEU_ERR_NOMEM, "spool index");
        st->entries = grown;
        st->cap = ncap;
    }
    entry *e = &st->entries[st->n];
    e->kind = kind;
    e->pending = pending;
    e->readers = 0;
    e->gen = ++st->next_gen;
    e->uuid = tu_strdup(uuid);
    e->owner_id = tu_strdup(owner);
    if (e->uuid == NULL || e->owner_id == NULL) {
        free(e->uuid);
        free(e->owner_id);
        return tu_error(TEEU_ERR_NOMEM, "spool index");
    }
    st->n++;
    return TEEU_OK;
}

static void remove_entry(td_store *st, const char *uuid)
{
    entry *e = find_entry(st, uuid);
    if (e == NULL)
        return;
    free(e->uuid);
    free(e->owner_id);
    *e = st->entries[--st->n];
}

/* Start-up: drop leftovers of interrupted writes, index committed entries. */
static teeu_status scan_dir(td_store *st, td_kind kind)
{
    DIR *d = opendir(st->dir[kind]);
    if (d == NULL)
        return tu_error(TEEU_ERR_IO, "cannot read folder %s: %s", st->dir[kind], strerror(errno));
    teeu_status s = TEEU_OK;
    struct dirent *de;
    while (s == TEEU_OK && (de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        size_t n = strlen(name);
        if (name[0] == '.')
            continue;
        char *full = NULL;
        if (asprintf(&full, "%s/%s", st->dir[kind], name) < 0)
            return tu_error(TEEU_ERR_NOMEM, "path");
        if (n > 4 && strcmp(name + n - 4, ".tmp") == 0) {
            tu_log(TEEU_LOG_INFO, "teeud: removing the leftover of an interrupted write: %s", full);
            unlink(full);
        } else if (n > 4 && strcmp(name + n - 4, ".seg") == 0) {
            char *uuid = tu_memdup(name, n - 4);
            char *meta = uuid ? path_of(st, kind, uuid, ".json") : NULL;
            if (meta && access(meta, F_OK) != 0) {
                tu_log(TEEU_LOG_INFO, "teeud: removing data without metadata (interrupted commit): %s", full);
                unlink(full);
            }
            free(meta);
            free(uuid);
        } else if (n > 5 && strcmp(name + n - 5, ".json") == 0) {
            char *uuid = tu_memdup(name, n - 5);
            td_meta m;
            if (uuid == NULL) {
                s = tu_error(TEEU_ERR_NOMEM, "path");
            } else if (read_meta(st, kind, uuid, &m) == TEEU_OK) {
                s = add_entry(st, kind, uuid, m.owner_id, false);
                td_meta_clear(&m);
            } else {
                tu_log(TEEU_LOG_WARN, "teeud: ignoring %s: %s", full, teeu_last_error());
            }
            free(uuid);
        }
        free(full);
    }
    closedir(d);
    return s;
}

/* Start-up: the spares of the last run hold deleted data; drop them. */
static teeu_status empty_spare_dir(const char *dir)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return tu_error(TEEU_ERR_IO, "cannot create folder %s: %s", dir, strerror(errno));
    DIR *d = opendir(dir);
    if (d == NULL)
        return tu_error(TEEU_ERR_IO, "cannot read folder %s: %s", dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            unlinkat(dirfd(d), de->d_name, 0);
    closedir(d);
    return TEEU_OK;
}

teeu_status td_store_open(const char *state_dir, uint64_t spare_cap, td_store **out)
{
    *out = NULL;
    td_store *st = calloc(1, sizeof *st);
    if (st == NULL)
        return tu_error(TEEU_ERR_NOMEM, "spool");
    pthread_mutex_init(&st->lock, NULL);
    st->spare_cap = spare_cap;
    teeu_status s = TEEU_OK;
    if (asprintf(&st->spare_dir, "%s/spare", state_dir) < 0) {
        st->spare_dir = NULL;
        s = tu_error(TEEU_ERR_NOMEM, "path");
    } else {
        s = empty_spare_dir(st->spare_dir);
    }
    for (int k = 0; k < 2 && s == TEEU_OK; k++) {
        if (asprintf(&st->dir[k], "%s/%s", state_dir, kind_dir[k]) < 0) {
            st->dir[k] = NULL;
            s = tu_error(TEEU_ERR_NOMEM, "path");
            break;
        }
        if (mkdir(st->dir[k], 0700) != 0 && errno != EEXIST)
            s = tu_error(TEEU_ERR_IO, "cannot create folder %s: %s", st->dir[k], strerror(errno));
        else
            s = scan_dir(st, (td_kind)k);
    }
    if (s != TEEU_OK) {
        td_store_free(st);
        return s;
    }
    *out = st;
    return TEEU_OK;
}

void td_store_free(td_store *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < st->n; i++) {
        free(st->entries[i].uuid);
        free(st->entries[i].owner_id);
    }
    free(st->entries);
    for (size_t i = 0; i < st->n_spares; i++) {
        unlink(st->spares[i].path);
        free(st->spares[i].path);
    }
    free(st->spares);
    free(st->spare_dir);
    free(st->dir[0]);
    free(st->dir[1]);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

size_t td_store_count_owned(td_store *st, const char *owner_id)
{
    size_t n = 0;
    pthread_mutex_lock(&st->lock);
    for (size_t i = 0; i < st->n; i++)
        if (st->entries[i].kind == TD_OBJECT && strcmp(st->entries[i].owner_id, owner_id) == 0)
            n++;
    pthread_mutex_unlock(&st->lock);
    return n;
}

bool td_store_exists(td_store *st, const char *uuid)
{
    pthread_mutex_lock(&st->lock);
    bool found = find_entry(st, uuid) != NULL;
    pthread_mutex_unlock(&st->lock);
    return found;
}

teeu_status td_store_get(td_store *st, td_kind kind, const char *uuid, td_meta *m)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_lock(&st->lock);
    entry *e = find_entry(st, uuid);
    bool ok = e != NULL && !e->pending && e->kind == kind;
    pthread_mutex_unlock(&st->lock);
    if (!ok)
        return tu_error(TEEU_ERR_NOT_FOUND, "no %s %s on this worker", kind == TD_RESULT ? "result" : "object", uuid);
    return read_meta(st, kind, uuid, m);
}

/* ---- spares ------------------------------------------------------------------- */

/* Takes spare i out of the pool; the caller owns the returned path. Caller holds the lock. */
static char *spare_remove(td_store *st, size_t i)
{
    char *path = st->spares[i].path;
    st->spare_bytes -= st->spares[i].size;
    memmove(&st->spares[i], &st->spares[i + 1], (st->n_spares - i - 1) * sizeof *st->spares);
    st->n_spares--;
    return path;
}

/*
 * Takes the spare for a file of about hint bytes: the smallest that holds
 * it, else the largest. NULL when none is worth it. Caller holds the lock;
 * the caller owns the returned path.
 */
static char *spare_take(td_store *st, uint64_t hint)
{
    if (hint < SPARE_MIN || st->n_spares == 0)
        return NULL;
    size_t best = 0;
    for (size_t i = 1; i < st->n_spares; i++) {
        uint64_t sz = st->spares[i].size, b = st->spares[best].size;
        bool fits = sz >= hint, best_fits = b >= hint;
        if ((fits && (!best_fits || sz < b)) || (!fits && !best_fits && sz > b))
            best = i;
    }
    return spare_remove(st, best);
}

/*
 * Moves the data file of a deleted entry to spare/ (newest last) and takes
 * the oldest spares beyond spare_cap out of the pool: their paths go to
 * *evicted (n_evicted of them; the caller unlinks and frees them after
 * releasing the lock, as unlinking a large file takes a while). False: the
 * file was not kept, and the caller unlinks it. Caller holds the lock.
 */
static bool spare_keep(td_store *st, const char *seg_path, char ***evicted, size_t *n_evicted)
{
    *evicted = NULL;
    *n_evicted = 0;
    struct stat sb;
    if (st->spare_cap == 0 || stat(seg_path, &sb) != 0 || (uint64_t)sb.st_size < SPARE_MIN ||
        (uint64_t)sb.st_size > st->spare_cap)
        return false;
    if (st->n_spares == st->cap_spares) {
        size_t ncap = st->cap_spares ? st->cap_spares * 2 : 8;
        spare *grown = realloc(st->spares, ncap * sizeof *grown);
        if (grown == NULL)
            return false;
        st->spares = grown;
        st->cap_spares = ncap;
    }
    char **out = calloc(st->n_spares + 1, sizeof *out);
    char *path = NULL;
    if (out == NULL || asprintf(&path, "%s/%llu", st->spare_dir, (unsigned long long)++st->spare_seq) < 0) {
        free(out);
        return false;
    }
    if (rename(seg_path, path) != 0) {
        free(path);
        free(out);
        return false;
    }
    st->spares[st->n_spares++] = (spare){.path = path, .size = (uint64_t)sb.st_size};
    st->spare_bytes += (uint64_t)sb.st_size;
    size_t k = 0;
    while (st->spare_bytes > st->spare_cap)
        out[k++] = spare_remove(st, 0);
    *evicted = out;
    *n_evicted = k;
    return true;
}

/* ---- writing ------------------------------------------------------------------ */

teeu_status td_writer_begin(td_store *st, td_kind kind, const char *uuid, const char *owner_id, size_t max_owned,
                            uint64_t size_hint, td_writer **out)
{
    *out = NULL;
    if (!td_uuid_valid(uuid))
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "uuid '%.140s' must be 1..128 characters of [A-Za-z0-9_-]", uuid);
    pthread_mutex_lock(&st->lock);
    teeu_status s = TEEU_OK;
    entry *e = find_entry(st, uuid);
    if (e != NULL) {
        s = tu_error(TEEU_ERR_RPC_ALREADY_EXISTS, "%s %s already %s on this worker: pick a fresh uuid",
                     e->kind == TD_RESULT ? "result" : "object", uuid, e->pending ? "being uploaded" : "exists");
    } else if (kind == TD_OBJECT && max_owned > 0) {
        size_t n = 0;
        for (size_t i = 0; i < st->n; i++)
            if (st->entries[i].kind == TD_OBJECT && strcmp(st->entries[i].owner_id, owner_id) == 0)
                n++;
        if (n >= max_owned)
            s = tu_error(TEEU_ERR_LIMIT,
                         "party %s already stores %zu objects, the limit (max-objects-per-party); delete some first",
                         owner_id, n);
    }
    if (s == TEEU_OK)
        s = add_entry(st, kind, uuid, owner_id, true);
    char *spare_path = s == TEEU_OK ? spare_take(st, size_hint) : NULL;
    pthread_mutex_unlock(&st->lock);
    if (s != TEEU_OK)
        return s;
    td_writer *w = calloc(1, sizeof *w);
    if (w == NULL || (w->uuid = tu_strdup(uuid)) == NULL ||
        (w->tmp_path = path_of(st, kind, uuid, ".seg.tmp")) == NULL) {
        if (w) {
            free(w->uuid);
            free(w);
        }
        if (spare_path)
            unlink(spare_path);
        free(spare_path);
        pthread_mutex_lock(&st->lock);
        remove_entry(st, uuid);
        pthread_mutex_unlock(&st->lock);
        return tu_error(TEEU_ERR_NOMEM, "writer");
    }
    w->st = st;
    w->kind = kind;
    w->fd = -1;
    if (spare_path != NULL) {
        /* Overwritten from offset 0 and cut to size at commit; a crash leaves a .tmp that start-up removes. */
        if (rename(spare_path, w->tmp_path) == 0)
            w->fd = open(w->tmp_path, O_WRONLY | O_CLOEXEC);
        w->recycled = w->fd >= 0;
        if (w->fd < 0) {
            unlink(spare_path);
            unlink(w->tmp_path);
        }
        free(spare_path);
    }
    if (w->fd < 0)
        w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (w->fd < 0) {
        s = tu_error(TEEU_ERR_IO, "cannot create %s: %s", w->tmp_path, strerror(errno));
        w->fd = -1;
        td_writer_abort(w);
        return s;
    }
    *out = w;
    return TEEU_OK;
}

teeu_status td_writer_write(td_writer *w, const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(w->fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return tu_error(TEEU_ERR_IO, "cannot write %s: %s (disk full?)", w->tmp_path,
                            n < 0 ? strerror(errno) : "no progress");
        data += n;
        len -= (size_t)n;
        w->bytes += (uint64_t)n;
    }
    return TEEU_OK;
}

uint64_t td_writer_bytes(const td_writer *w)
{
    return w->bytes;
}

teeu_status td_writer_commit(td_writer *w, const td_meta *m)
{
    td_store *st = w->st;
    char *seg = path_of(st, w->kind, w->uuid, ".seg");
    char *meta = path_of(st, w->kind, w->uuid, ".json");
    char *json = meta_to_json(m);
    teeu_status s = TEEU_OK;
    if (seg == NULL || meta == NULL || json == NULL)
        s = tu_error(TEEU_ERR_NOMEM, "commit");
    else if (w->recycled && ftruncate(w->fd, (off_t)w->bytes) != 0)
        s = tu_error(TEEU_ERR_IO, "cannot cut %s to %llu bytes: %s", w->tmp_path, (unsigned long long)w->bytes,
                     strerror(errno));
    else if (fsync(w->fd) != 0)
        s = tu_error(TEEU_ERR_IO, "cannot fsync %s: %s", w->tmp_path, strerror(errno));
    else if (close(w->fd) != 0)
        s = tu_error(TEEU_ERR_IO, "cannot close %s: %s", w->tmp_path, strerror(errno));
    if (s == TEEU_OK || w->fd >= 0) {
        /* closed above on success */
    }
    if (s == TEEU_OK) {
        w->fd = -1;
        if (rename(w->tmp_path, seg) != 0)
            s = tu_error(TEEU_ERR_IO, "cannot rename %s: %s", w->tmp_path, strerror(errno));
    }
    if (s == TEEU_OK)
        s = tu_write_file_atomic(meta, json, strlen(json), 0600);
    if (s == TEEU_OK)
        s = fsync_dir(st->dir[w->kind]);
    if (s != TEEU_OK) {
        if (meta)
            unlink(meta);
        if (seg)
            unlink(seg);
    }
    free(seg);
    free(meta);
    free(json);
    if (s != TEEU_OK) {
        td_writer_abort(w);
        return s;
    }
    pthread_mutex_lock(&st->lock);
    entry *e = find_entry(st, w->uuid);
    if (e)
        e->pending = false;
    pthread_mutex_unlock(&st->lock);
    free(w->uuid);
    free(w->tmp_path);
    free(w);
    return TEEU_OK;
}

void td_writer_abort(td_writer *w)
{
    if (w == NULL)
        return;
    if (w->fd >= 0)
        close(w->fd);
    unlink(w->tmp_path);
    pthread_mutex_lock(&w->st->lock);
    remove_entry(w->st, w->uuid);
    pthread_mutex_unlock(&w->st->lock);
    free(w->uuid);
    free(w->tmp_path);
    free(w);
}

/* True while generation gen of uuid is in the index. */
static bool entry_alive(td_store *st, const char *uuid, uint64_t gen)
{
    pthread_mutex_lock(&st->lock);
    entry *e = find_entry(st, uuid);
    bool alive = e != NULL && e->gen == gen;
    pthread_mutex_unlock(&st->lock);
    return alive;
}

/* The reader of generation gen of uuid is done (the entry may be gone, or a namesake). */
static void uncount_reader(td_store *st, const char *uuid, uint64_t gen)
{
    pthread_mutex_lock(&st->lock);
    entry *e = find_entry(st, uuid);
    if (e != NULL && e->gen == gen && e->readers > 0)
        e->readers--;
    pthread_mutex_unlock(&st->lock);
}

teeu_status td_store_open_data(td_store *st, td_kind kind, const char *uuid, td_reader *r)
{
    r->fd = -1;
    r->gen = 0;
    char *p = path_of(st, kind, uuid, ".seg");
    if (p == NULL)
        return tu_error(TEEU_ERR_NOMEM, "path");
    /* Counted before the open: a delete from now on unlinks the file rather than recycling it. */
    pthread_mutex_lock(&st->lock);
    entry *e = find_entry(st, uuid);
    if (e != NULL && !e->pending && e->kind == kind) {
        e->readers++;
        r->gen = e->gen;
    }
    pthread_mutex_unlock(&st->lock);
    teeu_status s = TEEU_OK;
    if (r->gen == 0) {
        s = tu_error(TEEU_ERR_NOT_FOUND, "no %s %s on this worker", kind == TD_RESULT ? "result" : "object", uuid);
    } else if ((r->fd = open(p, O_RDONLY | O_CLOEXEC)) < 0) {
        s = tu_error(errno == ENOENT ? TEEU_ERR_NOT_FOUND : TEEU_ERR_IO, "cannot open %s: %s", p, strerror(errno));
        uncount_reader(st, uuid, r->gen);
    } else if (!entry_alive(st, uuid, r->gen)) {
        /* Deleted (and maybe put again) between the count and the open: the file may be the namesake's. */
        close(r->fd);
        r->fd = -1;
        s = tu_error(TEEU_ERR_NOT_FOUND, "%s %s was deleted while being opened", kind == TD_RESULT ? "result" : "object",
                     uuid);
    }
    free(p);
    return s;
}

void td_store_close_data(td_store *st, const char *uuid, td_reader *r)
{
    if (r->fd < 0)
        return;
    close(r->fd);
    r->fd = -1;
    uncount_reader(st, uuid, r->gen);
}

teeu_status td_store_delete(td_store *st, td_kind kind, const char *uuid)
{
    char *meta = path_of(st, kind, uuid, ".json");
    char *seg = path_of(st, kind, uuid, ".seg");
    teeu_status s = TEEU_OK;
    if (meta == NULL || seg == NULL)
        s = tu_error(TEEU_ERR_NOMEM, "path");
    else if (unlink(meta) != 0)
        s = tu_error(TEEU_ERR_IO, "cannot remove %s: %s", meta, strerror(errno));
    if (s == TEEU_OK) {
        char **evicted = NULL, *doomed = NULL;
        size_t n_evicted = 0;
        pthread_mutex_lock(&st->lock);
        entry *e = find_entry(st, uuid);
        bool kept = e != NULL && e->readers == 0 && spare_keep(st, seg, &evicted, &n_evicted);
        if (!kept) {
            /* Out of the uuid's path at once (it may be put again), unlinked below outside the lock. */
            if (asprintf(&doomed, "%s/%llu.del", st->spare_dir, (unsigned long long)++st->spare_seq) < 0)
                doomed = NULL;
            if (doomed == NULL || rename(seg, doomed) != 0) {
                free(doomed);
                doomed = NULL;
                unlink(seg);
            }
        }
        remove_entry(st, uuid);
        pthread_mutex_unlock(&st->lock);
        /* Freeing a large file's pages takes a while: not under the lock. */
        if (doomed != NULL)
            unlink(doomed);
        free(doomed);
        for (size_t i = 0; i < n_evicted; i++) {
            unlink(evicted[i]);
            free(evicted[i]);
        }
        free(evicted);
        s = fsync_dir(st->dir[kind]);
    }
    free(meta);
    free(seg);
    return s;
}
