/* Status names and the per-thread detail message behind teeu_last_error(). */
#include <stdio.h>
#include <string.h>

#include "core_internal.h"

#define TU_ERRMSG_MAX 1024

/* Each thread has its own message, so concurrent failures never mix. */
static _Thread_local char tu_errmsg[TU_ERRMSG_MAX];

const char *teeu_status_str(teeu_status status)
{
    switch (status) {
    case TEEU_OK: return "ok";
    case TEEU_ERR_INVALID_ARGUMENT: return "invalid argument";
    case TEEU_ERR_NOMEM: return "out of memory";
    case TEEU_ERR_IO: return "I/O error";
    case TEEU_ERR_BUFFER_TOO_SMALL: return "buffer too small";
    case TEEU_ERR_OVERFLOW: return "size overflow";
    case TEEU_ERR_UNSUPPORTED: return "unsupported";
    case TEEU_ERR_CONFIG: return "configuration error";
    case TEEU_ERR_INSECURE: return "insecure setting refused";
    case TEEU_ERR_INTERNAL_BUG: return "internal error in libteeu";
    case TEEU_ERR_LIMIT: return "limit exceeded";
    case TEEU_ERR_JSON: return "malformed JSON";
    case TEEU_ERR_ENCODING: return "malformed encoding";

    case TEEU_ERR_NPY_MAGIC: return "not a .npy file";
    case TEEU_ERR_NPY_VERSION: return "unsupported .npy version";
    case TEEU_ERR_NPY_TRUNCATED: return ".npy input truncated";
    case TEEU_ERR_NPY_HEADER_LENGTH: return ".npy header length out of bounds";
    case TEEU_ERR_NPY_HEADER_SYNTAX: return "malformed .npy header";
    case TEEU_ERR_NPY_HEADER_KEYS: return "bad .npy header keys";
    case TEEU_ERR_NPY_DTYPE: return "unsupported .npy dtype";
    case TEEU_ERR_NPY_SHAPE: return "malformed .npy shape";
    case TEEU_ERR_NPY_FORTRAN_ORDER: return "malformed .npy fortran_order";
    case TEEU_ERR_NPY_SIZE_OVERFLOW: return ".npy array size overflows";
    case TEEU_ERR_NPY_DATA_LENGTH: return ".npy data length mismatch";
    case TEEU_ERR_NPY_HEADER_PADDING: return "bad .npy header padding";
    case TEEU_ERR_NPY_COMPRESSED: return "corrupt zstd frame";
    case TEEU_ERR_NPY_DECOMPRESSED_TOO_LARGE: return "decompressed size exceeds bound";
    case TEEU_ERR_NPY_LAYOUT: return "array layout not representable";

    case TEEU_ERR_KEY_FORMAT: return "unreadable key";
    case TEEU_ERR_KEY_TYPE: return "wrong key type";
    case TEEU_ERR_KEY_TOO_SMALL: return "key too small";
    case TEEU_ERR_KEY_PASSPHRASE: return "wrong or missing key passphrase";
    case TEEU_ERR_SIGNATURE: return "signature does not verify";
    case TEEU_ERR_DECRYPT: return "decryption failed";
    case TEEU_ERR_CRYPTO: return "crypto library failure";
    case TEEU_ERR_STREAM_ORDER: return "stream segment out of order";
    case TEEU_ERR_STREAM_TRUNCATED: return "stream truncated";
    case TEEU_ERR_RANDOM: return "random generator failure";

    case TEEU_ERR_RPC_CANCELLED: return "rpc cancelled";
    case TEEU_ERR_RPC_UNKNOWN: return "rpc unknown error";
    case TEEU_ERR_RPC_INVALID_ARGUMENT: return "rpc invalid argument";
    case TEEU_ERR_RPC_DEADLINE_EXCEEDED: return "rpc deadline exceeded";
    case TEEU_ERR_RPC_NOT_FOUND: return "rpc not found";
    case TEEU_ERR_RPC_ALREADY_EXISTS: return "rpc already exists";
    case TEEU_ERR_RPC_PERMISSION_DENIED: return "rpc permission denied";
    case TEEU_ERR_RPC_RESOURCE_EXHAUSTED: return "rpc resource exhausted";
    case TEEU_ERR_RPC_FAILED_PRECONDITION: return "rpc failed precondition";
    case TEEU_ERR_RPC_ABORTED: return "rpc aborted";
    case TEEU_ERR_RPC_OUT_OF_RANGE: return "rpc out of range";
    case TEEU_ERR_RPC_UNIMPLEMENTED: return "rpc unimplemented";
    case TEEU_ERR_RPC_INTERNAL: return "rpc internal error";
    case TEEU_ERR_RPC_UNAVAILABLE: return "rpc unavailable";
    case TEEU_ERR_RPC_DATA_LOSS: return "rpc data loss";
    case TEEU_ERR_RPC_UNAUTHENTICATED: return "rpc unauthenticated";
    case TEEU_ERR_CONNECT: return "connection failed";
    case TEEU_ERR_TLS: return "TLS failure";
    case TEEU_ERR_TIMEOUT: return "deadline passed";
    case TEEU_ERR_PROTOCOL: return "protocol violation by peer";
    case TEEU_ERR_RESPONSE_TOO_LARGE: return "response too large";
    case TEEU_ERR_PROTOBUF: return "malformed protobuf message";

    case TEEU_ERR_QUOTE_FORMAT: return "malformed quote";
    case TEEU_ERR_QUOTE_SIGNATURE: return "quote signature invalid";
    case TEEU_ERR_CERT_CHAIN: return "certificate chain invalid";
    case TEEU_ERR_CERT_EXPIRED: return "certificate not valid at this time";
    case TEEU_ERR_REVOKED: return "certificate revoked";
    case TEEU_ERR_COLLATERAL_FORMAT: return "malformed collateral";
    case TEEU_ERR_COLLATERAL_SIGNATURE: return "collateral signature invalid";
    case TEEU_ERR_COLLATERAL_EXPIRED: return "collateral expired";
    case TEEU_ERR_TCB_STATUS: return "TCB status not accepted";
    case TEEU_ERR_QE_IDENTITY: return "quoting enclave identity mismatch";
    case TEEU_ERR_POLICY: return "enclave identity does not match policy";
    case TEEU_ERR_REPORT_DATA: return "report data binding mismatch";
    case TEEU_ERR_SIMULATION_ONLY: return "simulation attestation outside simulation";

    case TEEU_ERR_NOT_AUTHORIZED: return "not authorized";
    case TEEU_ERR_NOT_FOUND: return "not found";
    case TEEU_ERR_BAD_HANDLE: return "malformed object handle";
    }
    return "unknown status";
}

