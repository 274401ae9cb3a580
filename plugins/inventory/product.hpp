// Products: their JSON, and the rules their fields follow (shared by the API
// and the CSV import, so both accept exactly the same values).
#pragma once

#include <oms/plugin.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace inventory {

inline constexpr int64_t kMaxOnHand = 1'000'000'000;
inline constexpr const char* kDefaultCurrency = "INR";

// The columns product_json() reads.
inline constexpr const char* kProductColumns =
    "product_id, sku, name, price, currency, on_hand, reserved, created_at, updated_at";

oms::json product_json(const oms::Row& row);

std::string lowercase(std::string_view s);
std::string trim(std::string_view s);

// Each returns why the value is not acceptable ("must be ..."), or nullopt.
std::optional<std::string> sku_error(std::string_view sku);
std::optional<std::string> name_error(std::string_view trimmed_name);
// The currency in upper case when it is one OMS supports.
std::optional<std::string> normalize_currency(std::string_view code);

struct NewProduct {
    std::string sku, name, currency;
    int64_t price = 0;  // minor units
    int64_t on_hand = 0;
};
// The POST /inventory body; collects every bad field, then throws validation_failed.
NewProduct parse_new_product(const oms::json& body);

struct ProductChange {
    std::optional<std::string> name;
    std::optional<int64_t> price;  // minor units of the product's currency
    std::optional<int64_t> on_hand;
    bool empty() const { return !name && !price && !on_hand; }
};
// The PATCH body for a product priced in `currency`. sku and currency are
// fixed once created, so sending them is a validation error.
ProductChange parse_product_change(const oms::json& body, std::string_view currency);

// Records a change of on_hand (every change is recorded, for audits).
void record_movement(oms::Tx& tx, std::string_view product_id, int64_t delta, std::string_view reason,
                     const std::optional<std::string>& order_id, const std::optional<std::string>& actor);

}  // namespace inventory
