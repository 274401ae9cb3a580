#include "order_json.hpp"

#include <oms/money.hpp>

#include "order_list_sql.hpp"

namespace orders {
namespace {

// PostgreSQL's JSON form of a timestamptz ("2026-11-25T09:01:43.12+00:00",
// the session runs in UTC) → RFC 3339 UTC ("2026-11-25T09:01:43.12Z").
oms::json json_time(const oms::json& t) {
    if (!t.is_string()) return nullptr;
    std::string s = t.get<std::string>();
    if (s.size() > 6 && s.compare(s.size() - 6, 6, "+00:00") == 0) s.replace(s.size() - 6, 6, "Z");
    return s;
}

}  // namespace

oms::json order_summary(const oms::Row& row) {
    std::string currency = row.get<std::string>("currency");
    return {{"id", row.get<std::string>("id")},
            {"customer_id", row.get<std::string>("customer_id")},
            {"status", row.get<std::string>("status")},
            {"currency", currency},
            {"total_amount", oms::money::to_json(row.get<int64_t>("total_amount"), currency)},
            {"reservation_expires_at", row.time("reservation_expires_at")},
            {"created_at", row.time("created_at")},
            {"updated_at", row.time("updated_at")}};
}

oms::json order_with_items(const oms::Row& row) {
    oms::json order = order_summary(row);
    const std::string currency = order["currency"];
    oms::json items = oms::json::array();
    for (auto& i : row.get<oms::json>("items")) {
        i["unit_price"] = oms::money::to_json(i["unit_price"].get<int64_t>(), currency);
        i["line_total"] = oms::money::to_json(i["line_total"].get<int64_t>(), currency);
        items.push_back(std::move(i));
    }
    order["items"] = std::move(items);
    return order;
}

oms::Pending load_order_later(oms::Tx& tx, const std::string& order_id) {
    return tx.query_later(std::string("SELECT ") + kOrderColumns + ", " + kItemsColumn + R"(,
          (SELECT coalesce(json_agg(json_build_object(
                     'from', h.from_status, 'to', h.to_status, 'actor', h.actor, 'reason', h.reason,
                     'at', h.created_at)
                   ORDER BY h.id), '[]')
             FROM order_status_history h WHERE h.order_id = o.id) AS history
        FROM orders o WHERE o.id = $1::uuid)",
                          order_id);
}

std::optional<oms::json> order_from(const oms::Result& rows) {
    auto row = rows.first();
    if (!row) return std::nullopt;

    oms::json order = order_with_items(*row);
    oms::json history = oms::json::array();
    for (auto& h : row->get<oms::json>("history")) {
        h["at"] = json_time(h["at"]);
        history.push_back(std::move(h));
    }
    order["history"] = std::move(history);
    return order;
}

std::optional<oms::json> load_order(oms::Tx& tx, const std::string& order_id) {
    return order_from(load_order_later(tx, order_id).get());
}

oms::json payments_of(oms::Tx& tx, const std::string& order_id) {
    if (!oms::service_exists("payments.for_order")) return oms::json::array();
    auto out = tx.call("payments.for_order", {{"order_id", order_id}});
    if (out.is_object() && out.contains("payments") && out["payments"].is_array()) return out["payments"];
    return oms::json::array();
}

}  // namespace orders
