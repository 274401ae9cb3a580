// ABI proof (a): a plugin registering a route, a migration, event
// subscribers, a service, a job and a CLI command, exercised through the real
// host and checked in the real database.
#include <oms/money.hpp>
#include <oms/plugin.hpp>  // oms::to_rfc3339

#include <thread>

#include "common.hpp"

using namespace omstest;
using namespace std::chrono_literals;

class Sdk : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        db_ = new TestDatabase();
        host_ = start_host(*db_, {{"PROBE_JOB", "on"}}).release();
        ASSERT_NE(host_, nullptr);
    }
    static void TearDownTestSuite() {
        delete host_;
        delete db_;
    }
    static int port() { return host_->port(); }
    static inline TestDatabase* db_ = nullptr;
    static inline HostProcess* host_ = nullptr;
};

TEST_F(Sdk, PluginMigrationsRanAndAreInTheLedger) {
    auto rows = db_->query("SELECT plugin, version, name FROM oms_migrations ORDER BY plugin, version");
    ASSERT_EQ(rows.size(), 5u) << rows;  // the host's four, the probe's one
    for (int i = 0; i < 4; ++i) EXPECT_EQ(rows[i]["plugin"], "oms");
    EXPECT_EQ(rows[4]["plugin"], "probe");
    EXPECT_EQ(rows[4]["name"], "0001_probe_tables.sql");
    EXPECT_EQ(db_->scalar("SELECT to_regclass('probe_items') IS NOT NULL"), "t");
}

TEST_F(Sdk, RouteWritesAndSubscribersRunInTheSameTransaction) {
    auto created = http_post_json(port(), "/probe/items", {{"name", "first"}});
    ASSERT_EQ(created.status, 201) << created;
    auto id = created.json()["id"].get<int64_t>();
    EXPECT_EQ(created.json()["name"], "first");
    // RFC 3339 UTC
    auto at = created.json()["created_at"].get<std::string>();
    EXPECT_EQ(at.size() >= 20 ? at.substr(10, 1) : "", "T") << at;
    EXPECT_EQ(at.back(), 'Z') << at;

    // Both subscribers (probe's own "probe.*" and probe_consumer's exact one) ran.
    auto events = db_->query("SELECT event FROM probe_events WHERE item_id = $1 ORDER BY event",
                             {std::to_string(id)});
    ASSERT_EQ(events.size(), 2u) << events;
    EXPECT_EQ(events[0]["event"], "consumer.saw");
    EXPECT_EQ(events[1]["event"], "probe.item_created");

    auto got = http_get(port(), "/probe/items/" + std::to_string(id));
    ASSERT_EQ(got.status, 200) << got;
    EXPECT_EQ(got.json()["events"], 2);
}

TEST_F(Sdk, AFailingHandlerRollsBackItsWritesAndItsSubscribersWrites) {
    auto before = db_->scalar("SELECT count(*) FROM probe_events");
    auto r = http_post_json(port(), "/probe/items", {{"name", "doomed"}, {"fail_after_publish", true}});
    expect_problem(r, 422, "probe_failed");
    EXPECT_EQ(db_->scalar("SELECT count(*) FROM probe_items WHERE name = 'doomed'"), "0");
    EXPECT_EQ(db_->scalar("SELECT count(*) FROM probe_events"), before);
}

TEST_F(Sdk, UniqueViolationIs409Conflict) {
    ASSERT_EQ(http_post_json(port(), "/probe/items", {{"name", "twice"}}).status, 201);
    auto r = http_post_json(port(), "/probe/items", {{"name", "twice"}});
    expect_problem(r, 409, "conflict");
}

TEST_F(Sdk, ServicesAreCallableFromTheOwnerAndFromADependentPlugin) {
    auto own = http_get(port(), "/probe/double/21");
    ASSERT_EQ(own.status, 200) << own;
    EXPECT_EQ(own.json()["doubled"], 42);
    auto other = http_get(port(), "/consumer/double/50");
    ASSERT_EQ(other.status, 200) << other;
    EXPECT_EQ(other.json()["doubled"], 100);
    EXPECT_EQ(other.json()["via"], "consumer");
}

TEST_F(Sdk, BadPathParameterIs400NotA500) {
    auto r = http_get(port(), "/probe/items/not-a-number");
    expect_problem(r, 400, "invalid_parameter");
}

