"""Exceptions: one class per teeu_status, grouped by layer under TeeuError.

    TeeuError
    ├── GeneralError      1..99   (InvalidArgumentError, ConfigError, ...)
    ├── NpyError          100..199 (NpyMagicError, NpyLayoutError, ...)
    ├── CryptoError       200..299 (KeyFormatError, DecryptError, ...)
    ├── RpcError          300..399 (RpcUnavailableError, ConnectError, TeeuTimeoutError, ...)
    ├── AttestationError  400..499 (QuoteSignatureError, PolicyError, ...)
    └── ClientError       500..599 (NotAuthorizedError, NotFoundError, BadHandleError)

Each exception carries `status` (the number), `status_name` (the C enum
name, e.g. "TEEU_ERR_NOT_AUTHORIZED"), `status_str` (libteeu's short text)
and `message` (teeu_last_error(): what failed and what to do). Where a
builtin exception means the same thing the class also derives from it
(InvalidArgumentError is a ValueError, TeeuTimeoutError a TimeoutError, ...),
so generic handlers keep working.
"""


class TeeuError(Exception):
    """A libteeu call failed."""

    status = None
    status_name = None

    def __init__(self, message, status=None, status_str=None):
        super().__init__(message)
        if status is not None:
            self.status = status
        self.message = message
        self.status_str = status_str

    def __str__(self):
        prefix = f"[{self.status_name}] " if self.status_name else ""
        return prefix + self.message

    def __reduce__(self):
        return (type(self), (self.message, self.status, self.status_str))


class GeneralError(TeeuError):
    """Arguments, memory, files, configuration, limits (statuses 1..99)."""


class NpyError(TeeuError):
    """ndarray descriptions and the .npy codec (statuses 100..199)."""


class CryptoError(TeeuError):
    """Keys, signatures, AEAD, streams (statuses 200..299)."""


class RpcError(TeeuError):
    """Network, TLS, HTTP/2 and gRPC (statuses 300..399; 301..316 are gRPC codes 1..16)."""


class AttestationError(TeeuError):
    """SGX quotes, certificates, collateral, enclave policy (statuses 400..499)."""


class ClientError(TeeuError):
    """Authorization and objects (statuses 500..599)."""


_GROUPS = ((1, 99, GeneralError), (100, 199, NpyError), (200, 299, CryptoError),
           (300, 399, RpcError), (400, 499, AttestationError), (500, 599, ClientError))

