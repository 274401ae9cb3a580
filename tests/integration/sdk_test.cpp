// ABI proof (a): a plugin registering a route, a migration, event
// subscribers, a service, a job and a CLI command, exercised through the real
// host and checked in the real database.
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
    ASSERT_EQ(rows.size(), 4u) << rows;  // the host's three, the probe's one
    EXPECT_EQ(rows[0]["plugin"], "oms");
    EXPECT_EQ(rows[1]["plugin"], "oms");
    EXPECT_EQ(rows[2]["plugin"], "oms");
    EXPECT_EQ(rows[3]["plugin"], "probe");
    EXPECT_EQ(rows[3]["name"], "0001_probe_tables.sql");
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
