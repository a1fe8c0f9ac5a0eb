/*
 * The AuthManager's durable store on SQLite: WAL journal, synchronous=FULL
 * (a create is on disk before it is acknowledged), each create in one
 * IMMEDIATE transaction (a crash leaves it entirely there or entirely
 * absent). One connection per worker thread; writers serialize on SQLite's
 * lock with a busy timeout.
 *
 * What is stored is what the owners sent: the serialized DataMeta (data keys
 * stay sealed to the AuthManager's key) and DataAuth, so every check can be
 * re-run on the stored bytes when a key is requested.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "am_internal.h"

#define BUSY_TIMEOUT_MS 30000

struct am_db {
    sqlite3 *db;
    sqlite3_stmt *put_key, *get_key, *put_meta, *put_auth, *get_data, *has_data, *put_mac, *get_mac;
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS ins_keys("
    "  ins_id TEXT PRIMARY KEY, scheme TEXT NOT NULL, public_key_pem TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS data_metas("
    "  data_uuid TEXT PRIMARY KEY, owner_id TEXT NOT NULL, meta BLOB NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS data_auths("
    "  data_uuid TEXT PRIMARY KEY REFERENCES data_metas(data_uuid), owner_id TEXT NOT NULL,"
    "  auth BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS data_mac_keys("
    "  data_uuid TEXT PRIMARY KEY REFERENCES data_metas(data_uuid), algorithm TEXT NOT NULL,"
    "  encrypted_mac_key TEXT NOT NULL);"
    "PRAGMA user_version = 1;";

static teeu_status db_fail(am_db *db, const char *what)
{
    return tu_error(TEEU_ERR_IO, "AuthManager database: %s: %s", what, sqlite3_errmsg(db->db));
}

static teeu_status exec(am_db *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        teeu_status st = tu_error(TEEU_ERR_IO, "AuthManager database: %s: %s", sql, err ? err : "?");
        sqlite3_free(err);
        return st;
    }
    return TEEU_OK;
}

static teeu_status prepare(am_db *db, const char *sql, sqlite3_stmt **stmt)
{
    if (sqlite3_prepare_v2(db->db, sql, -1, stmt, NULL) != SQLITE_OK)
        return db_fail(db, sql);
    return TEEU_OK;
}

teeu_status am_db_open(const char *path, am_db **out)
{
    *out = NULL;
    am_db *db = calloc(1, sizeof *db);
    if (db == NULL)
        return tu_error(TEEU_ERR_NOMEM, "database handle");
    teeu_status st = TEEU_OK;
    /* NOMUTEX: each connection is used by one thread only. */
    int rc = sqlite3_open_v2(path, &db->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        st = tu_error(TEEU_ERR_IO, "cannot open database %s: %s", path,
                      db->db ? sqlite3_errmsg(db->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(db->db, BUSY_TIMEOUT_MS);
    if ((st = exec(db, "PRAGMA journal_mode=WAL;")) != TEEU_OK || (st = exec(db, "PRAGMA synchronous=FULL;")) != TEEU_OK ||
        (st = exec(db, "PRAGMA foreign_keys=ON;")) != TEEU_OK)
        goto fail;
    /* Schema creation is idempotent; serialize it against other connections. */
    if ((st = exec(db, "BEGIN IMMEDIATE;")) != TEEU_OK)
        goto fail;
    if ((st = exec(db, schema_sql)) != TEEU_OK) {
        (void)exec(db, "ROLLBACK;");
        goto fail;
    }
    if ((st = exec(db, "COMMIT;")) != TEEU_OK)
        goto fail;
    if ((st = prepare(db, "INSERT INTO ins_keys(ins_id, scheme, public_key_pem, created_at) VALUES(?,?,?,?)",
                      &db->put_key)) != TEEU_OK ||
        (st = prepare(db, "SELECT public_key_pem FROM ins_keys WHERE ins_id=?", &db->get_key)) != TEEU_OK ||
        (st = prepare(db, "INSERT INTO data_metas(data_uuid, owner_id, meta, created_at) VALUES(?,?,?,?)",
                      &db->put_meta)) != TEEU_OK ||
        (st = prepare(db, "INSERT INTO data_auths(data_uuid, owner_id, auth) VALUES(?,?,?)", &db->put_auth)) !=
            TEEU_OK ||
        (st = prepare(db,
                      "SELECT m.meta, a.auth FROM data_metas m JOIN data_auths a ON a.data_uuid=m.data_uuid "
                      "WHERE m.data_uuid=?",
                      &db->get_data)) != TEEU_OK ||
        (st = prepare(db, "SELECT 1 FROM data_metas WHERE data_uuid=?", &db->has_data)) != TEEU_OK ||
        (st = prepare(db, "INSERT INTO data_mac_keys(data_uuid, algorithm, encrypted_mac_key) VALUES(?,?,?)",
                      &db->put_mac)) != TEEU_OK ||
        (st = prepare(db, "SELECT algorithm, encrypted_mac_key FROM data_mac_keys WHERE data_uuid=?",
                      &db->get_mac)) != TEEU_OK)
        goto fail;
    *out = db;
    return TEEU_OK;
fail:
    am_db_close(db);
    return st;
}

void am_db_close(am_db *db)
{
    if (db == NULL)
        return;
    sqlite3_stmt *stmts[] = {db->put_key, db->get_key, db->put_meta, db->put_auth,
                             db->get_data, db->has_data, db->put_mac, db->get_mac};
    for (size_t i = 0; i < TU_ARRAY_LEN(stmts); i++)
        sqlite3_finalize(stmts[i]);
    sqlite3_close(db->db);
    free(db);
}

static void reset(sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

static bool is_constraint(int rc)
{
    return (rc & 0xff) == SQLITE_CONSTRAINT;
}

teeu_status am_db_put_key(am_db *db, const char *ins_id, const char *scheme, const char *pem)
{
    sqlite3_stmt *s = db->put_key;
    sqlite3_bind_text(s, 1, ins_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, scheme, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, pem, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)time(NULL));
    int rc = sqlite3_step(s);
    teeu_status st = TEEU_OK;
    if (is_constraint(rc))
        st = tu_error(TEEU_ERR_RPC_ALREADY_EXISTS, "public key of %s is already registered", ins_id);
    else if (rc != SQLITE_DONE)
        st = db_fail(db, "storing a public key");
    reset(s);
    return st;
}

teeu_status am_db_get_key(am_db *db, const char *ins_id, char **pem)
{
    *pem = NULL;
    sqlite3_stmt *s = db->get_key;
    sqlite3_bind_text(s, 1, ins_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    teeu_status st = TEEU_OK;
    if (rc == SQLITE_ROW) {
        *pem = tu_strdup((const char *)sqlite3_column_text(s, 0));
        if (*pem == NULL)
            st = tu_error(TEEU_ERR_NOMEM, "public key");
    } else if (rc == SQLITE_DONE) {
        st = tu_error(TEEU_ERR_NOT_FOUND, "no public key is registered for %s", ins_id);
    } else {
        st = db_fail(db, "reading a public key");
    }
    reset(s);
    return st;
}

static teeu_status step_insert(am_db *db, sqlite3_stmt *s, const char *what, const char *uuid)
{
    int rc = sqlite3_step(s);
    teeu_status st = TEEU_OK;
    if (is_constraint(rc))
        st = tu_error(TEEU_ERR_RPC_ALREADY_EXISTS, "data %s already exists", uuid);
    else if (rc != SQLITE_DONE)
        st = db_fail(db, what);
    reset(s);
    return st;
}

teeu_status am_db_put_data(am_db *db, const char *data_uuid, const char *owner_id, const uint8_t *meta,
                           size_t meta_len, const uint8_t *auth, size_t auth_len)
{
    if (meta_len > INT32_MAX || auth_len > INT32_MAX)
        return tu_error(TEEU_ERR_LIMIT, "data meta too large");
    teeu_status st = exec(db, "BEGIN IMMEDIATE;");
    if (st != TEEU_OK)
        return st;
    sqlite3_bind_text(db->put_meta, 1, data_uuid, -1, SQLITE_STATIC);
    sqlite3_bind_text(db->put_meta, 2, owner_id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(db->put_meta, 3, meta, (int)meta_len, SQLITE_STATIC);
    sqlite3_bind_int64(db->put_meta, 4, (sqlite3_int64)time(NULL));
    st = step_insert(db, db->put_meta, "storing a data meta", data_uuid);
    if (st == TEEU_OK) {
        sqlite3_bind_text(db->put_auth, 1, data_uuid, -1, SQLITE_STATIC);
        sqlite3_bind_text(db->put_auth, 2, owner_id, -1, SQLITE_STATIC);
        sqlite3_bind_blob(db->put_auth, 3, auth, (int)auth_len, SQLITE_STATIC);
        st = step_insert(db, db->put_auth, "storing a data auth", data_uuid);
    }
    if (st != TEEU_OK) {
        (void)exec(db, "ROLLBACK;");
        return st;
    }
    if (sqlite3_exec(db->db, "COMMIT;", NULL, NULL, NULL) != SQLITE_OK) {
        st = db_fail(db, "committing a create");
        (void)exec(db, "ROLLBACK;");
    }
    return st;
}

static teeu_status column_copy(sqlite3_stmt *s, int col, uint8_t **out, size_t *len)
{
    int n = sqlite3_column_bytes(s, col);
    const void *p = sqlite3_column_blob(s, col);
    *out = malloc(n > 0 ? (size_t)n : 1);
    if (*out == NULL)
        return tu_error(TEEU_ERR_NOMEM, "stored blob");
    if (n > 0)
        memcpy(*out, p, (size_t)n);
    *len = (size_t)n;
    return TEEU_OK;
}

teeu_status am_db_get_data(am_db *db, const char *data_uuid, uint8_t **meta, size_t *meta_len, uint8_t **auth,
                           size_t *auth_len)
{
    *meta = *auth = NULL;
    *meta_len = *auth_len = 0;
    sqlite3_stmt *s = db->get_data;
    sqlite3_bind_text(s, 1, data_uuid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    teeu_status st = TEEU_OK;
    if (rc == SQLITE_ROW) {
        st = column_copy(s, 0, meta, meta_len);
        if (st == TEEU_OK)
            st = column_copy(s, 1, auth, auth_len);
        if (st != TEEU_OK) {
            free(*meta);
            *meta = NULL;
        }
    } else if (rc == SQLITE_DONE) {
        st = tu_error(TEEU_ERR_NOT_FOUND, "data %s is unknown to this AuthManager", data_uuid);
    } else {
        st = db_fail(db, "reading a data meta");
    }
    reset(s);
    return st;
}

teeu_status am_db_put_mac_key(am_db *db, const char *data_uuid, const char *algorithm,
                              const char *encrypted_mac_key)
{
    teeu_status st = exec(db, "BEGIN IMMEDIATE;");
    if (st != TEEU_OK)
        return st;
    sqlite3_bind_text(db->has_data, 1, data_uuid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(db->has_data);
    reset(db->has_data);
    if (rc == SQLITE_DONE) {
        st = tu_error(TEEU_ERR_NOT_FOUND, "data %s is unknown to this AuthManager", data_uuid);
    } else if (rc != SQLITE_ROW) {
        st = db_fail(db, "looking up data");
    } else {
        sqlite3_bind_text(db->get_mac, 1, data_uuid, -1, SQLITE_STATIC);
        rc = sqlite3_step(db->get_mac);
        if (rc == SQLITE_ROW) {
            const char *alg = (const char *)sqlite3_column_text(db->get_mac, 0);
            const char *key = (const char *)sqlite3_column_text(db->get_mac, 1);
            /* Sending the same MAC key again is a no-op; another one is refused. */
            if (alg == NULL || key == NULL || strcmp(alg, algorithm) != 0 || strcmp(key, encrypted_mac_key) != 0)
                st = tu_error(TEEU_ERR_RPC_ALREADY_EXISTS, "data %s already has a different MAC key", data_uuid);
            reset(db->get_mac);
        } else if (rc == SQLITE_DONE) {
            reset(db->get_mac);
            sqlite3_bind_text(db->put_mac, 1, data_uuid, -1, SQLITE_STATIC);
            sqlite3_bind_text(db->put_mac, 2, algorithm, -1, SQLITE_STATIC);
            sqlite3_bind_text(db->put_mac, 3, encrypted_mac_key, -1, SQLITE_STATIC);
            st = step_insert(db, db->put_mac, "storing a MAC key", data_uuid);
        } else {
            reset(db->get_mac);
            st = db_fail(db, "reading a MAC key");
        }
    }
    if (st != TEEU_OK) {
        (void)exec(db, "ROLLBACK;");
        return st;
    }
    if (sqlite3_exec(db->db, "COMMIT;", NULL, NULL, NULL) != SQLITE_OK) {
        st = db_fail(db, "committing a MAC key");
        (void)exec(db, "ROLLBACK;");
    }
    return st;
}
