// Orders as the API shows them: amounts in major units, times RFC 3339 UTC.
//
//   {id, customer_id, status, currency, total_amount, reservation_expires_at,
//    created_at, updated_at,
//    items: [{line, product_id, sku, name, quantity, unit_price, line_total}],
//    history: [{from, to, actor, reason, at}],        (GET /orders/:id only)
//    payments: [...]}                                   (GET /orders/:id only)
#pragma once

#include <oms/plugin.hpp>

#include <optional>
#include <string>

namespace orders {

// Columns of `orders` that order_summary() reads.
inline constexpr const char* kOrderColumns =
    "id, customer_id, status, currency, total_amount, reservation_expires_at, created_at, updated_at";

// The order's own fields (no items, history or payments) from a row of kOrderColumns.
oms::json order_summary(const oms::Row& row);

// The order's own fields and its items, from a row of kOrderColumns and kItemsColumn.
oms::json order_with_items(const oms::Row& row);

// The order with its items and history, in one statement (PostgreSQL
// aggregates them). nullopt when there is no such order.
std::optional<oms::json> load_order(oms::Tx& tx, const std::string& order_id);
// The same statement queued (sent with the next one that needs an answer),
// and the order read from its answer.
oms::Pending load_order_later(oms::Tx& tx, const std::string& order_id);
std::optional<oms::json> order_from(const oms::Result& rows);

// The order's payments from the payments plugin's payments.for_order
// service; [] when no payments plugin is loaded.
oms::json payments_of(oms::Tx& tx, const std::string& order_id);

}  // namespace orders
