// The SQL of one GET /orders page. Dependency-free so that the integration
// test EXPLAINs exactly the statement the plugin runs.
//
// Keyset pagination: the cursor carries (created_at, id) of the last order
// served and the next page starts strictly after it, so page N is one range
// scan of an index ordered (…, created_at DESC, id DESC) — no Sort, no OFFSET.
//
// The status filter is written into the statement (one of seven fixed words,
// checked here again), not passed as a parameter: the host prepares
// statements, and PostgreSQL's generic plan for `status = $1` assumes an
// average status and prefers scanning orders_page with a filter — which
// reads past every other order for a rare status such as pending. With the
// value in the text, every plan knows it and uses orders_status_page.
//
// Each row carries its items (kItemsColumn), so a page is one statement.
//
// Parameters, in order: customer_id (uuid) when filtering by customer,
// then the cursor's created_at (timestamptz) and id (uuid) when given, then
// the row limit.
#pragma once

#include <stdexcept>
#include <string>

namespace orders {

// An order's lines as one JSON array, for a query over `orders o` (one round
// trip for an order, or a page of them, with their items).
inline constexpr const char* kItemsColumn =
    "(SELECT coalesce(json_agg(json_build_object("
    "'line', i.line, 'product_id', i.product_id, 'sku', i.sku, 'name', i.name, "
    "'quantity', i.quantity, 'unit_price', i.unit_price, 'line_total', i.line_total) "
    "ORDER BY i.line), '[]') FROM order_items i WHERE i.order_id = o.id) AS items";

struct ListShape {
    bool by_customer = false;
    std::string status;  // empty: any status
    bool after = false;  // a cursor was given
};

inline std::string list_sql(const ListShape& shape) {
    std::string where;
    int n = 0;
    auto add = [&](const std::string& cond) { where += (where.empty() ? " WHERE " : " AND ") + cond; };
    if (shape.by_customer) add("customer_id = $" + std::to_string(++n) + "::uuid");
    if (!shape.status.empty()) {
        for (char c : shape.status)
            if (c < 'a' || c > 'z') throw std::invalid_argument("not a status: " + shape.status);
        add("status = '" + shape.status + "'");
    }
    if (shape.after) {
        int t = ++n, id = ++n;
        add("(created_at, id) < ($" + std::to_string(t) + "::timestamptz, $" + std::to_string(id) + "::uuid)");
    }
    return std::string("SELECT id, customer_id, status, currency, total_amount, reservation_expires_at, created_at, "
                       "updated_at, ") +
           kItemsColumn + " FROM orders o" + where + " ORDER BY created_at DESC, id DESC LIMIT $" +
           std::to_string(++n);
}

}  // namespace orders
