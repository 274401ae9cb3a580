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
// Each row is its order's JSON with its items (order_object_sql), plus the
// cursor's key (id, created_at as RFC 3339), so a page is one statement.
//
// Parameters, in order: customer_id (uuid) when filtering by customer,
// then the cursor's created_at (timestamptz) and id (uuid) when given, then
// the row limit.
#pragma once

#include <stdexcept>
#include <string>

namespace orders {

// An order (alias o) as the API shows it, built by PostgreSQL: its fields,
// amounts in major units and times in RFC 3339 UTC (the host's SQL helpers
// oms_money_json / oms_time_json), its items, and with `history` its status
// history. Handlers pass this JSON text through; nothing parses it again.
//   {id, customer_id, status, currency, total_amount, reservation_expires_at,
//    created_at, updated_at, items: [{line, product_id, sku, name, quantity,
//    unit_price, line_total}], history: [{from, to, actor, reason, at}]}
inline std::string order_object_sql(bool history) {
    std::string sql =
        "json_build_object('id', o.id, 'customer_id', o.customer_id, 'status', o.status, 'currency', o.currency, "
        "'total_amount', oms_money_json(o.total_amount, o.currency), "
        "'reservation_expires_at', oms_time_json(o.reservation_expires_at), "
        "'created_at', oms_time_json(o.created_at), 'updated_at', oms_time_json(o.updated_at), "
        "'items', (SELECT coalesce(json_agg(json_build_object("
        "    'line', i.line, 'product_id', i.product_id, 'sku', i.sku, 'name', i.name, 'quantity', i.quantity, "
        "    'unit_price', oms_money_json(i.unit_price, o.currency), "
        "    'line_total', oms_money_json(i.line_total, o.currency)) ORDER BY i.line), '[]') "
        "  FROM order_items i WHERE i.order_id = o.id)";
    if (history)
        sql +=
            ", 'history', (SELECT coalesce(json_agg(json_build_object("
            "    'from', h.from_status, 'to', h.to_status, 'actor', h.actor, 'reason', h.reason, "
            "    'at', oms_time_json(h.created_at)) ORDER BY h.id), '[]') "
            "  FROM order_status_history h WHERE h.order_id = o.id)";
    return sql + ")::text";
}

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
    return "SELECT id, oms_time_json(created_at) AS cursor_time, " + order_object_sql(false) + " AS body FROM orders o" +
           where + " ORDER BY created_at DESC, id DESC LIMIT $" + std::to_string(++n);
}

}  // namespace orders
