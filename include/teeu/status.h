/*
 * libteeu — the error model.
 *
 * Every fallible call returns a teeu_status. TEEU_OK is 0; every error is a
 * positive, stable number grouped by layer (values never change once
 * released, new codes are only appended inside their group). Besides the
 * code, the failing call leaves a human-readable detail message in a
 * per-thread buffer, read with teeu_last_error(): it names what failed and,
 * where possible, what to do about it.
 */
#ifndef TEEU_STATUS_H
#define TEEU_STATUS_H

#include <teeu/export.h>

TEEU_BEGIN_DECLS

typedef enum teeu_status {
    TEEU_OK = 0,

    /* General (1..99) */
    TEEU_ERR_INVALID_ARGUMENT = 1,   /**< a NULL or out-of-range argument */
    TEEU_ERR_NOMEM = 2,              /**< an allocation failed */
    TEEU_ERR_IO = 3,                 /**< reading or writing a file failed */
    TEEU_ERR_BUFFER_TOO_SMALL = 4,   /**< a caller buffer cannot hold the output */
    TEEU_ERR_OVERFLOW = 5,           /**< a size computation would overflow */
    TEEU_ERR_UNSUPPORTED = 6,        /**< a valid request this build cannot serve */
    TEEU_ERR_CONFIG = 7,             /**< a configuration value is missing or invalid */
    TEEU_ERR_INSECURE = 8,           /**< an insecure setting outside simulation */
    TEEU_ERR_INTERNAL_BUG = 9,       /**< an invariant of libteeu broke: please report */
    TEEU_ERR_LIMIT = 10,             /**< a configured limit was exceeded */
    TEEU_ERR_JSON = 11,              /**< malformed JSON */
    TEEU_ERR_ENCODING = 12,          /**< malformed base64/hex/text encoding */

    /* ndarray and .npy codec (100..199) */
    TEEU_ERR_NPY_MAGIC = 100,            /**< not a .npy file: bad magic string */
    TEEU_ERR_NPY_VERSION = 101,          /**< unsupported .npy format version */
    TEEU_ERR_NPY_TRUNCATED = 102,        /**< input ends inside the preamble or header */
    TEEU_ERR_NPY_HEADER_LENGTH = 103,    /**< header length out of bounds */
    TEEU_ERR_NPY_HEADER_SYNTAX = 104,    /**< header is not a well-formed dict literal */
    TEEU_ERR_NPY_HEADER_KEYS = 105,      /**< missing, duplicate or unknown header key */
    TEEU_ERR_NPY_DTYPE = 106,            /**< unknown or unsupported dtype */
    TEEU_ERR_NPY_SHAPE = 107,            /**< malformed shape or too many dimensions */
    TEEU_ERR_NPY_FORTRAN_ORDER = 108,    /**< fortran_order is not True/False */
    TEEU_ERR_NPY_SIZE_OVERFLOW = 109,    /**< shape product or byte size overflows */
    TEEU_ERR_NPY_DATA_LENGTH = 110,      /**< data length differs from the header's promise */
    TEEU_ERR_NPY_HEADER_PADDING = 111,   /**< header not padded/terminated as required */
    TEEU_ERR_NPY_COMPRESSED = 112,       /**< zstd frame is corrupt */
    TEEU_ERR_NPY_DECOMPRESSED_TOO_LARGE = 113, /**< zstd frame expands past the bound */
    TEEU_ERR_NPY_LAYOUT = 114,           /**< strides/layout not representable in .npy */

    /* crypto (200..299) */
    TEEU_ERR_KEY_FORMAT = 200,           /**< not a PEM key libteeu can read */
    TEEU_ERR_KEY_TYPE = 201,             /**< wrong key algorithm (e.g. EC where RSA is needed) */
    TEEU_ERR_KEY_TOO_SMALL = 202,        /**< RSA modulus below the required size */
    TEEU_ERR_KEY_PASSPHRASE = 203,       /**< encrypted key: passphrase missing or wrong */
    TEEU_ERR_SIGNATURE = 204,            /**< a signature does not verify */
    TEEU_ERR_DECRYPT = 205,              /**< authentication tag or padding check failed */
    TEEU_ERR_CRYPTO = 206,               /**< the crypto library failed unexpectedly */
    TEEU_ERR_STREAM_ORDER = 207,         /**< segment out of order, duplicated or after final */
    TEEU_ERR_STREAM_TRUNCATED = 208,     /**< stream ended without its final segment */
    TEEU_ERR_RANDOM = 209,               /**< the CSPRNG failed */

    /* wire and rpc (300..399); 3xx mirrors gRPC codes where one exists */
    TEEU_ERR_RPC_CANCELLED = 301,
    TEEU_ERR_RPC_UNKNOWN = 302,
    TEEU_ERR_RPC_INVALID_ARGUMENT = 303,
    TEEU_ERR_RPC_DEADLINE_EXCEEDED = 304,
    TEEU_ERR_RPC_NOT_FOUND = 305,
    TEEU_ERR_RPC_ALREADY_EXISTS = 306,
    TEEU_ERR_RPC_PERMISSION_DENIED = 307,
    TEEU_ERR_RPC_RESOURCE_EXHAUSTED = 308,
    TEEU_ERR_RPC_FAILED_PRECONDITION = 309,
    TEEU_ERR_RPC_ABORTED = 310,
    TEEU_ERR_RPC_OUT_OF_RANGE = 311,
    TEEU_ERR_RPC_UNIMPLEMENTED = 312,
    TEEU_ERR_RPC_INTERNAL = 313,
    TEEU_ERR_RPC_UNAVAILABLE = 314,
    TEEU_ERR_RPC_DATA_LOSS = 315,
    TEEU_ERR_RPC_UNAUTHENTICATED = 316,
    TEEU_ERR_CONNECT = 350,              /**< could not connect to the peer */
    TEEU_ERR_TLS = 351,                  /**< TLS handshake or certificate check failed */
    TEEU_ERR_TIMEOUT = 352,              /**< the call's deadline passed */
    TEEU_ERR_PROTOCOL = 353,             /**< the peer broke HTTP/2 or gRPC framing */
    TEEU_ERR_RESPONSE_TOO_LARGE = 354,   /**< the response exceeds the size bound */
    TEEU_ERR_PROTOBUF = 355,             /**< a message does not decode or lacks a field */

    /* attestation (400..499) */
    TEEU_ERR_QUOTE_FORMAT = 400,         /**< quote is truncated or malformed */
    TEEU_ERR_QUOTE_SIGNATURE = 401,      /**< ISV or QE report signature, or key binding, fails */
    TEEU_ERR_CERT_CHAIN = 402,           /**< certificate chain does not reach the pinned root */
    TEEU_ERR_CERT_EXPIRED = 403,         /**< a certificate is outside its validity window */
    TEEU_ERR_REVOKED = 404,              /**< a certificate is on a CRL */
    TEEU_ERR_COLLATERAL_FORMAT = 405,    /**< collateral is malformed */
    TEEU_ERR_COLLATERAL_SIGNATURE = 406, /**< TCB info / QE identity signature fails */
    TEEU_ERR_COLLATERAL_EXPIRED = 407,   /**< CRL, TCB info or QE identity out of date */
    TEEU_ERR_TCB_STATUS = 408,           /**< TCB level not found or not accepted */
    TEEU_ERR_QE_IDENTITY = 409,          /**< QE report does not match the QE identity */
    TEEU_ERR_POLICY = 410,               /**< enclave identity does not match the policy */
    TEEU_ERR_REPORT_DATA = 411,          /**< report data does not bind the expected value */
    TEEU_ERR_SIMULATION_ONLY = 412,      /**< a simulation quote or root outside simulation */

    /* client (500..599) */
    TEEU_ERR_NOT_AUTHORIZED = 500,       /**< the AuthManager or TEEU refused on authorization */
    TEEU_ERR_NOT_FOUND = 501,            /**< the object or result is unknown */
    TEEU_ERR_BAD_HANDLE = 502            /**< an object handle string is malformed */
} teeu_status;

/** Short, static, English name of a status ("invalid argument"). Never NULL. */
TEEU_API const char *teeu_status_str(teeu_status status);

/**
 * Detail message of the last failure on the calling thread, e.g.
 * ".npy header: shape (3, -1) has a negative dimension". Never NULL; empty
 * when the last call succeeded without error. The string is owned by
 * libteeu and valid until the next libteeu call on the same thread.
 */
TEEU_API const char *teeu_last_error(void);

TEEU_END_DECLS

#endif /* TEEU_STATUS_H */
