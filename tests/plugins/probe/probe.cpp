// A test plugin that exercises every SDK v1 mechanism over the real host:
// routes (public, authenticated, admin), a migration, an event subscriber
// that writes inside the publisher's transaction, a service, a periodic job,
// a CLI command, token issuing, and errors of every kind.
#include <oms/plugin.hpp>

#include <chrono>
#include <stdexcept>
#include <thread>

namespace {

oms::json item_json(const oms::Row& row) {
    return {{"id", row.get<int64_t>("id")}, {"name", row.get<std::string>("name")},
            {"created_at", row.time("created_at")}};
}

void setup(oms::Plugin& p) {
    // Creates an item and publishes probe.item_created in the same transaction.
    // `fail_after_publish` rolls everything back, subscriber's writes included.
    p.route("POST", "/probe/items", [](oms::Request& req) {
         const auto& body = req.json_body();
         if (!body.contains("name") || !body["name"].is_string())
             throw oms::validation_failed({{"name", "is required"}});
         auto& tx = req.tx();
         auto row = tx.query("INSERT INTO probe_items (name) VALUES ($1) RETURNING id, name, created_at",
                             body["name"].get<std::string>())
                        .at(0);
         oms::json item = item_json(row);
         tx.publish("probe.item_created", {{"item_id", item["id"]}});
         if (body.value("fail_after_publish", false)) throw oms::Error(422, "probe_failed", "Asked to fail.");
         return oms::Response::json(item, 201);
     }).summary("Create a probe item");

    // Opts into the host's Idempotency-Key handling. `sleep_ms` keeps the
    // request in flight; a duplicate name fails it (409) so nothing is stored.
    p.route("POST", "/probe/idempotent", [](oms::Request& req) {
         const auto& body = req.json_body();
         auto row = req.tx()
                        .query("INSERT INTO probe_items (name) VALUES ($1) RETURNING id, name, created_at",
                               body.at("name").get<std::string>())
                        .at(0);
         if (int ms = body.value("sleep_ms", 0)) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
         oms::json item = item_json(row);
         return oms::Response::json(item, 201).header("Location", "/probe/items/" + std::to_string(item["id"].get<int64_t>()));
     }).idempotent();

    // Test hooks for other plugins' suites: publish any event, or call any
    // service, inside this request's transaction (as a plugin would).
    p.route("POST", "/probe/publish", [](oms::Request& req) {
        const auto& body = req.json_body();
        req.tx().publish(body.at("event").get<std::string>(), body.value("payload", oms::json::object()));
        return oms::Response::json({{"published", body.at("event")}});
    });
    p.route("POST", "/probe/call", [](oms::Request& req) {
        const auto& body = req.json_body();
        auto out = req.tx().call(body.at("service").get<std::string>(), body.value("args", oms::json::object()));
        return oms::Response::json(out);
    });

    p.route("GET", "/probe/items/:id", [](oms::Request& req) {
        auto id = req.param("id");
        auto res = req.tx().query("SELECT id, name, created_at FROM probe_items WHERE id = $1::bigint", id);
        if (res.empty()) throw oms::not_found("probe item");
        auto events = req.tx().query("SELECT count(*) AS n FROM probe_events WHERE item_id = $1::bigint AND event NOT LIKE 'after:%'", id);
        oms::json out = item_json(res.at(0));
        out["events"] = events.at(0).get<int64_t>("n");
        return oms::Response::json(out);
    });

    // Calls the service through the host, as another plugin would.
    p.route("GET", "/probe/double/:n", [](oms::Request& req) {
        auto out = req.tx().call("probe.double", {{"n", std::stoll(req.param("n"))}});
        return oms::Response::json(out);
    });

    // A server-side JSON shape bug (a document without the member read).
    p.route("GET", "/probe/shape_bug", [](oms::Request&) {
        oms::json answer = {{"present", 1}};
        return oms::Response::json({{"value", answer.at("absent").get<int>()}});
    });
    // A problem answer with extension members (one trying to replace "status").
    p.route("GET", "/probe/short", [](oms::Request&) -> oms::Response {
        throw oms::Error(409, "insufficient_points", "Not enough points.")
            .with_member("balance", 120)
            .with_member("needed", oms::json{{"points", 500}})
            .with_member("status", 200);
    });
    p.route("GET", "/probe/boom", [](oms::Request&) -> oms::Response {
        throw std::runtime_error("probe exploded (a secret detail that must not reach the client)");
    });

    // Holds a worker for `ms` milliseconds (graceful-shutdown tests).
    p.route("GET", "/probe/slow", [](oms::Request& req) {
        int ms = std::stoi(req.query("ms").value_or("500"));
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        return oms::Response::json({{"slept_ms", ms}});
    });

    // One database round trip on a pooled connection (restart tests).
    p.route("GET", "/probe/db", [](oms::Request& req) {
        auto row = req.tx().query("SELECT pg_backend_pid() AS pid").at(0);
        return oms::Response::json({{"backend_pid", row.get<int64_t>("pid")}});
    });

    // Issues a token for any id/role: test-only, so auth routes can be exercised.
    p.route("POST", "/probe/token", [](oms::Request& req) {
        const auto& body = req.json_body();
        auto t = oms::issue_token(body.value("sub", "u1"), body.value("role", "customer"));
        return oms::Response::json({{"token", t.token}, {"expires_in", t.expires_in}});
    });
    p.route("GET", "/probe/whoami", [](oms::Request& req) {
         auto c = req.require_caller();
         return oms::Response::json({{"user_id", c.user_id}, {"role", c.role}});
     }).auth();
    p.route("GET", "/probe/admin", [](oms::Request& req) {
         return oms::Response::json({{"admin", req.require_caller().user_id}});
     }).role("admin");

    p.route("GET", "/probe/config/:key", [](oms::Request& req) {
        auto v = oms::config(req.param("key"));
        return oms::Response::json({{"value", v ? oms::json(*v) : oms::json(nullptr)}});
    });

    // Tasks (the outbox). POST /probe/tasks {name, fail_runs?, refuse_unless?,
    // key?, rollback?} enqueues probe.remember in the request's transaction
    // (`rollback` then fails the request). The task records each successful
    // run as the item "<name>|<task id>|<attempt>"; it fails with 503 on its
    // first `fail_runs` runs, and refuses (422) while no item is named
    // `refuse_unless`.
    p.route("POST", "/probe/tasks", [](oms::Request& req) {
        const auto& body = req.json_body();
        req.tx().enqueue("probe.remember", body, body.value("key", ""));
        if (body.value("rollback", false)) throw oms::Error(422, "probe_failed", "Asked to fail.");
        return oms::Response::json({{"enqueued", true}}, 202);
    });
    p.task("probe.remember", [](const oms::Task& task) {
        if (static_cast<int>(task.attempt) <= task.payload.value("fail_runs", 0))
            throw oms::Error(503, "probe_unavailable", "Asked to fail this run.");
        auto tx = oms::Tx::begin();
        std::string unless = task.payload.value("refuse_unless", "");
        if (!unless.empty() && !tx.query("SELECT 1 FROM probe_items WHERE name = $1", unless).first())
            throw oms::Error(422, "probe_refused", "Asked to refuse until " + unless + " exists.");
        tx.exec("INSERT INTO probe_items (name) VALUES ($1)",
                task.payload.at("name").get<std::string>() + "|" + task.id + "|" + std::to_string(task.attempt));
        tx.commit();
    });

    // Session hygiene: POST runs any statement in the request's transaction
    // (`fail` then rolls it back); GET reports what the next request sees.
    p.route("POST", "/probe/session", [](oms::Request& req) {
        const auto& body = req.json_body();
        req.tx().exec(body.at("sql").get<std::string>());
        if (body.value("fail", false)) throw oms::Error(422, "probe_failed", "Asked to fail.");
        return oms::Response::json({{"ran", body.at("sql")}});
    });
    p.route("GET", "/probe/session", [](oms::Request& req) {
        auto row = req.tx()
                       .query("SELECT current_setting('search_path') AS search_path, "
                              "current_setting('statement_timeout') AS statement_timeout, "
                              "current_setting('TimeZone') AS timezone, "
                              "to_regclass('pg_temp.probe_tmp') IS NOT NULL AS temp_table, "
                              "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                              "   AND pid = pg_backend_pid()) AS advisory_locks")
                       .at(0);
        return oms::Response::json({{"search_path", row.get<std::string>("search_path")},
                                    {"statement_timeout", row.get<std::string>("statement_timeout")},
                                    {"timezone", row.get<std::string>("timezone")},
                                    {"temp_table", row.get<bool>("temp_table")},
                                    {"advisory_locks", row.get<int64_t>("advisory_locks")}});
    });

    // After commit: records "after:<event>" for the item, in its own
    // transaction; fails with 503 while an item named "block-after" exists.
    p.subscribe_after_commit("probe.item_created", [](std::string_view event, const oms::json& payload) {
        auto tx = oms::Tx::begin();
        if (tx.query("SELECT 1 FROM probe_items WHERE name = 'block-after'").first())
            throw oms::Error(503, "probe_blocked", "Asked to fail while block-after exists.");
        tx.exec("INSERT INTO probe_events (event, item_id) VALUES ($1, $2)", "after:" + std::string(event),
                payload.at("item_id").get<int64_t>());
        tx.commit();
    });

    p.subscribe("probe.*", [](oms::Tx& tx, std::string_view event, const oms::json& payload) {
        tx.exec("INSERT INTO probe_events (event, item_id) VALUES ($1, $2)", std::string(event),
                payload.at("item_id").get<int64_t>());
    });

    p.service("probe.double", [](oms::Tx& tx, const oms::json& args) {
        auto row = tx.query("SELECT ($1::bigint * 2) AS doubled", args.at("n").get<int64_t>()).at(0);
        oms::json out = {{"doubled", row.get<int64_t>("doubled")}};
        if (args.value("break_contract", false)) out["doubled"] = "not a number";  // the result check's test
        return out;
    }, "Doubles n (in SQL, to prove the caller's transaction is usable)")
        .accepts(oms::schema::object({{"n", oms::schema::integer()}, {"break_contract", oms::schema::boolean()}}, {"n"}))
        .returns(oms::schema::object({{"doubled", oms::schema::integer()}}, {"doubled"}));
    p.event("probe.item_created", "A probe item was created (POST /probe/items)",
            oms::schema::object({{"item_id", oms::schema::integer(1)}}, {"item_id"}));
    // A suite that loads no payments plugin has the probe publish its events
    // through /probe/publish: PROBE_PUBLISHES=payment.captured,... declares
    // them here (loosely: the payments plugin's own suite holds the shape).
    std::string stands_in = oms::config("PROBE_PUBLISHES", "");
    for (size_t at = 0; at < stands_in.size();) {
        size_t comma = stands_in.find(',', at);
        if (comma == std::string::npos) comma = stands_in.size();
        if (comma > at)
            p.event(stands_in.substr(at, comma - at), "Published by a test through /probe/publish",
                    oms::schema::object({{"order_id", oms::schema::uuid()}}, {"order_id"}));
        at = comma + 1;
    }
    // The /probe/call hook stands in for the stock plugins' callers.
    for (const char* service : {"probe.double", "users.get", "orders.get", "inventory.reserve", "inventory.commit",
                                "inventory.release", "inventory.restock", "payments.for_order",
                                "payments.refund_order", "auth.resolve_caller"})
        p.calls(service).optional();

    if (oms::config("PROBE_JOB", "off") == "on") {
        p.job("tick", std::chrono::milliseconds(200), [] {
            auto tx = oms::Tx::begin();
            tx.exec("INSERT INTO probe_ticks DEFAULT VALUES");
            tx.commit();
        });
    }

    p.command("count", "Print how many probe items exist", [](const oms::CommandArgs& args) {
        auto tx = oms::Tx::begin();
        auto n = tx.query("SELECT count(*) AS n FROM probe_items WHERE name LIKE $1",
                          args.get("prefix").value_or("") + "%")
                     .at(0)
                     .get<int64_t>("n");
        std::printf("%lld\n", static_cast<long long>(n));
        tx.commit();
    }).option("prefix", "only names starting with this");
}

}  // namespace

OMS_PLUGIN("probe", "1.0.0", "Test plugin exercising every SDK mechanism", setup)
