/*
 * libteeu — the client API: put, call, reveal.
 *
 * A data party creates one teeu_client (thread-safe; share it between
 * threads) from a teeu_config or a config file, then:
 *
 *   teeu_put(client, array, allow_funcs, n, &obj)     // x.to(teeu, allow_funcs=...)
 *   teeu_call(client, func, objs, n, &result)          // teeu(func)([a, b])
 *   teeu_reveal(client, result, &array)                // sf.reveal(result)
 *
 * Objects are known to other parties by their handle string
 * (teeu_object_handle / teeu_object_from_string), exchanged out of band.
 *
 * Security: outside simulation every connection is TLS, the AuthManager's
 * and the TEEU's SGX quotes are checked against the configured MRENCLAVEs
 * before any data is sent, and an empty MRENCLAVE is a configuration error.
 * With tee_simulation on, plain-text connections and empty MRENCLAVEs are
 * accepted with a logged warning (nothing is protected; see
 * docs/security.md).
 */
#ifndef TEEU_TEEU_H
#define TEEU_TEEU_H

#include <stddef.h>
#include <stdint.h>

#include <teeu/common.h>
#include <teeu/export.h>
#include <teeu/keys.h>
#include <teeu/log.h>
#include <teeu/ndarray.h>
#include <teeu/status.h>
#include <teeu/version.h>

TEEU_BEGIN_DECLS

typedef struct teeu_client teeu_client;
/** A put object or a call result held by a TEEU. */
typedef struct teeu_object teeu_object;
/** A function a TEEU can run: kernel name, version and parameters. */
typedef struct teeu_func teeu_func;

/** How to reach one service (the AuthManager or the TEEU). Strings are borrowed by teeu_client_new, which copies them. */
typedef struct teeu_endpoint {
    const char *address;          /**< "host:port" */
    /**
     * Expected MRENCLAVE, 64 hex digits. NULL or "" is accepted only with
     * tee_simulation (quote checks are then skipped, with a warning).
     */
    const char *mr_enclave;
    const char *ca_file;          /**< TLS: PEM CA bundle; NULL = plain-text h2c (simulation only) */
    const char *client_cert_file; /**< mutual TLS: client certificate (PEM), or NULL */
    const char *client_key_file;  /**< mutual TLS: client key (PEM), or NULL */
} teeu_endpoint;

typedef struct teeu_config {
    teeu_endpoint auth_manager;
    teeu_endpoint teeu;
    const char *private_key_file;     /**< the party's RSA-3072 private key (PEM) */
    const char *private_key_passphrase; /**< NULL for an unencrypted key */
    int tee_simulation;               /**< 1: simulation mode (protects nothing) */
    /**
     * Simulation attestation authority's root certificate (PEM file). With
     * tee_simulation and a root, quotes are still fully checked against it;
     * without one, quote checks are skipped (warning).
     */
    const char *sim_root_file;
    long timeout_ms;                  /**< default deadline of each call; 0 = 30000 */
    size_t segment_size;              /**< streaming segment size; 0 = 1 MiB (fits teeud's default message bound) */
    int zstd_level;                   /**< compress objects before encryption; 0 = off */
    /**
     * Put credentials a background thread of the client keeps ready
     * (fresh uuid and data key, the key sealed to the AuthManager, the
     * segment signature, and the DataAuth signature for the allowed
     * parties and functions of the previous put): 0 = off, at most 64;
     * teeu_config_init sets TEEU_PRESIGN_DEFAULT. The thread starts with
     * the client's first put, runs at low CPU priority, and is stopped by
     * teeu_client_free. See docs/api.md ("Cost of a put").
     */
    int presign;
} teeu_config;

/** Default teeu_config.presign: credentials kept ready for the next puts. */
#define TEEU_PRESIGN_DEFAULT 2
/** Largest teeu_config.presign. */
#define TEEU_PRESIGN_MAX 64

/** Fills cfg with defaults (all strings NULL, simulation off, 30 s timeout, presign TEEU_PRESIGN_DEFAULT). */
TEEU_API void teeu_config_init(teeu_config *cfg);

/**
 * Creates a client: loads the party key, prepares connections. No network
 * traffic happens until the first call. Free with teeu_client_free.
 */
TEEU_API teeu_status teeu_client_new(const teeu_config *cfg, teeu_client **out);

