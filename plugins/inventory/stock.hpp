// Changing the stock columns of several products at once. Every writer locks
// product rows in product_id order (after any reservation rows it needs), so
// concurrent reservations, commits, releases and the expiry job never deadlock.
#pragma once

#include <oms/plugin.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace inventory {

struct StockDelta {
    int64_t on_hand = 0;
    int64_t reserved = 0;
};
// product_id (lower-case UUID) → change; std::map keeps them in lock order.
using StockDeltas = std::map<std::string, StockDelta>;

// Locks the products (in product_id order) and returns their current rows
// with kProductColumns; unknown ids are simply absent.
// The same statement queued (see oms::Tx::query_later).
oms::Pending lock_products_later(oms::Tx& tx, const StockDeltas& products);
oms::Result lock_products(oms::Tx& tx, const StockDeltas& products);

// Applies the deltas to products the caller has locked. The table's CHECKs
// (0 <= reserved <= on_hand) stop any change that would oversell.
void apply_stock_deltas(oms::Tx& tx, const StockDeltas& deltas);

// One movement per product whose on_hand changed.
void record_movements(oms::Tx& tx, const StockDeltas& deltas, std::string_view reason,
                      const std::optional<std::string>& order_id, const std::optional<std::string>& actor);

}  // namespace inventory
