/*
 * libteeu client — teeu_put / teeu_call / teeu_reveal (include/teeu/teeu.h).
 *
 * config.c: the JSON config file (sf.init-style keys) into a teeu_config
 *           whose strings a tu_client_config owns.
 * handle.c: functions (descriptor, identity) and object handles.
 * client.c: the client: once-per-client AuthManager and TEEU checks, then
 *           put (CreateDataWithAuth + streamed PutObject), call, reveal.
 * presign.c: put credentials precomputed by a per-client thread.
 * seal_ahead.c: a large put's next segment sealed on a second thread.
 */
#ifndef TEEU_CLIENT_INTERNAL_H
#define TEEU_CLIENT_INTERNAL_H

#include <teeu/teeu.h>

#include "core/core_internal.h"
#include "func/func_internal.h"
#include "wire/wire_internal.h"

/** A teeu_config plus the storage of its strings. */
typedef struct tu_client_config {
    teeu_config cfg;
    char *strings[24];   /* owned copies the cfg fields point to */
    size_t n_strings;
    char *party;         /* self party name, or NULL */
} tu_client_config;

/**
 * Parses a JSON config (docs/getting-started.md). Relative file paths are
 * taken relative to base_dir (NULL: the working directory). `origin` names
 * the config in messages. Free with tu_client_config_clear.
 */
teeu_status tu_client_config_parse(const char *json, size_t len, const char *base_dir, const char *origin,
                                   tu_client_config *out) TU_NODISCARD;
void tu_client_config_clear(tu_client_config *c);

struct teeu_func {
    char *descriptor;
    char identity[TU_FUNC_IDENTITY_LEN + 1];
};

#define TU_HANDLE_SCHEME "teeu://"
#define TU_HANDLE_MAX 320

struct teeu_object {
    char address[256];   /* "host:port" of the TEEU holding it */
    char uuid[33];       /* 32 lowercase hex digits */
    char handle[TU_HANDLE_MAX];
};

/** Makes an object for uuid on the TEEU at address (both validated). */
teeu_status tu_object_make(const char *address, const char *uuid, teeu_object **out) TU_NODISCARD;

/** True if s is exactly 32 lowercase hex digits. */
bool tu_uuid_hex_ok(const char *s);

/* ---- seal_ahead.c -------------------------------------------------------------------- */

/**
 * Fills buf (of the length given to tu_seal_ahead_start) with the next
 * message: *msg points into buf, *final marks the last one.
 */
typedef teeu_status (*tu_segment_fn)(void *ctx, uint8_t *buf, const uint8_t **msg, size_t *len, bool *final);

/** fn run on its own thread one message ahead of tu_seal_ahead_next, into two buffers of buf_len bytes. */
typedef struct tu_seal_ahead tu_seal_ahead;
teeu_status tu_seal_ahead_start(tu_segment_fn fn, void *ctx, size_t buf_len, tu_seal_ahead **out) TU_NODISCARD;
/**
 * The next message, in order (waits for it); the one returned before is
 * given back for refilling. Never call it after a final message or an
 * error. The producer's failure comes back here, status and message.
 */
teeu_status tu_seal_ahead_next(tu_seal_ahead *a, const uint8_t **msg, size_t *len, bool *final) TU_NODISCARD;
/** Stops the thread (after the message it is making), wipes and frees the buffers. NULL is a no-op. */
void tu_seal_ahead_stop(tu_seal_ahead *a);

/* ---- presign.c ---------------------------------------------------------------------- */

/** The policy a DataAuth signature covers besides the uuid (the enclave is the client's, fixed). */
typedef struct tu_put_policy {
    const char *const *ins;      /**< allowed parties as the caller gave them (0 = "all") */
    size_t n_ins;
    const char *const *funcs;    /**< function identities, in order */
    size_t n_funcs;
} tu_put_policy;

/** One precomputed put credential: WIRE.md steps 3-5 and, maybe, step 6. Secret: clear with tu_put_cred_clear. */
typedef struct tu_put_cred {
    char uuid[33];
    uint8_t key[TU_WIRE_DATA_KEY_LEN];
    uint8_t *enc_key;
    size_t enc_key_len;
    uint8_t mac[32];
    uint8_t *seg_sig;
    size_t seg_sig_len;
    uint8_t *auth_sig;           /**< DataAuth signature for the policy of generation auth_gen, or NULL */
    size_t auth_sig_len;
    uint64_t auth_gen;
} tu_put_cred;

void tu_put_cred_clear(tu_put_cred *cr);

/** A bounded pool of credentials kept full by a background thread. */
typedef struct tu_presigner tu_presigner;

/**
 * Starts the thread. party and am_key are borrowed and must outlive the
 * presigner; mrenclave_hex (64 hex digits, or NULL) is copied. cap >= 1.
 */
teeu_status tu_presigner_new(const teeu_key *party, const teeu_key *am_key, const char *mrenclave_hex, size_t cap,
                             tu_presigner **out) TU_NODISCARD;

/**
 * Takes the newest ready credential into *out (false when the pool is
 * empty) and makes want the policy the next DataAuth signatures are made
 * for. *auth_hit: out->auth_sig was made for exactly want.
 */
bool tu_presigner_take(tu_presigner *p, const tu_put_policy *want, tu_put_cred *out, bool *auth_hit);

/** Wakes the thread to refill the pool: call when a put is done (taking does not wake it). */
void tu_presigner_refill(tu_presigner *p);

/** RSA private-key operations the thread has done so far. */
uint64_t tu_presigner_rsa_ops(tu_presigner *p);
/** Credentials ready now. */
size_t tu_presigner_ready(tu_presigner *p);

/** Stops and joins the thread, wipes the pool. NULL is fine. */
void tu_presigner_free(tu_presigner *p);

#endif /* TEEU_CLIENT_INTERNAL_H */
