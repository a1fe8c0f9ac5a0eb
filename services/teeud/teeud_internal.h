/*
 * teeud internals: configuration, the spool (durable ciphertext objects and
 * results), the attestation backends and the teeu.v1.Teeu service.
 * See docs/teeud.md and docs/protocol.md.
 */
#ifndef TEEU_TEEUD_INTERNAL_H
#define TEEU_TEEUD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <teeu/keys.h>

#include "core/core_internal.h"
#include "grpc_server.h"

/* ---- configuration (td_config.c) ------------------------------------------ */

typedef struct td_config {
    char *listen_host;          /* default 127.0.0.1 */
    uint16_t listen_port;       /* default 8836 */
    char *state_dir;            /* default ./teeud-state */
    char *authmanager;          /* HOST:PORT of the AuthManager (required to Call) */
    char *authmanager_ca;       /* CA that verifies the AuthManager's TLS certificate */
    char *authmanager_cert;     /* client certificate/key for mutual TLS to the AuthManager */
    char *authmanager_key;
    bool simulation;
    char *sim_authority;        /* simulation attestation authority folder, or NULL */
    char *attestation;          /* backend: "sim", "gramine", "none" (default by mode) */
    char *tls_cert, *tls_key, *client_ca;
    teeu_log_level log_level;
    size_t workers;             /* default 8 (uploads hold a worker for their duration) */
    size_t max_message;         /* default 16 MiB */
    uint64_t max_object_size;   /* plaintext bytes; default 4 GiB */
    size_t max_objects_per_party; /* default 10000 */
    uint64_t recycle_bytes;     /* deleted entries' files kept to be overwritten; default 1 GiB */
    size_t max_concurrent_calls;  /* default 2 */
    size_t max_concurrent_uploads; /* default 4 (each holds a worker) */
    uint32_t stall_timeout_ms;    /* an upload/reveal whose client stalls this long is dropped; default 60000 */
    uint64_t max_clock_skew_ms;   /* default 300000 */
    bool list_kernels;
    bool print_mrenclave;
} td_config;

/** Defaults, then the config file (if --config is given), then the flags. */
teeu_status td_config_parse(int argc, char **argv, td_config *cfg, bool *show_help) TU_NODISCARD;
void td_config_free(td_config *cfg);
void td_config_usage(FILE *out);

/* ---- attestation backends (td_attest.c) ------------------------------------ */

/*
 * An attestation backend produces an SGX quote whose report data is the
 * given 64 bytes, plus (optionally) collateral JSON for the verifier.
 * Backends: "sim" (the simulation authority), "gramine" (the
 * /dev/attestation pseudo-files of a Gramine SGX enclave), "none".
 */
typedef struct td_attester td_attester;

/** Opens a backend by name; sim_dir is the simulation authority folder ("sim" only). */
teeu_status td_attester_open(const char *name, const char *sim_dir, const uint8_t mr_enclave[32],
                             td_attester **out) TU_NODISCARD;
void td_attester_free(td_attester *a);
/** "sim", "gramine" or "none". */
const char *td_attester_name(const td_attester *a);
/** True if this backend can produce reports ("none" cannot). */
bool td_attester_available(const td_attester *a);
/**
 * A serialized UnifiedAttestationReport ("SGX_DCAP", "Passport") binding
 * report_data (up to 64 bytes, zero-padded) into out.
 */
teeu_status td_attester_report(td_attester *a, const uint8_t *report_data, size_t report_data_len,
                               tu_buf *out) TU_NODISCARD;

/** SHA-256 of /proc/self/exe: the simulated MRENCLAVE. */
teeu_status td_self_measurement(uint8_t out[32]) TU_NODISCARD;

/* ---- the spool (td_store.c) -------------------------------------------------- */

typedef enum td_kind { TD_OBJECT = 0, TD_RESULT = 1 } td_kind;

