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

}  // namespace inventory::schemas
