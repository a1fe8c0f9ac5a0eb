/*
 * Put credentials computed ahead of time (teeu_config.presign).
 *
 * Most of a small put's client work does not depend on the array: a fresh
 * uuid and data key, the key sealed to the AuthManager (OAEP), its MAC and
 * the SegmentDataMeta signature (WIRE.md steps 3-5 cover only uuid,
 * partition, ids and key), and the DataAuth signature (step 6: uuid and
 * policy). A per-client thread keeps a small pool of such credentials
 * ready while the client is idle, so a put finds both RSA signatures
 * already made. The DataAuth signature is speculative: it is made for the
 * policy (allowed parties and functions) of the most recent put and used
 * only on an exact match; otherwise the put signs it inline.
 *
 * The thread runs at idle CPU priority (SCHED_IDLE; nice +10 where that
 * is refused): it gets a core only when nothing else wants it. It refills
 * the pool after each put (tu_presigner_refill), not from the moment a put
 * takes a credential: measured both ways (bench_client latency, 300 puts,
 * services as bench/run.sh starts them), refilling during the put left
 * back-to-back puts as they were (2.78 ms p50) and slowed a client idle
 * between puts from 3.30-3.49 to 3.45-3.67 ms, its signatures competing
 * with the put for the caches and the cores' wake-ups.
 *
 * A thread at idle priority can be preempted for long on a busy machine,
 * possibly while it holds the pool's lock: a put never blocks on that lock
 * (tu_presigner_take tries it a bounded number of times, yielding the CPU
 * in between, then gives up and the put signs inline).
 * Data keys in the pool are secrets: wiped when taken and when freed.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "client/client_internal.h"
#include "crypto/crypto_internal.h"

#define PRESIGN_NICE 10
#define PRESIGN_LOCK_TRIES 64 /* each a sched_yield: ~0.1 ms in all on an idle machine */

struct tu_presigner {
    const teeu_key *party;
    const teeu_key *am_key;
    char mrenclave[65];          /* hex, or "" when none is configured */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    atomic_bool stop;            /* set under `lock`; read without it between the two signatures */
    bool failed;
    tu_put_cred *pool;           /* a stack: pool[0..count) ready, the newest last (taken first) */
    size_t cap;
    size_t count;
    tu_put_policy policy;        /* owned copy (policy_block) of the speculative policy */
    void *policy_block;
    bool have_policy;
    uint64_t gen;                /* bumped when the policy changes */
    uint64_t rsa_ops;            /* RSA private-key operations done by the thread */
};

void tu_put_cred_clear(tu_put_cred *cr)
{
    if (cr == NULL)
        return;
    free(cr->enc_key);
    free(cr->seg_sig);
    free(cr->auth_sig);
    tu_wipe(cr, sizeof *cr);
}

/* ---- policies -------------------------------------------------------------------- */

