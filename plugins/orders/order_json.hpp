// Orders as the API shows them: PostgreSQL builds the JSON
// (order_object_sql in order_list_sql.hpp) and the handlers pass the text
// through, splicing in the payments plugin's answer for a single order.
//
//   {id, customer_id, status, currency, total_amount, reservation_expires_at,
//    created_at, updated_at,
//    items: [{line, product_id, sku, name, quantity, unit_price, line_total}],
//    history: [{from, to, actor, reason, at}],        (one order only)
//    payments: [...]}                                   (one order only)
#pragma once

#include <oms/plugin.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace orders {

// One order as its statement answers it.
struct OrderText {
    std::string customer_id;
    std::string body;  // the JSON object, without payments
};

// The order with its items and history in one statement, queued (it travels
// with the next statement that needs an answer), and the order read from its
// answer; nullopt when there is no such order.
oms::Pending load_order_later(oms::Tx& tx, const std::string& order_id);
std::optional<OrderText> order_from(const oms::Result& rows);
std::optional<OrderText> load_order(oms::Tx& tx, const std::string& order_id);

// The order's payments as a JSON array (text) from the payments plugin's
// payments.for_order service; "[]" when no payments plugin is loaded.
std::string payments_of(oms::Tx& tx, const std::string& order_id);

// `order` (a JSON object's text) with "payments": `payments_json` added.
std::string with_payments(std::string order, std::string_view payments_json);

}  // namespace orders
