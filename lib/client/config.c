/*
 * The client's JSON config file, whose keys mirror SecretFlow's sf.init
 * (docs/getting-started.md):
 *
 *   {"party": "alice",
 *    "cluster_config": {"parties": {"alice": {"address": "..."},
 *                                   "carol": {"address": "127.0.0.1:9100"}},
 *                       "self_party": "alice"},
 *    "party_key_pair": {"alice": {"private_key": "alice.key"}},
 *    "auth_manager_config": {"host": "127.0.0.1:8835", "mr_enclave": "...",
 *                            "ca_cert": null},
 *    "teeu": {"party": "carol", "mr_enclave": "..."},
 *    "tee_simulation": true}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"
#include "core/json_internal.h"

#define CONFIG_MAX_BYTES (1u << 20)

/* Keeps a copy of s (a path is joined to base_dir when relative). */
static teeu_status keep(tu_client_config *c, const char *s, const char *base_dir, bool is_path, const char **field)
{
    if (c->n_strings == TU_ARRAY_LEN(c->strings))
        return tu_error(TEEU_ERR_INTERNAL_BUG, "config: too many strings");
    char *copy = NULL;
    if (is_path && s[0] != '/' && base_dir != NULL && base_dir[0] != '\0') {
        size_t n = strlen(base_dir) + 1 + strlen(s) + 1;
        copy = malloc(n);
        if (copy != NULL)
            snprintf(copy, n, "%s/%s", base_dir, s);
    } else {
        copy = tu_strdup(s);
    }
    if (copy == NULL)
        return tu_error(TEEU_ERR_NOMEM, "out of memory reading the config");
    c->strings[c->n_strings++] = copy;
    *field = copy;
    return TEEU_OK;
}

/* An optional string member: absent or null leaves *field unchanged. */
static teeu_status opt_string(tu_client_config *c, const tu_json *obj, const char *key, const char *where,
                              const char *base_dir, bool is_path, const char **field)
{
    const tu_json *v = tu_json_get(obj, key);
    if (v == NULL || v->type == TU_JSON_NULL)
        return TEEU_OK;
    if (v->type != TU_JSON_STRING)
        return tu_error(TEEU_ERR_CONFIG, "%s: \"%s\" must be a string, not %s", where, key,
                        tu_json_type_name(v->type));
    if (strlen(v->str) != v->str_len)
        return tu_error(TEEU_ERR_CONFIG, "%s: \"%s\" holds a NUL byte", where, key);
    if (v->str_len == 0 && is_path)
        return TEEU_OK;
    return keep(c, v->str, base_dir, is_path, field);
}

/* Refuses members other than the allowed ones: a typo must not silently drop a security setting. */
static teeu_status only_keys(const tu_json *obj, const char *where, const char *const *keys, size_t n)
{
    for (const tu_json *m = obj->child; m != NULL; m = m->next) {
        bool ok = false;
        for (size_t i = 0; i < n && !ok; i++)
            ok = strcmp(m->key, keys[i]) == 0;
        if (!ok)
            return tu_error(TEEU_ERR_CONFIG, "%s: unknown key \"%.64s\" (allowed: see docs/getting-started.md)",
                            where, m->key);
    }
    return TEEU_OK;
}

static teeu_status object_member(const tu_json *obj, const char *key, const char *where, bool required,
                                 const tu_json **out)
{
    *out = NULL;
    const tu_json *v = tu_json_get(obj, key);
    if (v == NULL || v->type == TU_JSON_NULL) {
        if (required)
            return tu_error(TEEU_ERR_CONFIG, "%s: \"%s\" is required", where, key);
        return TEEU_OK;
    }
    if (v->type != TU_JSON_OBJECT)
        return tu_error(TEEU_ERR_CONFIG, "%s: \"%s\" must be an object, not %s", where, key,
                        tu_json_type_name(v->type));
    *out = v;
    return TEEU_OK;
}