/** What is known of a stored object or result (its .json file). */
typedef struct td_meta {
    td_kind kind;
    char *uuid;
    char *owner_id;           /* object: its owner; result: the requester of the call */
    uint64_t plaintext_size;
    uint64_t segment_size;
    uint64_t n_segments;
    uint64_t stored_bytes;    /* ciphertext bytes of the .seg file */
    uint8_t stream_header[32];
    /* results only */
    char *sealed_key;         /* base64 RSA-OAEP of the result key to the identity key */
    char **revealers;
    size_t n_revealers;
    bool allow_plaintext;
    char *function;
    int64_t created_ms;
} td_meta;

void td_meta_clear(td_meta *m);

typedef struct td_store td_store;

/**
 * Opens the spool under state_dir (objects/, results/, spare/), removing
 * leftover temp files and last run's spares. Up to spare_cap bytes of
 * deleted entries' files are kept in spare/ for uploads to overwrite (0:
 * unlinked at once).
 */
teeu_status td_store_open(const char *state_dir, uint64_t spare_cap, td_store **out) TU_NODISCARD;
void td_store_free(td_store *st);
/** Objects (not results) owned by owner_id, including uploads in progress. */
size_t td_store_count_owned(td_store *st, const char *owner_id);
/** TEEU_OK and *m filled, or TEEU_ERR_NOT_FOUND. */
teeu_status td_store_get(td_store *st, td_kind kind, const char *uuid, td_meta *m) TU_NODISCARD;
/** True if uuid names a committed object or result, or an upload in progress. */
bool td_store_exists(td_store *st, const char *uuid);

/** A file being written: invisible until committed. */
typedef struct td_writer td_writer;
/**
 * Reserves uuid and opens its temporary file. TEEU_ERR_RPC_ALREADY_EXISTS
 * when the uuid is taken (or being uploaded); TEEU_ERR_LIMIT when owner_id
 * already has max_owned objects (0: no limit; objects only). size_hint: the
 * expected file size (0: unknown), to pick a spare file to overwrite.
 */
teeu_status td_writer_begin(td_store *st, td_kind kind, const char *uuid, const char *owner_id, size_t max_owned,
                            uint64_t size_hint, td_writer **out) TU_NODISCARD;
teeu_status td_writer_write(td_writer *w, const uint8_t *data, size_t len) TU_NODISCARD;
uint64_t td_writer_bytes(const td_writer *w);
/** fsyncs, renames into place, writes the metadata, fsyncs the folder; frees w. */
teeu_status td_writer_commit(td_writer *w, const td_meta *m) TU_NODISCARD;
/** Drops the temporary file and the reservation; frees w. NULL is a no-op. */
void td_writer_abort(td_writer *w);

/** An open .seg file and the entry generation it was counted on. */
typedef struct td_reader {
    int fd;
    uint64_t gen;
} td_reader;

/**
 * Opens the .seg file of a committed entry for reading (r->fd); close it
 * with td_store_close_data. A file being read is never recycled: an entry
 * deleted meanwhile has its file unlinked (the reader keeps it).
 * TEEU_ERR_NOT_FOUND if the entry is gone or was deleted meanwhile.
 */
teeu_status td_store_open_data(td_store *st, td_kind kind, const char *uuid, td_reader *r) TU_NODISCARD;
/** Closes r (fd < 0: nothing to do). */
void td_store_close_data(td_store *st, const char *uuid, td_reader *r);
/** Removes an entry (metadata first, then data, which may be kept as a spare). */
teeu_status td_store_delete(td_store *st, td_kind kind, const char *uuid) TU_NODISCARD;

/** Ciphertext length of segment i of m (plaintext + 16-byte tag). */
size_t td_segment_pt_len(const td_meta *m, uint64_t i);

/** True for a uuid made of [A-Za-z0-9_-], 1..128 characters (safe as a file name). */
bool td_uuid_valid(const char *uuid);

/* ---- the service (td_service.c) -------------------------------------------- */

typedef struct td_service td_service;

teeu_status td_service_new(const td_config *cfg, td_service **out) TU_NODISCARD;
void td_service_free(td_service *svc);
void td_service_methods(const tu_grpc_method **unary, size_t *n_unary, const tu_grpc_stream_method **streams,
                        size_t *n_streams);
const char *td_service_attestation(const td_service *svc);

#endif /* TEEU_TEEUD_INTERNAL_H */