/**
 * Creates a client from a JSON config file whose keys mirror SecretFlow's
 * sf.init: "party", "cluster_config", "party_key_pair",
 * "auth_manager_config", "tee_simulation", plus "teeu" (the TEEU party or
 * address and its MRENCLAVE), "sim_root", "timeout_ms", "segment_size",
 * "zstd_level" and "presign" (see docs/getting-started.md). Relative paths are relative
 * to the file's folder; unknown keys are TEEU_ERR_CONFIG.
 */
TEEU_API teeu_status teeu_client_new_from_file(const char *path, teeu_client **out);

TEEU_API void teeu_client_free(teeu_client *client);

/** The party's owner_id (base64 SHA-256 of its public key); owned by the client. */
TEEU_API const char *teeu_client_owner_id(const teeu_client *client);

/**
 * Cost counters of a client since it was created (a debug statistic, e.g.
 * to check that warm-up work is done once per client, not per put).
 */
typedef struct teeu_client_stats {
    uint64_t rpc_calls;        /**< RPCs sent (AuthManager and TEEU), one per round trip */
    uint64_t am_calls;         /**< of which to the AuthManager */
    uint64_t teeu_calls;       /**< of which to the TEEU */
    uint64_t rsa_private_ops;  /**< RSA private-key operations on the calls' own path (signatures, OAEP decryptions) */
    uint64_t puts;             /**< successful puts */
    uint64_t bytes_sent;       /**< object ciphertext bytes streamed to the TEEU */
    /**
     * RSA private-key operations done ahead of time by the presign thread
     * (teeu_config.presign), including those of credentials never used:
     * not in rsa_private_ops. The client's total is the sum of the two.
     */
    uint64_t rsa_private_ops_precomputed;
    uint64_t puts_presigned;   /**< puts that took a precomputed credential (no segment signature on their path) */
    uint64_t puts_presigned_auth; /**< of those, puts whose DataAuth signature was precomputed too */
} teeu_client_stats;

/** Copies the client's counters into *stats (thread-safe). */
TEEU_API teeu_status teeu_client_get_stats(teeu_client *client, teeu_client_stats *stats);

/* ---- functions -------------------------------------------------------- */

/**
 * A function by kernel name and JSON parameters (NULL or "" for none),
 * version 1: teeu_func_new("average", "{\"axis\": 1}", &f). The parameters
 * are canonicalised (sorted keys, no spaces): descriptor average@1{"axis":1}.
 */
TEEU_API teeu_status teeu_func_new(const char *name, const char *params_json, teeu_func **out);
/** As teeu_func_new with an explicit kernel version. */
TEEU_API teeu_status teeu_func_new_version(const char *name, unsigned version, const char *params_json,
                                           teeu_func **out);
/** "average@1{\"axis\":1}"; owned by f. */
TEEU_API const char *teeu_func_descriptor(const teeu_func *f);
/** base64(SHA-256(descriptor)), the identity AuthManager checks; owned by f. */
TEEU_API const char *teeu_func_identity(const teeu_func *f);
TEEU_API void teeu_func_free(teeu_func *f);

/* ---- put -------------------------------------------------------------- */

typedef struct teeu_put_options {
    /** owner_ids allowed to start computations on the object; NULL/0 = "all" (SecretFlow's default). */
    const char *const *allowed_parties;
    size_t n_allowed_parties;
    long timeout_ms;     /**< 0 = the client's default */
    int zstd_level;      /**< -1 = the client's default, 0 = off */
} teeu_put_options;

TEEU_API void teeu_put_options_init(teeu_put_options *opts);

/**
 * Encrypts arr under a fresh data key, registers it with the AuthManager
 * allowing only allow_funcs on the configured TEEU, and streams it to the
 * TEEU. The first put of a client also fetches and checks the AuthManager
 * key, registers the party key, and attests the TEEU, before any data is
 * sent. arr (any dtype, byte order, layout or strides) is read in place,
 * segment by segment, into the encryption buffer: never copied otherwise
 * (with zstd on, it is compressed segment by segment into that buffer as
 * the stream is sent; an object of 2 MiB or more whose first MiB does not
 * shrink by 10% is sent uncompressed). At least one function must be allowed
 * (TEEU_ERR_INVALID_ARGUMENT). After the first put, a put costs 2 round
 * trips, CreateDataWithAuth and PutObject, sent concurrently, and 2 RSA
 * private-key operations, made ahead of time by the presign thread when a
 * credential is ready (see teeu_config.presign, teeu_client_get_stats). If
 * the AuthManager refuses the object, the put fails with its reason and the
 * object already stored at the TEEU is deleted (best effort, logged); if
 * the PutObject fails, the AuthManager's registration of the uuid stays
 * (it names no data and the uuid is never reused).
 * Free *obj with teeu_object_free.
 */
