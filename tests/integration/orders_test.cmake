oms_integration_test(orders_test integration/orders_test.cpp)
# The test EXPLAINs the very SQL the plugin runs for a GET /orders page.
target_include_directories(orders_test PRIVATE ${PROJECT_SOURCE_DIR}/plugins/orders)
add_dependencies(orders_test orders inventory users probe)
