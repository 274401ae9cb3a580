#include "order_json.hpp"

#include "order_list_sql.hpp"

namespace orders {

oms::Pending load_order_later(oms::Tx& tx, const std::string& order_id) {
    return tx.query_later("SELECT o.customer_id, " + order_object_sql(true) + " AS body FROM orders o WHERE o.id = $1::uuid",
                          order_id);
}

std::optional<OrderText> order_from(const oms::Result& rows) {
    auto row = rows.first();
    if (!row) return std::nullopt;
    return OrderText{row->get<std::string>("customer_id"), row->get<std::string>("body")};
}

std::optional<OrderText> load_order(oms::Tx& tx, const std::string& order_id) {
    return order_from(load_order_later(tx, order_id).get());
}

std::string payments_of(oms::Tx& tx, const std::string& order_id) {
    if (!oms::service_exists("payments.for_order")) return "[]";
    std::string out = tx.call_text("payments.for_order", {{"order_id", order_id}});
    // The stock payments plugin answers {"payments":[...]} exactly so: take the
    // array as it is. Any other writer of the service is read as JSON.
    constexpr std::string_view kPrefix = R"({"payments":)";
    if (out.size() > kPrefix.size() + 1 && out.compare(0, kPrefix.size(), kPrefix) == 0 && out.back() == '}' &&
        out[kPrefix.size()] == '[')
        return out.substr(kPrefix.size(), out.size() - kPrefix.size() - 1);
    auto parsed = oms::json::parse(out, nullptr, false);
    if (parsed.is_object() && parsed.contains("payments") && parsed["payments"].is_array())
        return parsed["payments"].dump();
    return "[]";
}

std::string with_payments(std::string order, std::string_view payments_json) {
    if (order.empty() || order.back() != '}') throw std::logic_error("an order's JSON is an object");
    order.pop_back();
    order += R"(,"payments":)";
    order += payments_json;
    order += '}';
    return order;
}

}  // namespace orders
