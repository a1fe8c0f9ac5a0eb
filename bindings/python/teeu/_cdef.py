"""C declarations of libteeu's public API, for cffi's ABI mode.

They mirror include/teeu/*.h field for field: cffi lays structs out from
these declarations, so an order or type mismatch would corrupt calls.
tests/python/test_pybind_abi.py compiles the real headers and compares every
struct's size and field offsets with what cffi computes from this text.

C enums are declared as `int` typedefs (libteeu's enums are all small,
non-negative and int-sized); their values live in Python (teeu.constants).
"""

CDEF = r"""
typedef int teeu_status;
typedef int teeu_dtype;
typedef int teeu_byte_order;
typedef int teeu_layout;
typedef int teeu_log_level;

/* common.h, status.h, version.h */
void teeu_free(void *ptr);
void teeu_free_secret(void *ptr, size_t len);
const char *teeu_status_str(teeu_status status);
const char *teeu_last_error(void);
const char *teeu_version_string(void);
unsigned teeu_version_number(void);

/* log.h */
typedef void (*teeu_log_fn)(teeu_log_level level, const char *message, void *user_data);
void teeu_set_log_handler(teeu_log_fn fn, void *user_data, teeu_log_level min_level);
void teeu_log_to_stderr(teeu_log_level level, const char *message, void *user_data);
const char *teeu_log_level_str(teeu_log_level level);

/* ndarray.h */
typedef struct teeu_ndarray teeu_ndarray;
typedef struct teeu_ndarray_desc {
    teeu_dtype dtype;
    teeu_byte_order byte_order;
    size_t ndim;
    const size_t *shape;
    const ptrdiff_t *strides;
    teeu_layout layout;
    size_t offset;
} teeu_ndarray_desc;
void teeu_ndarray_desc_init(teeu_ndarray_desc *desc, teeu_dtype dtype);
size_t teeu_dtype_size(teeu_dtype dtype);
const char *teeu_dtype_name(teeu_dtype dtype);
teeu_status teeu_ndarray_view(teeu_dtype dtype, size_t ndim, const size_t *shape,
                              const void *data, size_t data_len, teeu_ndarray **out);
teeu_status teeu_ndarray_view_desc(const teeu_ndarray_desc *desc, const void *data,
                                   size_t data_len, teeu_ndarray **out);
teeu_status teeu_ndarray_new(const teeu_ndarray_desc *desc, teeu_ndarray **out);
void teeu_ndarray_free(teeu_ndarray *arr);
teeu_dtype teeu_ndarray_dtype(const teeu_ndarray *arr);
teeu_byte_order teeu_ndarray_byte_order(const teeu_ndarray *arr);
size_t teeu_ndarray_ndim(const teeu_ndarray *arr);
const size_t *teeu_ndarray_shape(const teeu_ndarray *arr);
const ptrdiff_t *teeu_ndarray_strides(const teeu_ndarray *arr);
size_t teeu_ndarray_size(const teeu_ndarray *arr);
size_t teeu_ndarray_nbytes(const teeu_ndarray *arr);
int teeu_ndarray_is_c_contiguous(const teeu_ndarray *arr);
int teeu_ndarray_is_f_contiguous(const teeu_ndarray *arr);
void *teeu_ndarray_data(const teeu_ndarray *arr);
int teeu_ndarray_owns_data(const teeu_ndarray *arr);

typedef struct teeu_npy_encode_options {
    unsigned flags;
    int zstd_level;
    unsigned format_major;
} teeu_npy_encode_options;
void teeu_npy_encode_options_init(teeu_npy_encode_options *opts);
teeu_status teeu_ndarray_encoded_size(const teeu_ndarray *arr,
                                      const teeu_npy_encode_options *opts, size_t *size);
teeu_status teeu_ndarray_encode(const teeu_ndarray *arr, const teeu_npy_encode_options *opts,
                                void *buf, size_t capacity, size_t *written);
teeu_status teeu_ndarray_encode_alloc(const teeu_ndarray *arr, const teeu_npy_encode_options *opts,
                                      uint8_t **out, size_t *out_len);

typedef struct teeu_npy_decode_options {
    unsigned flags;
    uint64_t max_decompressed;
} teeu_npy_decode_options;
void teeu_npy_decode_options_init(teeu_npy_decode_options *opts);
teeu_status teeu_ndarray_decode(const void *bytes, size_t len,
                                const teeu_npy_decode_options *opts, teeu_ndarray **out);
typedef struct teeu_npy_info {
    unsigned format_major;
    unsigned format_minor;
    teeu_dtype dtype;
    teeu_byte_order byte_order;
    int fortran_order;
    size_t ndim;
    size_t shape[64];
    size_t header_len;
    size_t data_len;
    int compressed;
} teeu_npy_info;
teeu_status teeu_npy_read_info(const void *bytes, size_t len,
                               const teeu_npy_decode_options *opts, teeu_npy_info *info);

/* keys.h */
typedef struct teeu_key teeu_key;
teeu_status teeu_key_load_private_file(const char *path, const char *passphrase, teeu_key **out);
teeu_status teeu_key_load_private_pem(const char *pem, size_t pem_len, const char *passphrase,
                                      teeu_key **out);
teeu_status teeu_key_load_public_pem(const char *pem, size_t pem_len, unsigned min_bits,
                                     teeu_key **out);
teeu_status teeu_key_load_public_file(const char *path, unsigned min_bits, teeu_key **out);
teeu_status teeu_key_generate(unsigned bits, teeu_key **out);
void teeu_key_free(teeu_key *key);
int teeu_key_is_private(const teeu_key *key);
unsigned teeu_key_bits(const teeu_key *key);
teeu_status teeu_key_owner_id(const teeu_key *key, char out[45]);
teeu_status teeu_key_public_pem(const teeu_key *key, char **pem, size_t *pem_len);
teeu_status teeu_key_private_pem(const teeu_key *key, const char *passphrase, char **pem,
                                 size_t *pem_len);

/* teeu.h: the client API */
typedef struct teeu_client teeu_client;
typedef struct teeu_object teeu_object;
typedef struct teeu_func teeu_func;
typedef struct teeu_endpoint {
    const char *address;
    const char *mr_enclave;
    const char *ca_file;
    const char *client_cert_file;
    const char *client_key_file;
} teeu_endpoint;
typedef struct teeu_config {
    teeu_endpoint auth_manager;
    teeu_endpoint teeu;
    const char *private_key_file;
    const char *private_key_passphrase;
    int tee_simulation;
    const char *sim_root_file;
    long timeout_ms;
    size_t segment_size;
    int zstd_level;
    int presign;
} teeu_config;
void teeu_config_init(teeu_config *cfg);
teeu_status teeu_client_new(const teeu_config *cfg, teeu_client **out);
teeu_status teeu_client_new_from_file(const char *path, teeu_client **out);
void teeu_client_free(teeu_client *client);
const char *teeu_client_owner_id(const teeu_client *client);
typedef struct teeu_client_stats {
    uint64_t rpc_calls;
    uint64_t am_calls;
    uint64_t teeu_calls;
    uint64_t rsa_private_ops;
    uint64_t puts;
    uint64_t bytes_sent;
    uint64_t rsa_private_ops_precomputed;
    uint64_t puts_presigned;
    uint64_t puts_presigned_auth;
} teeu_client_stats;
teeu_status teeu_client_get_stats(teeu_client *client, teeu_client_stats *stats);

teeu_status teeu_func_new(const char *name, const char *params_json, teeu_func **out);
teeu_status teeu_func_new_version(const char *name, unsigned version, const char *params_json,
                                  teeu_func **out);
const char *teeu_func_descriptor(const teeu_func *f);
const char *teeu_func_identity(const teeu_func *f);
void teeu_func_free(teeu_func *f);

typedef struct teeu_put_options {
    const char *const *allowed_parties;
    size_t n_allowed_parties;
    long timeout_ms;
    int zstd_level;
} teeu_put_options;
void teeu_put_options_init(teeu_put_options *opts);
teeu_status teeu_put(teeu_client *client, const teeu_ndarray *arr,
                     const teeu_func *const *allow_funcs, size_t n_funcs, teeu_object **obj);
teeu_status teeu_put_ex(teeu_client *client, const teeu_ndarray *arr,
                        const teeu_func *const *allow_funcs, size_t n_funcs,
                        const teeu_put_options *opts, teeu_object **obj);

const char *teeu_object_handle(const teeu_object *obj);
const char *teeu_object_uuid(const teeu_object *obj);
teeu_status teeu_object_from_string(const char *handle, teeu_object **obj);
void teeu_object_free(teeu_object *obj);

typedef struct teeu_arg {
    const teeu_object *const *objs;
    size_t n_objs;
    int is_list;
} teeu_arg;
typedef struct teeu_call_options {
    const char *const *revealers;
    size_t n_revealers;
    int allow_plaintext_reveal;
    long timeout_ms;
} teeu_call_options;
void teeu_call_options_init(teeu_call_options *opts);
teeu_status teeu_call(teeu_client *client, const teeu_func *func,
                      const teeu_object *const *objs, size_t n, teeu_object **result);
teeu_status teeu_call_ex(teeu_client *client, const teeu_func *func, const teeu_arg *args,
                         size_t n_args, const teeu_call_options *opts, teeu_object **result);

teeu_status teeu_delete(teeu_client *client, const teeu_object *obj);
teeu_status teeu_reveal(teeu_client *client, const teeu_object *result, teeu_ndarray **arr);
teeu_status teeu_reveal_ex(teeu_client *client, const teeu_object *result, long timeout_ms,
                           teeu_ndarray **arr);
"""

