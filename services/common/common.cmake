# The gRPC server shared by the services (teeu-authmanager, teeud). Include
# this from a service's CMakeLists.txt; the target is defined once.
if(NOT TARGET teeu_grpc_server)
    pkg_check_modules(NGHTTP2 REQUIRED IMPORTED_TARGET libnghttp2)
    pkg_check_modules(LIBEVENT REQUIRED IMPORTED_TARGET libevent libevent_openssl libevent_pthreads)
    pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
    add_library(teeu_grpc_server STATIC ${CMAKE_SOURCE_DIR}/services/common/grpc_server.c
                                        ${CMAKE_SOURCE_DIR}/services/common/svc_config.c)
    teeu_warnings(teeu_grpc_server)
    target_include_directories(teeu_grpc_server PUBLIC ${CMAKE_SOURCE_DIR}/services/common)
    target_link_libraries(teeu_grpc_server PUBLIC teeu_static PkgConfig::NGHTTP2 PkgConfig::LIBEVENT
                          PkgConfig::JANSSON)
endif()

# A raw-bytes test server over the same code, for tests/python/test_authmanager_grpc_server.py.
if(TEEU_BUILD_TESTS AND NOT TARGET grpc_test_server)
    add_executable(grpc_test_server ${CMAKE_SOURCE_DIR}/services/common/grpc_test_server.c)
    teeu_warnings(grpc_test_server)
    target_link_libraries(grpc_test_server PRIVATE teeu_grpc_server)
endif()
