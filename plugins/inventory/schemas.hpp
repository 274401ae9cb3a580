// The inventory routes' OpenAPI schemas (GET /openapi.json), beside the rules in product.cpp.
#pragma once

#include <oms/plugin.hpp>

#include "product.hpp"

namespace inventory::schemas {

namespace s = oms::schema;

inline oms::json sku() { return {{"type", "string"}, {"pattern", "^[A-Za-z0-9._-]{1,64}$"}}; }
inline oms::json name() { return s::text(1, 200); }
inline oms::json on_hand() { return s::integer(0, kMaxOnHand); }

inline oms::json product() {
    return s::object({{"product_id", s::uuid()},
                      {"sku", sku()},
                      {"name", s::text()},
                      {"price", s::money()},
                      {"currency", s::text(3, 3)},
                      {"on_hand", s::integer(0)},
                      {"reserved", s::integer(0)},
                      {"available", s::integer(0)},
                      {"created_at", s::date_time()},
                      {"updated_at", s::date_time()}},
                     {"product_id", "sku", "name", "price", "currency", "on_hand", "reserved", "available",
                      "created_at", "updated_at"});
}

inline oms::json new_product() {
    return s::object({{"sku", sku()}, {"name", name()}, {"price", s::money()}, {"currency", s::currency()},
                      {"on_hand", on_hand()}},
                     {"sku", "name", "price", "on_hand"});
}

// sku and currency are fixed once the product exists.
inline oms::json product_change() {
    return s::object({{"name", name()}, {"price", s::money()}, {"on_hand", on_hand()}});
}

// ---- contracts: the services and events other plugins use (`oms-host contracts`) ----

inline oms::json order_only() { return s::object({{"order_id", s::uuid()}}, {"order_id"}); }

inline oms::json reserve_args() {
    return s::object({{"order_id", s::uuid()},
                      {"items", s::array(s::object({{"product_id", s::uuid()}, {"quantity", s::integer(1, 1000000000)}},
                                                   {"product_id", "quantity"}))},
                      {"ttl_seconds", s::nullable(s::integer(1, 604800))}},
                     {"order_id", "items"});
}

inline oms::json reserve_result() {
    return s::object({{"items", s::array(s::object({{"product_id", s::uuid()},
                                                    {"sku", sku()},
                                                    {"name", s::text()},
                                                    {"unit_price", s::minor_units()},
                                                    {"currency", s::text(3, 3)},
                                                    {"quantity", s::integer(1)}},
                                                   {"product_id", "sku", "name", "unit_price", "currency",
                                                    "quantity"}))},
                      {"expires_at", s::date_time()}},
                     {"items", "expires_at"});
}

inline oms::json release_args() {
    return s::object({{"order_id", s::uuid()}, {"reason", s::nullable(s::text())}}, {"order_id"});
}

inline oms::json count_of(const char* field) { return s::object({{field, s::integer(0)}}, {field}); }

}  // namespace inventory::schemas
