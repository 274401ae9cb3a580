// audit — records every domain event any plugin publishes, and lets admins read them.
//
//   subscribes to "*"       one row in audit_events per event, written in the
//                           publisher's transaction: an event whose change was
//                           rolled back leaves no row, and a change is never
//                           committed without its row
//   GET /audit              admin only; newest first, keyset pages
//                           (?limit=1..100, ?cursor=), ?event=order.created
//                           → {"data": [{id, event, payload, recorded_at}], "next_cursor"}
//
// Built out of tree against the installed SDK (see CMakeLists.txt) and loaded
// beside the plugins that publish: it depends on none of them.
#include <oms/pagination.hpp>
#include <oms/plugin.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace {

void record(oms::Tx& tx, std::string_view event, const oms::json& payload) {
    tx.exec("INSERT INTO audit_events (event, payload) VALUES ($1, $2::jsonb)", event, payload);
}

oms::Response list(oms::Request& req) {
    auto page = oms::pagination::from_request(req);
    std::optional<std::string> event = req.query("event");
    if (event && (event->empty() || event->size() > 200))
        throw oms::Error(400, "invalid_parameter", "event must be 1 to 200 characters.",
                         {{"event", "must be 1 to 200 characters"}});
    std::optional<int64_t> after;
    if (page.after) {
        auto id = page.after->find("id");
        if (id == page.after->end() || !id->is_number_integer())
            throw oms::Error(400, "invalid_cursor", "The cursor is not one this API issued.");
        after = id->get<int64_t>();
    }

    // One statement per filter combination, so each page is one index range
    // scan (a "$1 IS NULL OR ..." predicate would defeat the indexes).
    std::string sql = "SELECT id, event, payload, recorded_at FROM audit_events WHERE true";
    if (event) sql += " AND event = $1";
    if (after) sql += event ? " AND id < $2" : " AND id < $1";
    sql += " ORDER BY id DESC LIMIT " + std::to_string(page.limit + 1);
    auto& tx = req.tx();
    oms::Result rows = event && after ? tx.query(sql, *event, *after)
                       : event        ? tx.query(sql, *event)
                       : after        ? tx.query(sql, *after)
                                      : tx.query(sql);

    oms::json data = oms::json::array();
    for (oms::Row row : rows)
        data.push_back({{"id", row.get<int64_t>("id")},
                        {"event", row.get<std::string>("event")},
                        {"payload", row.get<oms::json>("payload")},
                        {"recorded_at", row.time("recorded_at")}});
    return oms::Response::json(oms::pagination::page_body(
        std::move(data), page.limit, [](const oms::json& item) { return oms::json{{"id", item["id"]}}; }));
}

void setup(oms::Plugin& p) {
    p.subscribe("*", record);
    p.route("GET", "/audit", list).role("admin").summary("Domain events, newest first (?event=, ?limit=, ?cursor=)");
}

}  // namespace

OMS_PLUGIN("audit", "1.0.0", "Records every domain event; GET /audit for admins", setup)
