#include "order_list.hpp"

#include <oms/pagination.hpp>

#include <map>

#include "order_input.hpp"
#include "order_json.hpp"
#include "order_list_sql.hpp"
#include "order_state.hpp"

namespace orders {
namespace {

struct Filter {
    std::optional<std::string> customer_id, status;
};

Filter read_filter(const oms::Request& req, const oms::Caller& caller) {
    Filter f;
    std::vector<oms::FieldError> errors;
    if (auto c = req.query("customer_id"); c && !c->empty()) {
        if (oms::is_uuid(*c)) f.customer_id = *c;
        else errors.push_back({"customer_id", "must be a UUID"});
    }
    if (auto s = req.query("status"); s && !s->empty()) {
        if (is_status(*s)) f.status = *s;
        else errors.push_back({"status", "must be one of pending, paid, cancelled, expired, shipped, delivered, refunded"});
    }
    if (!errors.empty()) throw oms::Error(400, "invalid_parameter", "A query parameter is invalid.", std::move(errors));
    if (!caller.is_admin()) {
        if (f.customer_id && *f.customer_id != caller.user_id)
            throw oms::forbidden("Customers may only list their own orders.");
        f.customer_id = caller.user_id;
    }
    return f;
}

// The cursor's {created_at, id}; anything else was not issued by this API.
std::pair<std::string, std::string> read_cursor(const oms::json& after) {
    auto t = after.find("created_at");
    auto id = after.find("id");
    if (t == after.end() || !t->is_string() || id == after.end() || !id->is_string() ||
        !oms::is_uuid(id->get<std::string>()))
        throw oms::Error(400, "invalid_cursor", "The cursor is not one this API issued.");
    return {t->get<std::string>(), id->get<std::string>()};
}

}  // namespace

oms::Response list_orders(oms::Request& req) {
    auto caller = req.require_caller();
    auto page = oms::pagination::from_request(req);
    Filter filter = read_filter(req, caller);

    // is_status() vetted the status: list_sql() writes it into the statement.
    ListShape shape{filter.customer_id.has_value(), filter.status.value_or(""), page.after.has_value()};
    std::string sql = list_sql(shape);
    auto& tx = req.tx();

    std::string after_time, after_id;
    if (page.after) std::tie(after_time, after_id) = read_cursor(*page.after);
    int64_t limit = page.limit + 1;  // one more row says whether there is a next page
    oms::Result rows = [&] {
        const auto& c = filter.customer_id;
        if (c && page.after) return tx.query(sql, *c, after_time, after_id, limit);
        if (c) return tx.query(sql, *c, limit);
        if (page.after) return tx.query(sql, after_time, after_id, limit);
        return tx.query(sql, limit);
    }();

    return oms::Response::json_text(oms::pagination::page_text(rows, "body", page.limit, [](const oms::Row& last) {
        return oms::json{{"created_at", last.get<std::string>("cursor_time")}, {"id", last.get<std::string>("id")}};
    }));
}

}  // namespace orders
