// examples/audit — a third-party plugin built out of tree against the
// installed SDK (by the install_sdk_examples test, which leaves the .so in
// $OMS_EXAMPLES_OUT) — loaded into a real host beside the real plugins
// (users, inventory, orders, and whatever else this tree builds): it records
// the events they publish, and GET /audit serves them to admins only, in
// keyset pages, filtered by ?event=.
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>

#include "common.hpp"
#include "shop.hpp"

using namespace omstest;
using nlohmann::json;

namespace {


class Audit : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        // Every real plugin of this build, and the audit example built against the installed SDK.
        dir_ = new PluginDir(built_plugins(),
                             {(std::filesystem::path(env_or_fail("OMS_EXAMPLES_OUT")) / "audit.so").string()});
        db_ = new TestDatabase();
        host_ = start_host(*db_, {{"OMS_PLUGIN_DIR", dir_->path()}}).release();
        ASSERT_NE(host_, nullptr);
        port_ = host_->port();
        admin_ = sign_up("admin");
        auto r = HostProcess::run({"users", "set-role", admin_.email, "admin"},
                                  host_env(*db_, {{"OMS_PLUGIN_DIR", dir_->path()}}));
        ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
        customer_ = sign_up("customer");
    }
    static void TearDownTestSuite() {
        delete host_;
        delete db_;
        delete dir_;
    }

    static User sign_up(const std::string& tag) { return omstest::sign_up(port_, tag); }
    static std::string product(int on_hand) {
        auto r = http_post_json(port_, "/inventory",
                                {{"sku", unique("audit")}, {"name", "Audited"}, {"price", 12.5}, {"on_hand", on_hand}},
                                with_auth(admin_.token));
        EXPECT_EQ(r.status, 201) << r;
        return r.json().value("product_id", "");
    }
    static std::string place_order(const std::string& product_id) {
        auto r = http_post_json(port_, "/orders", {{"items", {{{"product_id", product_id}, {"quantity", 1}}}}},
                                with_auth(customer_.token));
        EXPECT_EQ(r.status, 201) << r;
        return r.json().value("id", "");
    }
    static HttpResponse audit(const std::string& query, const std::string& token) {
        return http_get(port_, "/audit" + query, token.empty() ? HeaderList{} : with_auth(token));
    }

    static inline PluginDir* dir_ = nullptr;
    static inline TestDatabase* db_ = nullptr;
    static inline HostProcess* host_ = nullptr;
    static inline int port_ = 0;
    static inline User admin_, customer_;
};

TEST_F(Audit, LoadsBesideTheRealPlugins) {
    auto r = HostProcess::run({"plugins"}, host_env(*db_, {{"OMS_PLUGIN_DIR", dir_->path()}}));
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    for (const char* name : {"audit ", "users ", "inventory ", "orders "})
        EXPECT_NE(r.out.find(std::string("\n") + name), std::string::npos) << name << " missing from:\n" << r.out;
    // Its migration ran, from the .so itself.
    EXPECT_EQ(db_->scalar("SELECT count(*) FROM oms_migrations WHERE plugin = 'audit'"), "1");
}

TEST_F(Audit, RecordsOrderCreatedForAdminsAndRefusesCustomers) {
    std::string order_id = place_order(product(5));
    ASSERT_FALSE(order_id.empty());

    auto r = audit("?event=order.created", admin_.token);
    ASSERT_EQ(r.status, 200) << r;
    auto body = r.json();
    ASSERT_TRUE(body["data"].is_array()) << r;
    ASSERT_TRUE(body.contains("next_cursor")) << r;
    bool found = false;
    for (const auto& e : body["data"]) {
        EXPECT_EQ(e["event"], "order.created") << r;
        EXPECT_TRUE(e["id"].is_number_integer()) << r;
        EXPECT_TRUE(e["recorded_at"].is_string()) << r;
        if (e["payload"].value("order_id", "") == order_id) {
            found = true;
            EXPECT_EQ(e["payload"]["customer_id"], customer_.id) << r;
            EXPECT_EQ(e["payload"]["status"], "pending") << r;
        }
    }
    EXPECT_TRUE(found) << "order.created of " << order_id << " is not in " << r;

    expect_problem(audit("", customer_.token), 403, "forbidden");
    auto anonymous = audit("", "");
    EXPECT_EQ(anonymous.status, 401) << anonymous;
    EXPECT_EQ(anonymous.header("WWW-Authenticate").rfind("Bearer", 0), 0u) << anonymous;
}

TEST_F(Audit, FiltersByEventAndPagesNewestFirst) {
    std::string p = product(10);
    place_order(p);
    std::string second = place_order(p);
    auto cancel = http_post_json(port_, "/orders/" + second + "/cancel", json::object(), with_auth(customer_.token));
    ASSERT_EQ(cancel.status, 200) << cancel;

    // Only order.cancelled, and ours is there.
    auto cancelled = audit("?event=order.cancelled", admin_.token);
    ASSERT_EQ(cancelled.status, 200) << cancelled;
    ASSERT_EQ(cancelled.json()["data"].size(), 1u) << cancelled;
    EXPECT_EQ(cancelled.json()["data"][0]["payload"]["order_id"], second) << cancelled;
    EXPECT_EQ(audit("?event=no.such.event", admin_.token).json()["data"], json::array());

    // Walk everything one row at a time: newest first, each row once, and the
    // walk ends with next_cursor null; it covers every row in the table.
    std::set<int64_t> seen;
    int64_t previous = INT64_MAX;
    std::string cursor;
    std::vector<std::string> events;
    for (int pages = 0; pages < 1000; ++pages) {
        auto r = audit("?limit=1" + (cursor.empty() ? "" : "&cursor=" + cursor), admin_.token);
        ASSERT_EQ(r.status, 200) << r;
        auto b = r.json();
        ASSERT_LE(b["data"].size(), 1u) << r;
        for (const auto& e : b["data"]) {
            int64_t id = e["id"];
            EXPECT_LT(id, previous) << r;
            EXPECT_TRUE(seen.insert(id).second) << "row " << id << " served twice";
            previous = id;
            events.push_back(e["event"]);
        }
        if (b["next_cursor"].is_null()) break;
        cursor = b["next_cursor"];
    }
    EXPECT_EQ(std::to_string(seen.size()), db_->scalar("SELECT count(*) FROM audit_events"));
    ASSERT_GE(events.size(), 3u);
    EXPECT_EQ(events[0], "order.cancelled") << "the newest event comes first";

    expect_problem(audit("?limit=0", admin_.token), 400, "invalid_parameter");
    expect_problem(audit("?cursor=not-a-cursor!", admin_.token), 400, "invalid_cursor");
    expect_problem(audit("?event=", admin_.token), 400, "invalid_parameter");
}

}  // namespace
