# Generates protobuf-c sources for every .proto under proto/ (and the
# well-known google/protobuf/any.proto they import) into
# ${CMAKE_BINARY_DIR}/generated at build time. Nothing generated is committed.
find_program(TEEU_PROTOC_C protoc-c REQUIRED)
find_path(TEEU_PROTOBUF_INCLUDE google/protobuf/any.proto PATHS /usr/include REQUIRED)

set(TEEU_PROTO_ROOT ${CMAKE_SOURCE_DIR}/proto)
set(TEEU_GEN_DIR ${CMAKE_BINARY_DIR}/generated)
file(GLOB_RECURSE TEEU_PROTO_FILES CONFIGURE_DEPENDS RELATIVE ${TEEU_PROTO_ROOT} ${TEEU_PROTO_ROOT}/*.proto)

function(teeu_protoc_c root rel out_var)
    string(REGEX REPLACE "\\.proto$" "" stem ${rel})
    set(c ${TEEU_GEN_DIR}/${stem}.pb-c.c)
    set(h ${TEEU_GEN_DIR}/${stem}.pb-c.h)
    add_custom_command(
        OUTPUT ${c} ${h}
        COMMAND ${CMAKE_COMMAND} -E make_directory ${TEEU_GEN_DIR}
        COMMAND ${TEEU_PROTOC_C} -I${TEEU_PROTO_ROOT} -I${TEEU_PROTOBUF_INCLUDE}
                --c_out=${TEEU_GEN_DIR} ${root}/${rel}
        DEPENDS ${root}/${rel}
        COMMENT "protoc-c ${rel}"
        VERBATIM)
    set(${out_var} ${c} PARENT_SCOPE)
endfunction()

teeu_protoc_c(${TEEU_PROTOBUF_INCLUDE} google/protobuf/any.proto gen_any)
list(APPEND TEEU_GENERATED_SOURCES ${gen_any})
foreach(rel ${TEEU_PROTO_FILES})
    teeu_protoc_c(${TEEU_PROTO_ROOT} ${rel} gen)
    list(APPEND TEEU_GENERATED_SOURCES ${gen})
endforeach()
set_source_files_properties(${TEEU_GENERATED_SOURCES} PROPERTIES GENERATED TRUE)
