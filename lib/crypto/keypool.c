/*
 * A pool of fresh RSA key pairs generated ahead of need by a background
 * thread. Each key is handed out once (the protocol's "fresh key per
 * request" still holds); the pool only moves the 0.1–2 s of RSA-3072
 * generation off the request path.
 */
#include <pthread.h>
#include <stdlib.h>

#include "crypto_internal.h"

struct tu_keypool {
    unsigned bits;
    size_t capacity;
    teeu_key **keys;
    size_t count;
    bool stop;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool thread_started;
};

static void *tu_keypool_fill(void *arg)
{
    tu_keypool *p = arg;
    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        if (p->count >= p->capacity) {
            pthread_cond_wait(&p->wake, &p->lock);
            continue;
        }
        pthread_mutex_unlock(&p->lock);
        teeu_key *key = NULL;
        teeu_status st = teeu_key_generate(p->bits, &key);
        pthread_mutex_lock(&p->lock);
        if (st != TEEU_OK) {
            /* Requests fall back to generating inline; say why once. */
            tu_log(TEEU_LOG_WARN, "key pool: generating an RSA-%u key failed: %s", p->bits, teeu_last_error());
            break;
        }
        if (p->stop || p->count >= p->capacity)
            teeu_key_free(key);
        else
            p->keys[p->count++] = key;
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

teeu_status tu_keypool_new(unsigned bits, size_t capacity, tu_keypool **out)
{
    *out = NULL;
    if (capacity == 0 || capacity > 64)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "key pool capacity must be 1..64, not %zu", capacity);
    tu_keypool *p = calloc(1, sizeof *p);
    if (p == NULL || (p->keys = tu_alloc_array(capacity, sizeof *p->keys)) == NULL) {
        free(p);
        return tu_error(TEEU_ERR_NOMEM, "out of memory for a key pool");
    }
    p->bits = bits ? bits : 3072;
    p->capacity = capacity;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    if (pthread_create(&p->thread, NULL, tu_keypool_fill, p) != 0) {
        tu_keypool_free(p);
        return tu_error(TEEU_ERR_INTERNAL_BUG, "cannot start the key pool thread");
    }
    p->thread_started = true;
    *out = p;
    return TEEU_OK;
}

teeu_status tu_keypool_take(tu_keypool *p, teeu_key **out)
{
    *out = NULL;
    if (p != NULL) {
        pthread_mutex_lock(&p->lock);
        if (p->count > 0)
            *out = p->keys[--p->count];
        pthread_cond_signal(&p->wake);
        pthread_mutex_unlock(&p->lock);
        if (*out != NULL)
            return TEEU_OK;
    }
    /* Empty (or no pool): generate now rather than wait for the thread. */
    return teeu_key_generate(p != NULL ? p->bits : 3072, out);
}

size_t tu_keypool_available(tu_keypool *p)
{
    pthread_mutex_lock(&p->lock);
    size_t n = p->count;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void tu_keypool_free(tu_keypool *p)
{
    if (p == NULL)
        return;
    if (p->thread_started) {
        pthread_mutex_lock(&p->lock);
        p->stop = true;
        pthread_cond_signal(&p->wake);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
    }
    for (size_t i = 0; i < p->count; i++)
        teeu_key_free(p->keys[i]);
    free(p->keys);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
