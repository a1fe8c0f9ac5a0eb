/* Bounded whole-file reads and atomic, durable whole-file writes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core_internal.h"

teeu_status tu_read_file(const char *path, size_t max_len, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tu_error(TEEU_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    teeu_status st = TEEU_OK;
    tu_buf buf = {0};
    for (;;) {
        if ((st = tu_buf_reserve(&buf, 65536)) != TEEU_OK)
            break;
        ssize_t n = read(fd, buf.data + buf.len, buf.cap - buf.len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            st = tu_error(TEEU_ERR_IO, "cannot read %s: %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        buf.len += (size_t)n;
        if (buf.len > max_len) {
            st = tu_error(TEEU_ERR_LIMIT, "%s is larger than the %zu-byte limit", path, max_len);
            break;
        }
    }
    close(fd);
    if (st == TEEU_OK)
        st = tu_buf_append(&buf, "", 1);
    if (st != TEEU_OK) {
        tu_buf_free(&buf);
        return st;
    }
    *out = tu_buf_release(&buf, out_len);
    *out_len -= 1;
    return TEEU_OK;
}

static teeu_status tu_write_all(int fd, const char *path, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return tu_error(TEEU_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        p += n;
        len -= (size_t)n;
    }
    return TEEU_OK;
}

static teeu_status tu_fsync_parent(const char *path)
{
    char *dir = tu_strdup(path);
    if (dir == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory");
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        strcpy(dir, ".");
    else if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    teeu_status st = TEEU_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0)
        st = tu_error(TEEU_ERR_IO, "cannot sync folder %s: %s", dir, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(dir);
    return st;
}

teeu_status tu_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
    tu_buf tmp = {0};
    teeu_status st = tu_buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
    if (st != TEEU_OK)
        return st;
    const char *tmp_path = (const char *)tmp.data;
    int fd = open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    if (fd < 0) {
        st = tu_error(TEEU_ERR_IO, "cannot create %s: %s", tmp_path, strerror(errno));
        goto out;
    }
    st = tu_write_all(fd, tmp_path, data, len);
    if (st == TEEU_OK && fsync(fd) != 0)
        st = tu_error(TEEU_ERR_IO, "cannot sync %s: %s", tmp_path, strerror(errno));
    close(fd);
    if (st == TEEU_OK && rename(tmp_path, path) != 0)
        st = tu_error(TEEU_ERR_IO, "cannot rename %s to %s: %s", tmp_path, path, strerror(errno));
    if (st != TEEU_OK)
        unlink(tmp_path);
    else
        st = tu_fsync_parent(path);
out:
    tu_buf_free(&tmp);
    return st;
}