const char *teeu_last_error(void)
{
    return tu_errmsg;
}

void tu_error_clear(void)
{
    tu_errmsg[0] = '\0';
}

teeu_status tu_verror(teeu_status status, const char *fmt, va_list ap)
{
    /* Format into a local first: fmt's arguments may point into tu_errmsg. */
    char tmp[TU_ERRMSG_MAX];
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    memcpy(tu_errmsg, tmp, sizeof tmp);
    return status;
}

teeu_status tu_error(teeu_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tu_verror(status, fmt, ap);
    va_end(ap);
    return status;
}

teeu_status tu_error_context(teeu_status status, const char *fmt, ...)
{
    /* Build "prefix: detail" in a local buffer; truncation is acceptable. */
    char tmp[TU_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    size_t used = n < 0 ? 0 : (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1;
    const char *detail = tu_errmsg[0] != '\0' ? tu_errmsg : teeu_status_str(status);
    size_t room = sizeof tmp - used;
    if (room > 3) {
        memcpy(tmp + used, ": ", 2);
        size_t dlen = strnlen(detail, room - 3);
        memcpy(tmp + used + 2, detail, dlen);
        tmp[used + 2 + dlen] = '\0';
    }
    memcpy(tu_errmsg, tmp, sizeof tmp);
    return status;
}