static teeu_status endpoint(tu_client_config *c, const tu_json *o, const char *where, const char *addr_key,
                            const char *base_dir, teeu_endpoint *ep)
{
    static const char *const keys[] = {"host", "address", "party", "mr_enclave", "ca_cert", "client_cert",
                                       "client_key"};
    teeu_status st = only_keys(o, where, keys, TU_ARRAY_LEN(keys));
    if (st == TEEU_OK)
        st = opt_string(c, o, addr_key, where, base_dir, false, &ep->address);
    if (st == TEEU_OK)
        st = opt_string(c, o, "mr_enclave", where, base_dir, false, &ep->mr_enclave);
    if (st == TEEU_OK)
        st = opt_string(c, o, "ca_cert", where, base_dir, true, &ep->ca_file);
    if (st == TEEU_OK)
        st = opt_string(c, o, "client_cert", where, base_dir, true, &ep->client_cert_file);
    if (st == TEEU_OK)
        st = opt_string(c, o, "client_key", where, base_dir, true, &ep->client_key_file);
    return st;
}

static teeu_status int_member(const tu_json *root, const char *key, const char *origin, int64_t min, int64_t max,
                              int64_t *out, bool *given)
{
    *given = false;
    const tu_json *v = tu_json_get(root, key);
    if (v == NULL || v->type == TU_JSON_NULL)
        return TEEU_OK;
    if (v->type != TU_JSON_NUMBER || !v->is_int || v->i64 < min || v->i64 > max)
        return tu_error(TEEU_ERR_CONFIG, "%s: \"%s\" must be an integer in %lld..%lld", origin, key,
                        (long long)min, (long long)max);
    *out = v->i64;
    *given = true;
    return TEEU_OK;
}