# (status, C enum suffix, class name, extra builtin base or None)
_TABLE = (
    (1, "INVALID_ARGUMENT", "InvalidArgumentError", ValueError),
    (2, "NOMEM", "NoMemoryError", MemoryError),
    (3, "IO", "TeeuIOError", OSError),
    (4, "BUFFER_TOO_SMALL", "BufferTooSmallError", None),
    (5, "OVERFLOW", "SizeOverflowError", OverflowError),
    (6, "UNSUPPORTED", "UnsupportedError", None),
    (7, "CONFIG", "ConfigError", None),
    (8, "INSECURE", "InsecureError", None),
    (9, "INTERNAL_BUG", "InternalBugError", None),
    (10, "LIMIT", "LimitError", None),
    (11, "JSON", "JSONError", ValueError),
    (12, "ENCODING", "EncodingError", ValueError),
    (100, "NPY_MAGIC", "NpyMagicError", ValueError),
    (101, "NPY_VERSION", "NpyVersionError", ValueError),
    (102, "NPY_TRUNCATED", "NpyTruncatedError", ValueError),
    (103, "NPY_HEADER_LENGTH", "NpyHeaderLengthError", ValueError),
    (104, "NPY_HEADER_SYNTAX", "NpyHeaderSyntaxError", ValueError),
    (105, "NPY_HEADER_KEYS", "NpyHeaderKeysError", ValueError),
    (106, "NPY_DTYPE", "NpyDtypeError", ValueError),
    (107, "NPY_SHAPE", "NpyShapeError", ValueError),
    (108, "NPY_FORTRAN_ORDER", "NpyFortranOrderError", ValueError),
    (109, "NPY_SIZE_OVERFLOW", "NpySizeOverflowError", ValueError),
    (110, "NPY_DATA_LENGTH", "NpyDataLengthError", ValueError),
    (111, "NPY_HEADER_PADDING", "NpyHeaderPaddingError", ValueError),
    (112, "NPY_COMPRESSED", "NpyCompressedError", ValueError),
    (113, "NPY_DECOMPRESSED_TOO_LARGE", "NpyDecompressedTooLargeError", ValueError),
    (114, "NPY_LAYOUT", "NpyLayoutError", ValueError),
    (200, "KEY_FORMAT", "KeyFormatError", ValueError),
    (201, "KEY_TYPE", "KeyTypeError", ValueError),
    (202, "KEY_TOO_SMALL", "KeyTooSmallError", ValueError),
    (203, "KEY_PASSPHRASE", "KeyPassphraseError", None),
    (204, "SIGNATURE", "SignatureError", None),
    (205, "DECRYPT", "DecryptError", None),
    (206, "CRYPTO", "CryptoLibraryError", None),
    (207, "STREAM_ORDER", "StreamOrderError", None),
    (208, "STREAM_TRUNCATED", "StreamTruncatedError", None),
    (209, "RANDOM", "RandomError", None),
    (301, "RPC_CANCELLED", "RpcCancelledError", None),
    (302, "RPC_UNKNOWN", "RpcUnknownError", None),
    (303, "RPC_INVALID_ARGUMENT", "RpcInvalidArgumentError", None),
    (304, "RPC_DEADLINE_EXCEEDED", "RpcDeadlineExceededError", TimeoutError),
    (305, "RPC_NOT_FOUND", "RpcNotFoundError", None),
    (306, "RPC_ALREADY_EXISTS", "RpcAlreadyExistsError", None),
    (307, "RPC_PERMISSION_DENIED", "RpcPermissionDeniedError", None),
    (308, "RPC_RESOURCE_EXHAUSTED", "RpcResourceExhaustedError", None),
    (309, "RPC_FAILED_PRECONDITION", "RpcFailedPreconditionError", None),
    (310, "RPC_ABORTED", "RpcAbortedError", None),
    (311, "RPC_OUT_OF_RANGE", "RpcOutOfRangeError", None),
    (312, "RPC_UNIMPLEMENTED", "RpcUnimplementedError", None),
    (313, "RPC_INTERNAL", "RpcInternalError", None),
    (314, "RPC_UNAVAILABLE", "RpcUnavailableError", None),
    (315, "RPC_DATA_LOSS", "RpcDataLossError", None),
    (316, "RPC_UNAUTHENTICATED", "RpcUnauthenticatedError", None),
    (350, "CONNECT", "ConnectError", ConnectionError),
    (351, "TLS", "TLSError", None),
    (352, "TIMEOUT", "TeeuTimeoutError", TimeoutError),
    (353, "PROTOCOL", "ProtocolError", None),
    (354, "RESPONSE_TOO_LARGE", "ResponseTooLargeError", None),
    (355, "PROTOBUF", "ProtobufError", None),
    (400, "QUOTE_FORMAT", "QuoteFormatError", None),
    (401, "QUOTE_SIGNATURE", "QuoteSignatureError", None),
    (402, "CERT_CHAIN", "CertChainError", None),
    (403, "CERT_EXPIRED", "CertExpiredError", None),
    (404, "REVOKED", "RevokedError", None),
    (405, "COLLATERAL_FORMAT", "CollateralFormatError", None),
    (406, "COLLATERAL_SIGNATURE", "CollateralSignatureError", None),
    (407, "COLLATERAL_EXPIRED", "CollateralExpiredError", None),
    (408, "TCB_STATUS", "TcbStatusError", None),
    (409, "QE_IDENTITY", "QeIdentityError", None),
    (410, "POLICY", "PolicyError", None),
    (411, "REPORT_DATA", "ReportDataError", None),
    (412, "SIMULATION_ONLY", "SimulationOnlyError", None),
    (500, "NOT_AUTHORIZED", "NotAuthorizedError", PermissionError),
    (501, "NOT_FOUND", "NotFoundError", LookupError),
    (502, "BAD_HANDLE", "BadHandleError", ValueError),
)


def _group(status):
    for lo, hi, cls in _GROUPS:
        if lo <= status <= hi:
            return cls
    return TeeuError


_BY_STATUS = {}
__all__ = ["TeeuError", "GeneralError", "NpyError", "CryptoError", "RpcError", "AttestationError",
           "ClientError", "error_class", "STATUS_NAMES"]

for _status, _suffix, _name, _builtin in _TABLE:
    _bases = (_group(_status),) + ((_builtin,) if _builtin is not None else ())
    _cls = type(_name, _bases, {
        "__doc__": f"TEEU_ERR_{_suffix} ({_status}).",
        "__module__": __name__,
        "status": _status,
        "status_name": f"TEEU_ERR_{_suffix}",
    })
    globals()[_name] = _cls
    _BY_STATUS[_status] = _cls
    __all__.append(_name)

# status number -> C enum name, for every status these bindings know.
STATUS_NAMES = {s: f"TEEU_ERR_{suffix}" for s, suffix, _, _ in _TABLE}


def error_class(status):
    """The exception class for a teeu_status (its group's class for a status unknown to these bindings)."""
    return _BY_STATUS.get(status) or _group(status)


def make_error(status, message, status_str=None):
    cls = error_class(status)
    exc = cls(message or status_str or f"libteeu status {status}", status, status_str)
    if cls.status is None:  # a status newer than these bindings: keep its number visible
        exc.status_name = f"status {status}"
    return exc
