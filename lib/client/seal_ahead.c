/*
 * A segment producer run one segment ahead on its own thread.
 *
 * Why: a large put's sending thread alternated between sealing a segment
 * (AES-GCM, and zstd when on) and handing it to the kernel (a copy into
 * the socket), each about half of its CPU time, so one core did both
 * while the other waited. With the next segment sealed on a second thread
 * while the current one is sent, the two halves overlap. Two buffers: the
 * one being sent (borrowed by the transport until the next request, as
 * tu_rpc_produce_fn says) and the one being filled.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"

typedef struct ahead_slot {
    uint8_t *buf;
    const uint8_t *msg;
    size_t len;
    bool final;
    bool ready;          /* filled, not yet taken */
    teeu_status st;
    char err[1024];      /* the producer thread's message (per-thread messages do not cross threads) */
} ahead_slot;

struct tu_seal_ahead {
    tu_segment_fn fn;
    void *ctx;
    size_t buf_len;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ahead_slot slot[2];
    bool busy[2];        /* filled or lent: not for the producer */
    unsigned next_take;  /* slot the consumer takes next */
    bool lent;           /* the consumer holds slot next_take ^ 1 */
    bool stop;
};

static void *ahead_main(void *arg)
{
    tu_seal_ahead *a = arg;
    unsigned k = 0;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (!a->stop && a->busy[k])
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->stop)
            break;
        a->busy[k] = true;
        pthread_mutex_unlock(&a->mu);
        ahead_slot *s = &a->slot[k];
        s->msg = NULL;
        s->len = 0;
        s->final = false;
        s->st = a->fn(a->ctx, s->buf, &s->msg, &s->len, &s->final);
        if (s->st != TEEU_OK)
            snprintf(s->err, sizeof s->err, "%s", teeu_last_error());
        pthread_mutex_lock(&a->mu);
        s->ready = true;
        pthread_cond_broadcast(&a->cv);
        if (s->st != TEEU_OK || s->final)
            break; /* nothing after the last segment or a failure */
        k ^= 1;
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

teeu_status tu_seal_ahead_start(tu_segment_fn fn, void *ctx, size_t buf_len, tu_seal_ahead **out)
{
    *out = NULL;
    tu_seal_ahead *a = calloc(1, sizeof *a);
    if (a == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory for the sealing thread");
    a->fn = fn;
    a->ctx = ctx;
    a->buf_len = buf_len;
    a->slot[0].buf = malloc(buf_len);
    a->slot[1].buf = malloc(buf_len);
    if (a->slot[0].buf == NULL || a->slot[1].buf == NULL) {
        free(a->slot[0].buf);
        free(a->slot[1].buf);
        free(a);
        return tu_error(TEEU_ERR_NOMEM, "out of memory for two %zu-byte segment buffers", buf_len);
    }
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    if (pthread_create(&a->thread, NULL, ahead_main, a) != 0) {
        pthread_cond_destroy(&a->cv);
        pthread_mutex_destroy(&a->mu);
        free(a->slot[0].buf);
        free(a->slot[1].buf);
        free(a);
        return tu_error(TEEU_ERR_NOMEM, "cannot start the sealing thread");
    }
    *out = a;
    return TEEU_OK;
}

teeu_status tu_seal_ahead_next(tu_seal_ahead *a, const uint8_t **msg, size_t *len, bool *final)
{
    unsigned k = a->next_take;
    pthread_mutex_lock(&a->mu);
    if (a->lent) {
        /* The transport is done with the segment it had: refill it. */
        a->busy[k ^ 1] = false;
        a->lent = false;
        pthread_cond_broadcast(&a->cv);
    }
    while (!a->slot[k].ready)
        pthread_cond_wait(&a->cv, &a->mu);
    ahead_slot *s = &a->slot[k];
    s->ready = false;
    a->lent = true;
    a->next_take = k ^ 1;
    pthread_mutex_unlock(&a->mu);
    if (s->st != TEEU_OK)
        return tu_error(s->st, "%s", s->err);
    *msg = s->msg;
    *len = s->len;
    *final = s->final;
    return TEEU_OK;
}

void tu_seal_ahead_stop(tu_seal_ahead *a)
{
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->mu);
    a->stop = true;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    /* The buffers held plaintext (zstd output) before it was sealed in place. */
    tu_free_secret(a->slot[0].buf, a->buf_len);
    tu_free_secret(a->slot[1].buf, a->buf_len);
    free(a);
}