TEST_F(Sdk, PeriodicJobRuns) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    int ticks = 0;
    while (std::chrono::steady_clock::now() < deadline) {
        ticks = std::stoi(db_->scalar("SELECT count(*) FROM probe_ticks"));
        if (ticks >= 2) break;
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_GE(ticks, 2);
}

TEST_F(Sdk, PluginConfigLookupSeesTheHostsConfiguration) {
    auto r = http_get(port(), "/probe/config/PROBE_JOB");
    ASSERT_EQ(r.status, 200) << r;
    EXPECT_EQ(r.json()["value"], "on");
    EXPECT_TRUE(http_get(port(), "/probe/config/NOT_SET_ANYWHERE").json()["value"].is_null());
}

TEST_F(Sdk, PluginCommandsRunFromTheCli) {
    ASSERT_EQ(http_post_json(port(), "/probe/items", {{"name", "cli-1"}}).status, 201);
    ASSERT_EQ(http_post_json(port(), "/probe/items", {{"name", "cli-2"}}).status, 201);
    auto r = HostProcess::run({"probe", "count", "--prefix", "cli-"}, host_env(*db_));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "2\n") << r.err;
    auto help = HostProcess::run({"probe", "--help"}, host_env(*db_));
    EXPECT_EQ(help.exit_code, 0) << help.err;
    EXPECT_NE(help.out.find("count"), std::string::npos) << help.out;
}

TEST_F(Sdk, PluginsAndRoutesCommandsShowWhatIsLoaded) {
    auto plugins = HostProcess::run({"plugins"}, host_env(*db_));
    EXPECT_EQ(plugins.exit_code, 0) << plugins.err;
    EXPECT_NE(plugins.out.find("probe_consumer"), std::string::npos) << plugins.out;
    EXPECT_NE(plugins.out.find("1.0"), std::string::npos) << plugins.out;
    auto routes = HostProcess::run({"routes"}, host_env(*db_));
    EXPECT_EQ(routes.exit_code, 0) << routes.err;
    EXPECT_NE(routes.out.find("/probe/items/:id"), std::string::npos) << routes.out;
    EXPECT_NE(routes.out.find("role:admin"), std::string::npos) << routes.out;
    EXPECT_NE(routes.out.find("/health/live"), std::string::npos) << routes.out;
}

// The host's SQL helpers write money and time exactly as the SDK does, so an
// answer built by PostgreSQL reads like one built in C++: every currency of
// <oms/money.hpp>, amounts with and without a fraction, and an unknown one.
TEST_F(Sdk, SqlMoneyAndTimeHelpersAgreeWithTheSdk) {
    std::vector<std::string> currencies;
    for (const auto& c : oms::money::kCurrencies) currencies.emplace_back(c.code);
    currencies.emplace_back("XXX");  // unsupported: two digits, as to_json assumes
    for (const auto& code : currencies)
        for (int64_t minor : {int64_t{0}, int64_t{5}, int64_t{100}, int64_t{9999}, int64_t{123450}, int64_t{1000000000000000}}) {
            auto sql = db_->query("SELECT json_build_object('v', oms_money_json($1::bigint, $2))::text AS j",
                                  {std::to_string(minor), code})[0]["j"].get<std::string>();
            auto from_sql = nlohmann::json::parse(sql)["v"];
            auto from_sdk = oms::money::to_json(minor, code);
            EXPECT_EQ(from_sql, from_sdk) << code << " " << minor << ": " << sql << " vs " << from_sdk.dump();
            EXPECT_EQ(from_sql.dump(), from_sdk.dump()) << code << " " << minor;  // 100, not 100.0
        }
    db_->exec("SET TimeZone = 'UTC'");  // as the host's connections run
    for (std::string t : {"2026-11-25 09:01:43.12+00", "2026-11-25 09:01:40+00", "2026-11-25 14:31:40.000001+05:30"}) {
        auto pg = db_->query("SELECT oms_time_json($1::timestamptz) AS j, $1::timestamptz::text AS t",
                             {t})[0];
        EXPECT_EQ(pg["j"].get<std::string>(), oms::to_rfc3339(pg["t"].get<std::string>())) << t;
    }
    EXPECT_EQ(db_->scalar("SELECT oms_time_json(NULL) IS NULL"), "t");
}
