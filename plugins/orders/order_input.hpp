// Validation of what clients send to the orders routes. Every bad field is
// collected and reported at once (400 validation_failed, fields such as
// items[2].quantity); nothing here touches the database.
#pragma once

#include <oms/plugin.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orders {

inline constexpr size_t kMaxItems = 100;
inline constexpr int64_t kMaxQuantity = 10000;
inline constexpr size_t kMaxReason = 200;  // inventory.release keeps reasons of at most 200 characters
inline constexpr std::string_view kDefaultCurrency = "INR";

struct ItemInput {
    std::string product_id;
    int64_t quantity = 0;
    std::optional<int64_t> price;  // minor units, when the client sent one to check
};

// POST /orders, the old service's body as is:
// {customer_id?, currency?, total_amount?, items: [{product_id, quantity, price?}]}.
struct NewOrder {
    std::optional<std::string> customer_id;
    std::string currency;                 // upper case, supported by oms::money
    std::optional<int64_t> total_amount;  // minor units, when the client sent one to check
    std::vector<ItemInput> items;
};
NewOrder parse_new_order(const oms::json& body);

// POST /orders/:id/status {status, reason?}.
struct StatusChange {
    std::string status;
    std::string reason;
};
StatusChange parse_status_change(const oms::json& body);

// The optional {reason} of POST /orders/:id/cancel.
std::string parse_cancel_reason(const oms::json& body);

}  // namespace orders