TEEU_API teeu_status teeu_put(teeu_client *client, const teeu_ndarray *arr,
                              const teeu_func *const *allow_funcs, size_t n_funcs, teeu_object **obj);
TEEU_API teeu_status teeu_put_ex(teeu_client *client, const teeu_ndarray *arr,
                                 const teeu_func *const *allow_funcs, size_t n_funcs,
                                 const teeu_put_options *opts, teeu_object **obj);

/* ---- objects ---------------------------------------------------------- */

/** "teeu://HOST:PORT/<data_uuid>"; owned by obj. */
TEEU_API const char *teeu_object_handle(const teeu_object *obj);
/** The object's data_uuid (32 hex digits); owned by obj. */
TEEU_API const char *teeu_object_uuid(const teeu_object *obj);
/** Parses another party's handle string (TEEU_ERR_BAD_HANDLE if malformed). */
TEEU_API teeu_status teeu_object_from_string(const char *handle, teeu_object **obj);
TEEU_API void teeu_object_free(teeu_object *obj);

/* ---- call ------------------------------------------------------------- */

/** One positional argument: one object, or a list of objects (stacked on a new axis 0). */
typedef struct teeu_arg {
    const teeu_object *const *objs;
    size_t n_objs;
    int is_list;
} teeu_arg;

typedef struct teeu_call_options {
    /** owner_ids allowed to reveal; NULL/0 = the requester and the input owners. */
    const char *const *revealers;
    size_t n_revealers;
    int allow_plaintext_reveal;  /**< SecretFlow-style unsealed reveal */
    long timeout_ms;             /**< 0 = the client's default */
} teeu_call_options;

TEEU_API void teeu_call_options_init(teeu_call_options *opts);

/**
 * Runs func over objs passed as ONE list argument — the seed's
 * teeu(average)([a, b]) with func average@1{"axis":1}. The result stays in
 * the TEEU, encrypted; *result is its handle (free with teeu_object_free).
 */
TEEU_API teeu_status teeu_call(teeu_client *client, const teeu_func *func,
                               const teeu_object *const *objs, size_t n, teeu_object **result);
/** General form: positional arguments and options (opts may be NULL). */
TEEU_API teeu_status teeu_call_ex(teeu_client *client, const teeu_func *func, const teeu_arg *args,
                                  size_t n_args, const teeu_call_options *opts, teeu_object **result);

/* ---- reveal ----------------------------------------------------------- */

/**
 * Fetches a result sealed to this party's key and decodes it. *arr owns its
 * data; free with teeu_ndarray_free. TEEU_ERR_NOT_AUTHORIZED if this party
 * may not see it.
 */
TEEU_API teeu_status teeu_reveal(teeu_client *client, const teeu_object *result, teeu_ndarray **arr);
TEEU_API teeu_status teeu_reveal_ex(teeu_client *client, const teeu_object *result, long timeout_ms,
                                    teeu_ndarray **arr);

/* ---- delete ----------------------------------------------------------- */

/**
 * Deletes obj from the TEEU: an object this party put, or the result of a
 * call this party made. It is gone for every request at once, and after a
 * restart; its ciphertext file is unlinked, or kept (up to teeud's
 * --recycle-mb) for the next upload to overwrite (docs/teeud.md). The
 * AuthManager's registration of the data key stays, and names no data any
 * more. Uses the client's timeout; not retried (a retry of a delete that
 * went through would answer NOT_FOUND). TEEU_ERR_NOT_FOUND if the
 * TEEU holds no such object (e.g. it was deleted already),
 * TEEU_ERR_NOT_AUTHORIZED if another party owns it, TEEU_ERR_INVALID_ARGUMENT
 * if obj lives on another TEEU than the client's. obj stays valid (free it
 * with teeu_object_free).
 */
TEEU_API teeu_status teeu_delete(teeu_client *client, const teeu_object *obj);

TEEU_END_DECLS

#endif /* TEEU_TEEU_H */
