# The payments plugin through the real host (users, inventory, orders,
# payments) against the fake Razorpay gateway over real sockets. The suite
# also compiles the plugin's signature code, to cross-check it against
# `openssl dgst` and the fake, and serves TLS (Poco NetSSL) to test the
# plugin's HTTPS client.
if(TARGET fake_razorpay)
  oms_integration_test(payments_test integration/payments_test.cpp
                       ${PROJECT_SOURCE_DIR}/plugins/payments/signature.cpp)
  target_include_directories(payments_test PRIVATE ${PROJECT_SOURCE_DIR}/plugins/payments)
  # Poco NetSSL: a TLS stand-in for api.razorpay.com, for the plugin's HTTPS client.
  if(NOT TARGET Poco::NetSSL)
    find_package(Poco 1.11 REQUIRED COMPONENTS Net NetSSL)
  endif()
  target_link_libraries(payments_test PRIVATE fake_razorpay Poco::NetSSL OpenSSL::Crypto)
  add_dependencies(payments_test payments orders inventory users probe)
endif()
