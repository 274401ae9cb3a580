// The orders routes' OpenAPI schemas (GET /openapi.json), beside the rules in order_input.cpp.
#pragma once

#include <oms/plugin.hpp>

#include <string>
#include <vector>

#include "order_input.hpp"
#include "order_state.hpp"

namespace orders::schemas {

namespace s = oms::schema;

inline oms::json status() { return s::one_of(std::vector<std::string>(std::begin(kStatuses), std::end(kStatuses))); }
inline oms::json reason() { return s::text(0, static_cast<int64_t>(kMaxReason)); }

inline oms::json item() {
    return s::object({{"line", s::integer(1)},
                      {"product_id", s::uuid()},
                      {"sku", s::text()},
                      {"name", s::text()},
                      {"quantity", s::integer(1, kMaxQuantity)},
                      {"unit_price", s::money()},
                      {"line_total", s::money()}},
                     {"line", "product_id", "sku", "name", "quantity", "unit_price", "line_total"});
}

inline oms::json history_entry() {
    return s::object({{"from", s::nullable(status())},
                      {"to", status()},
                      {"actor", {{"type", "string"}, {"description", "A user id, system or payments"}}},
                      {"reason", s::nullable(s::text())},
                      {"at", s::date_time()}},
                     {"from", "to", "actor", "at"});
}

// As GET /orders lists it; `detailed` adds what GET /orders/:id shows.
inline oms::json order(bool detailed = true) {
    oms::json o = s::object({{"id", s::uuid()},
                             {"customer_id", s::uuid()},
                             {"status", status()},
                             {"currency", s::text(3, 3)},
                             {"total_amount", s::money()},
                             {"reservation_expires_at", s::nullable(s::date_time())},
                             {"created_at", s::date_time()},
                             {"updated_at", s::date_time()},
                             {"items", s::array(item())}},
                            {"id", "customer_id", "status", "currency", "total_amount", "created_at", "items"});
    if (detailed) {
        o["properties"]["history"] = s::array(history_entry());
        o["properties"]["payments"] = {{"type", "array"},
                                       {"items", {{"type", "object"}}},
                                       {"description", "The order's payments (empty without the payments plugin)"}};
    }
    return o;
}

// The old service's body is accepted as is.
inline oms::json new_order() {
    auto line = s::object({{"product_id", s::uuid()},
                           {"quantity", s::integer(1, kMaxQuantity)},
                           {"price", {{"type", "number"}, {"description", "If given, must equal the catalogue's"}}}},
                          {"product_id", "quantity"});
    auto items = s::array(std::move(line));
    items["minItems"] = 1;
    items["maxItems"] = kMaxItems;
    return s::object({{"customer_id", {{"type", "string"}, {"format", "uuid"}, {"description", "Defaults to the caller; only admins may name another"}}},
                      {"currency", s::currency()},
                      {"total_amount", {{"type", "number"}, {"description", "If given, must equal the server's total"}}},
                      {"items", std::move(items)}},
                     {"items"});
}

inline oms::json cancel() { return s::object({{"reason", reason()}}); }
inline oms::json status_change() { return s::object({{"status", status()}, {"reason", reason()}}, {"status"}); }

// ---- contracts: the events and the service other plugins use (`oms-host contracts`) ----

// A move of the state machine (order.paid, order.cancelled, ...): from one of `from` to `to`.
inline oms::json status_changed(std::vector<std::string> from, std::string to) {
    return s::object({{"order_id", s::uuid()},
                      {"customer_id", s::uuid()},
                      {"from", s::one_of(std::move(from))},
                      {"to", s::one_of({std::move(to)})},
                      {"total_amount", s::minor_units()},
                      {"currency", s::text(3, 3)},
                      {"actor", {{"type", "string"}, {"description", "Who moved it: a user id, system or payments"}}},
                      {"reason", s::nullable(s::text())}},
                     {"order_id", "customer_id", "from", "to", "total_amount", "currency", "actor", "reason"});
}

inline oms::json created() {
    return s::object({{"order_id", s::uuid()},
                      {"customer_id", s::uuid()},
                      {"status", s::one_of({"pending"})},
                      {"total_amount", s::minor_units()},
                      {"currency", s::text(3, 3)},
                      {"items", s::array(s::object({{"product_id", s::uuid()},
                                                    {"quantity", s::integer(1)},
                                                    {"unit_price", s::minor_units()}},
                                                   {"product_id", "quantity", "unit_price"}))}},
                     {"order_id", "customer_id", "status", "total_amount", "currency", "items"});
}

inline oms::json get_args() { return s::object({{"order_id", s::uuid()}}, {"order_id"}); }

inline oms::json get_result() {
    return s::object({{"id", s::uuid()},
                      {"customer_id", s::uuid()},
                      {"status", status()},
                      {"currency", s::text(3, 3)},
                      {"total_amount", s::minor_units()},
                      {"reservation_expires_at", s::nullable(s::date_time())}},
                     {"id", "customer_id", "status", "currency", "total_amount", "reservation_expires_at"});
}

}  // namespace orders::schemas
