oms_integration_test(users_test integration/users_test.cpp)
target_link_libraries(users_test PRIVATE OpenSSL::Crypto)
add_dependencies(users_test users)