static bool list_equal(const char *const *a, size_t na, const char *const *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

static bool policy_equal(const tu_put_policy *a, const tu_put_policy *b)
{
    return list_equal(a->ins, a->n_ins, b->ins, b->n_ins) && list_equal(a->funcs, a->n_funcs, b->funcs, b->n_funcs);
}

/* Deep copy of in into one block (*block, free with free()): pointer arrays, then the strings. */
static teeu_status policy_copy(const tu_put_policy *in, tu_put_policy *out, void **block)
{
    size_t n = in->n_ins + in->n_funcs;
    size_t bytes = (n ? n : 1) * sizeof(char *);
    for (size_t i = 0; i < in->n_ins; i++)
        bytes += strlen(in->ins[i]) + 1;
    for (size_t i = 0; i < in->n_funcs; i++)
        bytes += strlen(in->funcs[i]) + 1;
    char **ptrs = malloc(bytes);
    if (ptrs == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory copying a put policy");
    char *s = (char *)(ptrs + (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        const char *src = i < in->n_ins ? in->ins[i] : in->funcs[i - in->n_ins];
        size_t len = strlen(src) + 1;
        memcpy(s, src, len);
        ptrs[i] = s;
        s += len;
    }
    out->ins = (const char *const *)ptrs;
    out->n_ins = in->n_ins;
    out->funcs = (const char *const *)(ptrs + in->n_ins);
    out->n_funcs = in->n_funcs;
    *block = ptrs;
    return TEEU_OK;
}

/* ---- making one credential ------------------------------------------------------- */

/* A fresh uuid and key with steps 3-5, and step 6 for policy when it is not NULL. */
static teeu_status cred_make(const tu_presigner *p, const tu_put_policy *policy, tu_put_cred *cr)
{
    memset(cr, 0, sizeof *cr);
    teeu_status st = tu_uuid4_hex(cr->uuid);
    if (st == TEEU_OK)
        st = tu_random_secret(cr->key, sizeof cr->key);
    if (st == TEEU_OK)
        st = tu_wire_presign_segment(p->party, p->am_key, cr->uuid, cr->key, sizeof cr->key, &cr->enc_key,
                                     &cr->enc_key_len, cr->mac, &cr->seg_sig, &cr->seg_sig_len);
    /* Stopping (tu_presigner_free joins us) skips the second signature: at idle priority on a busy machine
     * each one can take long. The credential is then dropped. */
    if (st == TEEU_OK && policy != NULL && !atomic_load(&p->stop)) {
        const char *mr = p->mrenclave;
        tu_wire_data_auth a = {
            .data_uuid = cr->uuid,
            .allowed_ins_ids = policy->ins,
            .n_allowed_ins_ids = policy->n_ins,
            .allowed_mrenclaves = mr[0] ? &mr : NULL,
            .n_allowed_mrenclaves = mr[0] ? 1 : 0,
            .function_ids = policy->funcs,
            .n_function_ids = policy->n_funcs,
        };
        st = tu_wire_sign_data_auth(p->party, &a, &cr->auth_sig, &cr->auth_sig_len);
    }
    if (st != TEEU_OK)
        tu_put_cred_clear(cr);
    return st;
}

/* ---- the thread ------------------------------------------------------------------------ */

/* Idle CPU only: SCHED_IDLE, else nice +10. Best effort. */
static void lower_priority(void)
{
    struct sched_param sp = {.sched_priority = 0};
    if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) == 0)
        return;
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), PRESIGN_NICE) != 0)
        tu_log(TEEU_LOG_DEBUG, "presign: cannot lower the thread's priority; it runs at normal priority");
    else
        tu_log(TEEU_LOG_DEBUG, "presign: SCHED_IDLE refused; the thread runs at nice +%d", PRESIGN_NICE);
}

