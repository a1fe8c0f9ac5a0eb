/*
 * A gRPC response as it arrives, and the outcome of a complete one. Pure:
 * both transports (libcurl in channel.c, nghttp2 in h2stream.c) feed the
 * fields and body they receive, so they map answers identically.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rpc/rpc_internal.h"

void tu_grpc_answer_init(tu_grpc_answer *r, size_t max_message, tu_grpc_msg_fn on_msg, void *ctx)
{
    memset(r, 0, sizeof *r);
    tu_grpc_deframer_init(&r->deframer, max_message, on_msg, ctx);
}

void tu_grpc_answer_reset(tu_grpc_answer *r)
{
    size_t max_message = r->deframer.max_message;
    tu_grpc_msg_fn on_msg = r->deframer.on_msg;
    void *ctx = r->deframer.ctx;
    tu_grpc_deframer_free(&r->deframer);
    tu_grpc_answer_init(r, max_message, on_msg, ctx);
}

void tu_grpc_answer_free(tu_grpc_answer *r)
{
    tu_grpc_deframer_free(&r->deframer);
}

bool tu_grpc_content_type_ok(const char *v, size_t len)
{
    static const char grpc_ct[] = "application/grpc";
    const size_t n = sizeof grpc_ct - 1;
    return len >= n && strncasecmp(v, grpc_ct, n) == 0 && (len == n || v[n] == '+' || v[n] == ';');
}

static bool name_is(const char *name, size_t len, const char *want)
{
    return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

void tu_grpc_answer_header(tu_grpc_answer *r, const char *name, size_t name_len, const char *value,
                             size_t value_len)
{
    if (name_is(name, name_len, ":status")) {
        long code = 0;
        bool ok = value_len == 3;
        for (size_t i = 0; ok && i < value_len; i++) {
            ok = value[i] >= '0' && value[i] <= '9';
            code = code * 10 + (value[i] - '0');
        }
        r->http_status = ok ? code : 0;
    } else if (name_is(name, name_len, "content-type")) {
        r->grpc_content_type = tu_grpc_content_type_ok(value, value_len);
    } else if (name_is(name, name_len, "grpc-status")) {
        int code = 0;
        /* A malformed status is no status: the call fails as a protocol error. */
        r->have_grpc_status = tu_grpc_status_parse(value, value_len, &code);
        r->grpc_status = r->have_grpc_status ? code : 0;
    } else if (name_is(name, name_len, "grpc-message")) {
        tu_grpc_message_decode(value, value_len, r->grpc_message, sizeof r->grpc_message);
    }
}

teeu_status tu_grpc_answer_body(tu_grpc_answer *r, const uint8_t *data, size_t len)
{
    if (r->http_status != 200 || !r->grpc_content_type) {
        /* Not a gRPC body (an error page of a proxy or plain HTTP server):
         * drop a bounded amount; the outcome comes from the status. */
        r->discarded += len;
        if (r->discarded > TU_RPC_DISCARD_MAX)
            return tu_error(TEEU_ERR_PROTOCOL, "non-gRPC response body longer than %u bytes", TU_RPC_DISCARD_MAX);
        return TEEU_OK;
    }
    return tu_grpc_deframer_feed(&r->deframer, data, len);
}

bool tu_grpc_answer_failed(const tu_grpc_answer *r)
{
    return r->have_grpc_status && r->grpc_status != TU_GRPC_OK;
}

teeu_status tu_grpc_answer_outcome(const tu_grpc_answer *r, const char *method, const char *endpoint)
{
    if (tu_grpc_answer_failed(r))
        return tu_error(tu_grpc_code_status(r->grpc_status), "gRPC %s to %s: server answered %s (%d): %s", method,
                        endpoint, tu_grpc_code_name(r->grpc_status), r->grpc_status,
                        r->grpc_message[0] ? r->grpc_message : "(no message)");
    if (!r->have_grpc_status) {
        if (r->http_status != 200) {
            int code = tu_grpc_code_from_http(r->http_status);
            return tu_error(tu_grpc_code_status(code), "gRPC %s to %s: HTTP status %ld without gRPC status (%s)",
                            method, endpoint, r->http_status, tu_grpc_code_name(code));
        }
        return tu_error(TEEU_ERR_PROTOCOL,
                        "gRPC %s to %s: the response ended without a valid grpc-status trailer (is it a gRPC "
                        "server?)",
                        method, endpoint);
    }
    if (r->http_status != 200 || !r->grpc_content_type)
        return tu_error(TEEU_ERR_PROTOCOL,
                        "gRPC %s to %s: reported success with HTTP status %ld and a non-gRPC content-type", method,
                        endpoint, r->http_status);
    teeu_status st = tu_grpc_deframer_finish(&r->deframer);
    if (st != TEEU_OK)
        return tu_error_context(st, "gRPC %s to %s", method, endpoint);
    return TEEU_OK;
}

teeu_status tu_rpc_endpoint_split(const char *endpoint, char *host, size_t host_cap, char *port, size_t port_cap)
{
    const char *colon = endpoint ? strrchr(endpoint, ':') : NULL;
    if (!colon || colon == endpoint || colon[1] == '\0')
        return tu_error(TEEU_ERR_CONFIG, "gRPC endpoint \"%s\" lacks a port (write \"host:port\")",
                        endpoint ? endpoint : "");
    const char *h = endpoint;
    size_t hlen = (size_t)(colon - endpoint);
    if (h[0] == '[') {
        if (hlen < 3 || h[hlen - 1] != ']')
            return tu_error(TEEU_ERR_CONFIG, "gRPC endpoint \"%s\": write an IPv6 address as \"[addr]:port\"",
                            endpoint);
        h++;
        hlen -= 2;
    } else if (memchr(h, ':', hlen) || memchr(h, '[', hlen) || memchr(h, ']', hlen)) {
        return tu_error(TEEU_ERR_CONFIG, "gRPC endpoint \"%s\": write an IPv6 address as \"[addr]:port\"", endpoint);
    }
    size_t plen = strlen(colon + 1);
    for (size_t i = 0; i < plen; i++)
        if (colon[1 + i] < '0' || colon[1 + i] > '9')
            return tu_error(TEEU_ERR_CONFIG, "gRPC endpoint \"%s\": port must be 1..65535", endpoint);
    char *end = NULL;
    errno = 0;
    long pv = strtol(colon + 1, &end, 10);
    if (errno || *end != '\0' || pv < 1 || pv > 65535)
        return tu_error(TEEU_ERR_CONFIG, "gRPC endpoint \"%s\": port must be 1..65535", endpoint);
    if (hlen == 0 || hlen >= host_cap || plen >= port_cap)
        return tu_error(TEEU_ERR_CONFIG, "gRPC endpoint \"%s\" is too long", endpoint);
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memcpy(port, colon + 1, plen);
    port[plen] = '\0';
    return TEEU_OK;
}
