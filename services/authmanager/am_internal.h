/*
 * teeu-authmanager internals: configuration, the durable store, and the
 * AuthManager service (handlers + AuthVerify).
 */
#ifndef TEEU_AM_INTERNAL_H
#define TEEU_AM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/core_internal.h"
#include "grpc_server.h"

/* ---- configuration (am_config.c) ---------------------------------------- */

typedef struct am_config {
    char *listen_host;        /* default 127.0.0.1 */
    uint16_t listen_port;     /* default 8835 */
    char *state_dir;          /* default ./teeu-authmanager-state */
    bool simulation;
    char *sim_authority;      /* simulation attestation authority folder, or NULL */
    char *tls_cert, *tls_key, *client_ca;
    teeu_log_level log_level; /* default info */
    size_t workers;           /* default 4 */
    size_t max_message;       /* default 4 MiB */
    unsigned envelope_key_bits; /* AES key of the sealed ComputeMeta: 128 (default, as SecretFlow) or 256 */
    unsigned key_primes;      /* primes of a newly generated service key: 2 (default) or 3 */
} am_config;

/** Defaults, then the config file (if --config is given), then the flags. */
teeu_status am_config_parse(int argc, char **argv, am_config *cfg, bool *show_help) TU_NODISCARD;
void am_config_free(am_config *cfg);
void am_config_usage(FILE *out);

/* ---- the store (am_store.c) --------------------------------------------- */

/** One SQLite connection; use one per thread. */
typedef struct am_db am_db;

/** Opens (creating the schema if needed) the database at path. */
teeu_status am_db_open(const char *path, am_db **out) TU_NODISCARD;
void am_db_close(am_db *db);

/** TEEU_OK when stored; TEEU_ERR_RPC_ALREADY_EXISTS when ins_id is known. */
teeu_status am_db_put_key(am_db *db, const char *ins_id, const char *scheme, const char *pem) TU_NODISCARD;
/** TEEU_ERR_NOT_FOUND when unknown. *pem: free with free(). */
teeu_status am_db_get_key(am_db *db, const char *ins_id, char **pem) TU_NODISCARD;

/**
 * Stores a data meta and its auth in one transaction (durable on return).
 * TEEU_ERR_RPC_ALREADY_EXISTS when the data_uuid is known.
 */
teeu_status am_db_put_data(am_db *db, const char *data_uuid, const char *owner_id, const uint8_t *meta,
                           size_t meta_len, const uint8_t *auth, size_t auth_len) TU_NODISCARD;
/** TEEU_ERR_NOT_FOUND when unknown. Outputs: free with free(). */
teeu_status am_db_get_data(am_db *db, const char *data_uuid, uint8_t **meta, size_t *meta_len, uint8_t **auth,
                           size_t *auth_len) TU_NODISCARD;

/**
 * Stores the (encrypted) MAC key of a data object. TEEU_ERR_NOT_FOUND when
 * the data is unknown, TEEU_ERR_RPC_ALREADY_EXISTS when a different one is set.
 */
teeu_status am_db_put_mac_key(am_db *db, const char *data_uuid, const char *algorithm,
                              const char *encrypted_mac_key) TU_NODISCARD;

/* ---- the service (am_service.c) ----------------------------------------- */

typedef struct am_service am_service;

/** Loads or creates the state (key, database) and the attestation backend. */
teeu_status am_service_new(const am_config *cfg, am_service **out) TU_NODISCARD;
void am_service_free(am_service *svc);
/** The method table for tu_grpc_server (service_ctx = the am_service). */
const tu_grpc_method *am_service_methods(size_t *n);
/** Per worker thread: a database connection. */
void *am_worker_init(void *service_ctx);
void am_worker_fini(void *service_ctx, void *worker_state);

#endif /* TEEU_AM_INTERNAL_H */