static void *presign_main(void *arg)
{
    tu_presigner *p = arg;
    lower_priority();
    pthread_mutex_lock(&p->lock);
    while (!atomic_load(&p->stop)) {
        if (p->count == p->cap) {
            pthread_cond_wait(&p->cond, &p->lock);
            continue;
        }
        /* Sign for a private copy of the current policy, without holding the lock. */
        tu_put_policy pol;
        void *block = NULL;
        uint64_t gen = p->gen;
        bool with_policy = p->have_policy && policy_copy(&p->policy, &pol, &block) == TEEU_OK;
        pthread_mutex_unlock(&p->lock);
        tu_put_cred cr;
        uint64_t ops0 = tu_rsa_private_ops_thread();
        teeu_status st = cred_make(p, with_policy ? &pol : NULL, &cr);
        uint64_t ops = tu_rsa_private_ops_thread() - ops0;
        free(block);
        cr.auth_gen = gen;
        pthread_mutex_lock(&p->lock);
        p->rsa_ops += ops;
        if (st != TEEU_OK) {
            tu_log(TEEU_LOG_WARN, "presign: cannot precompute put credentials (%s); puts sign inline",
                   teeu_last_error());
            p->failed = true;
            break;
        }
        if (atomic_load(&p->stop) || p->count == p->cap) {
            tu_put_cred_clear(&cr);
            continue;
        }
        p->pool[p->count] = cr;
        p->count++;
        tu_wipe(&cr, sizeof cr);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/*
 * Locks for a put without blocking on it: the lock is held for microseconds
 * at a time, but the thread may have been preempted holding it (for long,
 * at idle priority on a busy machine). False when it stays taken.
 */
static bool lock_bounded(tu_presigner *p)
{
    for (int i = 0; i < PRESIGN_LOCK_TRIES; i++) {
        if (pthread_mutex_trylock(&p->lock) == 0)
            return true;
        sched_yield();
    }
    return false;
}

/* ---- API ------------------------------------------------------------------------------------ */

teeu_status tu_presigner_new(const teeu_key *party, const teeu_key *am_key, const char *mrenclave_hex, size_t cap,
                             tu_presigner **out)
{
    *out = NULL;
    if (party == NULL || am_key == NULL || cap == 0)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "presign: party key, AuthManager key and a pool size are required");
    if (mrenclave_hex != NULL && strlen(mrenclave_hex) != 64)
        return tu_error(TEEU_ERR_INVALID_ARGUMENT, "presign: the MRENCLAVE must be 64 hex digits");
    tu_presigner *p = calloc(1, sizeof *p);
    tu_put_cred *pool = calloc(cap, sizeof *pool);
    if (p == NULL || pool == NULL) {
        free(p);
        free(pool);
        return tu_error(TEEU_ERR_NOMEM, "out of memory for the presign pool");
    }
    atomic_init(&p->stop, false);
    p->party = party;
    p->am_key = am_key;
    if (mrenclave_hex != NULL)
        memcpy(p->mrenclave, mrenclave_hex, 65);
    p->pool = pool;
    p->cap = cap;
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        free(pool);
        free(p);
        return tu_error(TEEU_ERR_NOMEM, "presign: cannot create a mutex");
    }
    if (pthread_cond_init(&p->cond, NULL) != 0) {
        pthread_mutex_destroy(&p->lock);
        free(pool);
        free(p);
        return tu_error(TEEU_ERR_NOMEM, "presign: cannot create a condition variable");
    }
    if (pthread_create(&p->thread, NULL, presign_main, p) != 0) {
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
        free(pool);
        free(p);
        return tu_error(TEEU_ERR_NOMEM, "presign: cannot start the background thread");
    }
    *out = p;
    return TEEU_OK;
}

bool tu_presigner_take(tu_presigner *p, const tu_put_policy *want, tu_put_cred *out, bool *auth_hit)
{
    *auth_hit = false;
    memset(out, 0, sizeof *out);
    if (p == NULL)
        return false;
    if (!lock_bounded(p))
        return false; /* the put signs inline */
    /* The policy of this put becomes the speculation for the next ones. */
    if (!p->have_policy || !policy_equal(&p->policy, want)) {
        tu_put_policy copy;
        void *block = NULL;
        if (policy_copy(want, &copy, &block) == TEEU_OK) {
            free(p->policy_block);
            p->policy = copy;
            p->policy_block = block;
            p->have_policy = true;
            p->gen++;
        }
    }
    bool got = p->count > 0;
    if (got) {
        /* The newest: the one most likely signed for the current policy. */
        tu_put_cred *slot = &p->pool[p->count - 1];
        *out = *slot;
        tu_wipe(slot, sizeof *slot);
        p->count--;
        *auth_hit = out->auth_sig != NULL && out->auth_gen == p->gen && p->have_policy &&
                    policy_equal(&p->policy, want);
    }
    /* No refill yet: tu_presigner_refill, once the put is done. */
    pthread_mutex_unlock(&p->lock);
    return got;
}

void tu_presigner_refill(tu_presigner *p)
{
    if (p == NULL)
        return;
    if (!lock_bounded(p))
        return; /* the thread (awake) or other puts hold it: the next take or refill wakes it */
    if (p->count < p->cap && !p->failed)
        pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

uint64_t tu_presigner_rsa_ops(tu_presigner *p)
{
    if (p == NULL)
        return 0;
    pthread_mutex_lock(&p->lock);
    uint64_t n = p->rsa_ops;
    pthread_mutex_unlock(&p->lock);
    return n;
}

size_t tu_presigner_ready(tu_presigner *p)
{
    if (p == NULL)
        return 0;
    pthread_mutex_lock(&p->lock);
    size_t n = p->count;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void tu_presigner_free(tu_presigner *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->stop, true);
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    for (size_t i = 0; i < p->count; i++)
        tu_put_cred_clear(&p->pool[i]);
    free(p->pool);
    free(p->policy_block);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