# Structs whose layout the ABI test checks against the C headers.
STRUCTS = {
    "teeu_ndarray_desc": ["dtype", "byte_order", "ndim", "shape", "strides", "layout", "offset"],
    "teeu_npy_encode_options": ["flags", "zstd_level", "format_major"],
    "teeu_npy_decode_options": ["flags", "max_decompressed"],
    "teeu_npy_info": ["format_major", "format_minor", "dtype", "byte_order", "fortran_order", "ndim",
                      "shape", "header_len", "data_len", "compressed"],
    "teeu_endpoint": ["address", "mr_enclave", "ca_file", "client_cert_file", "client_key_file"],
    "teeu_config": ["auth_manager", "teeu", "private_key_file", "private_key_passphrase", "tee_simulation",
                    "sim_root_file", "timeout_ms", "segment_size", "zstd_level", "presign"],
    "teeu_put_options": ["allowed_parties", "n_allowed_parties", "timeout_ms", "zstd_level"],
    "teeu_arg": ["objs", "n_objs", "is_list"],
    "teeu_client_stats": ["rpc_calls", "am_calls", "teeu_calls", "rsa_private_ops", "puts", "bytes_sent",
                          "rsa_private_ops_precomputed", "puts_presigned", "puts_presigned_auth"],
    "teeu_call_options": ["revealers", "n_revealers", "allow_plaintext_reveal", "timeout_ms"],
}