static teeu_status parse_root(tu_client_config *c, const tu_json *root, const char *base_dir, const char *origin)
{
    static const char *const keys[] = {"party", "cluster_config", "party_key_pair", "auth_manager_config", "teeu",
                                       "tee_simulation", "sim_root", "timeout_ms", "segment_size", "zstd_level",
                                       "presign"};
    teeu_config *cfg = &c->cfg;
    if (root->type != TU_JSON_OBJECT)
        return tu_error(TEEU_ERR_CONFIG, "%s: the config must be a JSON object", origin);
    teeu_status st = only_keys(root, origin, keys, TU_ARRAY_LEN(keys));
    const char *party = NULL;
    if (st == TEEU_OK)
        st = opt_string(c, root, "party", origin, NULL, false, &party);
    const tu_json *cluster = NULL, *pairs = NULL, *am = NULL, *teeu = NULL;
    if (st == TEEU_OK)
        st = object_member(root, "cluster_config", origin, false, &cluster);
    if (st == TEEU_OK && cluster != NULL && party == NULL)
        st = opt_string(c, cluster, "self_party", "cluster_config", NULL, false, &party);
    if (st == TEEU_OK && party == NULL)
        st = tu_error(TEEU_ERR_CONFIG, "%s: set \"party\" (or cluster_config.self_party) to this party's name",
                      origin);
    if (st != TEEU_OK)
        return st;
    c->party = (char *)party;

    /* party_key_pair.<party>.private_key */
    st = object_member(root, "party_key_pair", origin, true, &pairs);
    const tu_json *mine = NULL;
    if (st == TEEU_OK)
        st = object_member(pairs, party, "party_key_pair", true, &mine);
    if (st == TEEU_OK) {
        static const char *const kp_keys[] = {"private_key", "public_key", "passphrase"};
        st = only_keys(mine, "party_key_pair", kp_keys, TU_ARRAY_LEN(kp_keys));
    }
    if (st == TEEU_OK)
        st = opt_string(c, mine, "private_key", "party_key_pair", base_dir, true, &cfg->private_key_file);
    if (st == TEEU_OK)
        st = opt_string(c, mine, "passphrase", "party_key_pair", base_dir, false, &cfg->private_key_passphrase);
    if (st == TEEU_OK && cfg->private_key_file == NULL)
        st = tu_error(TEEU_ERR_CONFIG, "%s: set party_key_pair.%s.private_key to the party's RSA-3072 key (PEM), "
                      "e.g. made with `openssl genrsa -out %s.key 3072`", origin, party, party);

    if (st == TEEU_OK)
        st = object_member(root, "auth_manager_config", origin, true, &am);
    if (st == TEEU_OK)
        st = endpoint(c, am, "auth_manager_config", "host", base_dir, &cfg->auth_manager);

    if (st == TEEU_OK)
        st = object_member(root, "teeu", origin, true, &teeu);
    if (st == TEEU_OK)
        st = endpoint(c, teeu, "teeu", "address", base_dir, &cfg->teeu);
    /* "teeu": {"party": "carol"} takes the address from cluster_config.parties.carol. */
    const char *teeu_party = NULL;
    if (st == TEEU_OK)
        st = opt_string(c, teeu, "party", "teeu", NULL, false, &teeu_party);
    if (st == TEEU_OK && cfg->teeu.address == NULL && teeu_party != NULL) {
        const tu_json *parties = NULL, *p = NULL;
        if (cluster == NULL)
            st = tu_error(TEEU_ERR_CONFIG, "%s: teeu.party is \"%s\" but there is no cluster_config", origin,
                          teeu_party);
        if (st == TEEU_OK)
            st = object_member(cluster, "parties", "cluster_config", true, &parties);
        if (st == TEEU_OK)
            st = object_member(parties, teeu_party, "cluster_config.parties", true, &p);
        if (st == TEEU_OK)
            st = opt_string(c, p, "address", "cluster_config.parties.<teeu party>", NULL, false, &cfg->teeu.address);
    }
    if (st == TEEU_OK && cfg->teeu.address == NULL)
        st = tu_error(TEEU_ERR_CONFIG, "%s: set teeu.address (or teeu.party naming a cluster_config party with an "
                      "address) to the TEEU's host:port", origin);
    if (st == TEEU_OK && cfg->auth_manager.address == NULL)
        st = tu_error(TEEU_ERR_CONFIG, "%s: set auth_manager_config.host to the AuthManager's host:port", origin);
    if (st != TEEU_OK)
        return st;

    const tu_json *sim = tu_json_get(root, "tee_simulation");
    if (sim != NULL && sim->type != TU_JSON_BOOL && sim->type != TU_JSON_NULL)
        return tu_error(TEEU_ERR_CONFIG, "%s: \"tee_simulation\" must be true or false", origin);
    cfg->tee_simulation = sim != NULL && sim->type == TU_JSON_BOOL && sim->boolean;
    st = opt_string(c, root, "sim_root", origin, base_dir, true, &cfg->sim_root_file);
    int64_t v = 0;
    bool given = false;
    if (st == TEEU_OK)
        st = int_member(root, "timeout_ms", origin, 1, 86400000, &v, &given);
    if (st == TEEU_OK && given)
        cfg->timeout_ms = (long)v;
    if (st == TEEU_OK)
        st = int_member(root, "segment_size", origin, 4096, 64 << 20, &v, &given);
    if (st == TEEU_OK && given)
        cfg->segment_size = (size_t)v;
    if (st == TEEU_OK)
        st = int_member(root, "zstd_level", origin, 0, 22, &v, &given);
    if (st == TEEU_OK && given)
        cfg->zstd_level = (int)v;
    if (st == TEEU_OK)
        st = int_member(root, "presign", origin, 0, TEEU_PRESIGN_MAX, &v, &given);
    if (st == TEEU_OK && given)
        cfg->presign = (int)v;
    return st;
}

teeu_status tu_client_config_parse(const char *json, size_t len, const char *base_dir, const char *origin,
                                   tu_client_config *out)
{
    memset(out, 0, sizeof *out);
    teeu_config_init(&out->cfg);
    if (origin == NULL)
        origin = "client config";
    tu_json *root = NULL;
    tu_json_limits lim = {.max_input = CONFIG_MAX_BYTES, .max_depth = 8, .max_nodes = 4096};
    teeu_status st = tu_json_parse(json, len, &lim, &root);
    if (st != TEEU_OK)
        return tu_error_context(TEEU_ERR_CONFIG, "%s is not valid JSON", origin);
    st = parse_root(out, root, base_dir, origin);
    tu_json_free(root);
    if (st != TEEU_OK)
        tu_client_config_clear(out);
    return st;
}

void tu_client_config_clear(tu_client_config *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_strings; i++) {
        /* The passphrase may be among them: wipe every string. */
        tu_free_secret(c->strings[i], strlen(c->strings[i]));
    }
    memset(c, 0, sizeof *c);
}
