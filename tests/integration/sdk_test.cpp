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
        // A long poll: a task must be woken by its own commit, and a retry by
        // its own schedule; only a task stored by another process waits for it.
        host_ = start_host(*db_, {{"PROBE_JOB", "on"}, {"OMS_TASK_POLL_MS", "2000"}}).release();
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
    ASSERT_EQ(rows.size(), 7u) << rows;  // the host's six, the probe's one
    for (int i = 0; i < 6; ++i) EXPECT_EQ(rows[i]["plugin"], "oms");
    EXPECT_EQ(rows[6]["plugin"], "probe");
    EXPECT_EQ(rows[6]["name"], "0001_probe_tables.sql");
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
    auto events = db_->query("SELECT event FROM probe_events WHERE item_id = $1 AND event NOT LIKE 'after:%' "
                             "ORDER BY event",
                             {std::to_string(id)});
    ASSERT_EQ(events.size(), 2u) << events;
    EXPECT_EQ(events[0]["event"], "consumer.saw");
    EXPECT_EQ(events[1]["event"], "probe.item_created");

    auto got = http_get(port(), "/probe/items/" + std::to_string(id));
    ASSERT_EQ(got.status, 200) << got;
    EXPECT_EQ(got.json()["events"], 2);
}

TEST_F(Sdk, AFailingHandlerRollsBackItsWritesAndItsSubscribersWrites) {
    auto before = db_->scalar("SELECT count(*) FROM probe_events WHERE event NOT LIKE 'after:%'");
    auto r = http_post_json(port(), "/probe/items", {{"name", "doomed"}, {"fail_after_publish", true}});
    expect_problem(r, 422, "probe_failed");
    EXPECT_EQ(db_->scalar("SELECT count(*) FROM probe_items WHERE name = 'doomed'"), "0");
    EXPECT_EQ(db_->scalar("SELECT count(*) FROM probe_events WHERE event NOT LIKE 'after:%'"), before);
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
    EXPECT_NE(routes.out.find("idempotent"), std::string::npos) << "POST /probe/idempotent: " << routes.out;
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

// ---- tasks: the transactional outbox (oms_task_def) ----

namespace {

// The probe's runs of probe.remember for `name`: "<name>|<task id>|<attempt>".
nlohmann::json task_runs(TestDatabase& db, const std::string& name) {
    return db.query("SELECT name FROM probe_items WHERE name LIKE $1 ORDER BY id", {name + "|%"});
}

bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
}

std::string task_state(TestDatabase& db, const std::string& name) {
    return db.scalar("SELECT state FROM oms_tasks WHERE payload->>'name' = '" + name + "'");
}

}  // namespace

// A task stored by a committed transaction runs once, soon after; one stored
// by a transaction that rolled back never runs.
TEST_F(Sdk, ATaskRunsAfterItsTransactionCommitsAndNeverAfterARollback) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = http_post_json(port(), "/probe/tasks", {{"name", "task-commit"}});
    ASSERT_EQ(r.status, 202) << r;
    ASSERT_TRUE(wait_for([&] { return task_state(*db_, "task-commit") == "done"; })) << task_state(*db_, "task-commit");
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    EXPECT_LT(took.count(), 1500) << "woken by the commit, not by the 2 s poll";
    auto runs = task_runs(*db_, "task-commit");
    ASSERT_EQ(runs.size(), 1u) << runs;
    EXPECT_EQ(runs[0]["name"].get<std::string>().substr(runs[0]["name"].get<std::string>().size() - 2), "|1");

    auto failed = http_post_json(port(), "/probe/tasks", {{"name", "task-rollback"}, {"rollback", true}});
    EXPECT_EQ(failed.status, 422) << failed;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(task_runs(*db_, "task-rollback").size(), 0u);
    EXPECT_EQ(db_->scalar("SELECT count(*) FROM oms_tasks WHERE payload->>'name' = 'task-rollback'"), "0");
}

// A run that fails with a 5xx is run again (the same task id, the next
// attempt) until it succeeds; a key stores a task once however often it is
// enqueued.
TEST_F(Sdk, AFailingTaskRunsAgainWithTheSameIdAndAKeyStoresItOnce) {
    for (int i = 0; i < 3; ++i) {
        auto r = http_post_json(port(), "/probe/tasks", {{"name", "task-retry"}, {"fail_runs", 2}, {"key", "k-retry"}});
        ASSERT_EQ(r.status, 202) << r;
    }
    ASSERT_TRUE(wait_for([&] { return task_state(*db_, "task-retry") == "done"; })) << task_state(*db_, "task-retry");
    EXPECT_EQ(db_->scalar("SELECT count(*) FROM oms_tasks WHERE payload->>'name' = 'task-retry'"), "1");
    auto task = db_->query("SELECT id::text AS id, attempts, last_error FROM oms_tasks WHERE payload->>'name' = 'task-retry'");
    EXPECT_EQ(task[0]["attempts"], "3");
    EXPECT_TRUE(task[0]["last_error"].is_null()) << task;
    auto runs = task_runs(*db_, "task-retry");
    ASSERT_EQ(runs.size(), 1u) << runs;
    EXPECT_EQ(runs[0]["name"], "task-retry|" + task[0]["id"].get<std::string>() + "|3");
}

// A run that fails with a 4xx gives up at once: the task is dead, with its
// error, listed by `oms-host tasks list` and made due again by `tasks retry`.
TEST_F(Sdk, ARefusedTaskIsDeadUntilAnOperatorRetriesIt) {
    ASSERT_EQ(http_post_json(port(), "/probe/tasks", {{"name", "task-dead"}, {"refuse_unless", "task-dead-ok"}}).status,
              202);
    ASSERT_TRUE(wait_for([&] { return task_state(*db_, "task-dead") == "dead"; })) << task_state(*db_, "task-dead");
    auto task = db_->query("SELECT id::text AS id, attempts, last_error FROM oms_tasks WHERE payload->>'name' = 'task-dead'");
    EXPECT_EQ(task[0]["attempts"], "1") << "a refusal is not retried";
    EXPECT_NE(task[0]["last_error"].get<std::string>().find("probe_refused"), std::string::npos) << task;
    std::string id = task[0]["id"];

    auto list = HostProcess::run({"tasks", "list"}, host_env(*db_));
    EXPECT_EQ(list.exit_code, 0) << list.err;
    EXPECT_NE(list.out.find(id), std::string::npos) << list.out;
    EXPECT_NE(list.out.find("probe.remember"), std::string::npos) << list.out;

    ASSERT_EQ(http_post_json(port(), "/probe/items", {{"name", "task-dead-ok"}}).status, 201);
    auto retry = HostProcess::run({"tasks", "retry", id}, host_env(*db_));
    EXPECT_EQ(retry.exit_code, 0) << retry.err;
    // Stored by another process: found by the serving host's poll.
    ASSERT_TRUE(wait_for([&] { return task_state(*db_, "task-dead") == "done"; })) << task_state(*db_, "task-dead");
    EXPECT_EQ(task_runs(*db_, "task-dead").size(), 1u);
    auto again = HostProcess::run({"tasks", "retry", id}, host_env(*db_));
    EXPECT_EQ(again.exit_code, 2) << "only a dead task can be retried";
}

// What a plugin's statement changes in its session never reaches the next
// request on that pooled connection (issue 13, item 10): settings, session
// advisory locks (also from a transaction that rolled back), temp tables.
TEST_F(Sdk, NothingAPluginChangesInItsSessionReachesTheNextRequest) {
    auto clean = [&](const std::string& after) {
        for (int i = 0; i < 12; ++i) {
            auto r = http_get(port(), "/probe/session");
            ASSERT_EQ(r.status, 200) << r;
            auto s = r.json();
            EXPECT_EQ(s["search_path"], "\"$user\", public") << after << ": " << s;
            EXPECT_EQ(s["statement_timeout"], "30s") << after << ": " << s;
            EXPECT_EQ(s["timezone"], "UTC") << after << ": " << s;
            EXPECT_EQ(s["temp_table"], false) << after << ": " << s;
            EXPECT_EQ(s["advisory_locks"], 0) << after << ": " << s;
        }
    };
    for (std::string sql : {"SET search_path = nowhere", "SET statement_timeout = 1", "SET TimeZone = 'Asia/Kolkata'",
                            "SELECT pg_advisory_lock(4242)", "CREATE TEMP TABLE probe_tmp (x int)"}) {
        auto r = http_post_json(port(), "/probe/session", {{"sql", sql}});
        ASSERT_EQ(r.status, 200) << sql << ": " << r;
        clean(sql);
    }
    auto failed = http_post_json(port(), "/probe/session", {{"sql", "SELECT pg_advisory_lock(4343)"}, {"fail", true}});
    EXPECT_EQ(failed.status, 422) << failed;
    clean("a session lock taken by a transaction that rolled back");
    EXPECT_EQ(db_->scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid IN (4242, 4343)"), "0");
}

// A JSON shape error on the server's side is the server's fault (issue 13,
// item 15): 500 with the cause in the log, not a 400 blaming the client.
TEST_F(Sdk, AServerSideJsonShapeBugIsA500WithItsCauseLogged) {
    auto r = http_get(port(), "/probe/shape_bug");
    EXPECT_EQ(r.status, 500) << r;
    EXPECT_EQ(r.json()["code"], "internal_error") << r;
    EXPECT_EQ(r.body.find("absent"), std::string::npos) << "the cause is for the log: " << r;
    EXPECT_TRUE(wait_for([&] { return host_->log().find("JSON: ") != std::string::npos; }, std::chrono::seconds(3)))
        << host_->log();
    // A body that is not JSON is still the client's: 400.
    auto bad = http_request(port(), "POST", "/probe/items", "{not json", {{"Content-Type", "application/json"}});
    EXPECT_EQ(bad.status, 400) << bad;
}

// ---- after-commit subscribers (issue 19, item 3) ----

namespace {

std::vector<int64_t> delivered_after(TestDatabase& db, const std::vector<int64_t>& ids) {
    std::string list = "{";
    for (auto id : ids) list += (list.size() > 1 ? "," : "") + std::to_string(id);
    list += "}";
    std::vector<int64_t> out;
    for (auto& r : db.query("SELECT item_id FROM probe_events WHERE event = 'after:probe.item_created' "
                            "AND item_id = ANY($1::bigint[]) ORDER BY id",
                            {list}))
        out.push_back(std::stoll(r["item_id"].get<std::string>()));
    return out;
}

}  // namespace

// Delivered once the publisher committed, never when it rolled back; in
// publish order; a failing delivery is retried, and the ones after it wait.
TEST_F(Sdk, AfterCommitSubscribersSeeCommittedEventsOnlyInOrderAndRetried) {
    std::vector<int64_t> ids;
    for (int i = 0; i < 5; ++i) {
        auto r = http_post_json(port(), "/probe/items", {{"name", "after-" + std::to_string(i)}});
        ASSERT_EQ(r.status, 201) << r;
        ids.push_back(r.json()["id"].get<int64_t>());
    }
    ASSERT_TRUE(wait_for([&] { return delivered_after(*db_, ids).size() == 5; })) << delivered_after(*db_, ids).size();
    EXPECT_EQ(delivered_after(*db_, ids), ids) << "in publish order";

    auto failed = http_post_json(port(), "/probe/items", {{"name", "after-doomed"}, {"fail_after_publish", true}});
    EXPECT_EQ(failed.status, 422);

    // A failing subscriber: its deliveries wait (and are retried) until it works again.
    auto blocker = http_post_json(port(), "/probe/items", {{"name", "block-after"}});
    ASSERT_EQ(blocker.status, 201) << blocker;
    std::vector<int64_t> later;
    for (int i = 0; i < 3; ++i)
        later.push_back(http_post_json(port(), "/probe/items", {{"name", "after-late-" + std::to_string(i)}})
                            .json()["id"]
                            .get<int64_t>());
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    EXPECT_TRUE(delivered_after(*db_, later).empty());
    EXPECT_GE(std::stoi(db_->scalar("SELECT max(attempts) FROM oms_tasks WHERE name = 'oms.deliver_event' "
                                    "AND state = 'pending'")),
              2)
        << "retried";
    db_->exec("DELETE FROM probe_items WHERE name = 'block-after'");
    ASSERT_TRUE(wait_for([&] { return delivered_after(*db_, later).size() == 3; }));
    EXPECT_EQ(delivered_after(*db_, later), later);
    EXPECT_EQ(db_->scalar("SELECT count(*) FROM probe_events WHERE event = 'after:probe.item_created' AND item_id NOT IN "
                          "(SELECT id FROM probe_items) AND item_id > " + std::to_string(ids.back()) +
                          " AND item_id < " + std::to_string(blocker.json()["id"].get<int64_t>())),
              "0")
        << "the rolled-back item was never delivered";
}

// A host that dies between the commit and the delivery: another host delivers.
TEST(AfterCommit, ADeliveryLeftByADeadHostIsMadeByAnother) {
    TestDatabase db;
    auto a = start_host(db, {{"OMS_TASK_THREADS", "0"}});  // stores deliveries, runs none
    ASSERT_NE(a, nullptr);
    auto r = http_post_json(a->port(), "/probe/items", {{"name", "orphan"}});
    ASSERT_EQ(r.status, 201) << r;
    int64_t id = r.json()["id"].get<int64_t>();
    a->kill9();
    a->wait_exit(std::chrono::seconds(10));
    EXPECT_EQ(db.scalar("SELECT count(*) FROM oms_tasks WHERE name = 'oms.deliver_event' AND state = 'pending'"), "1");
    auto b = start_host(db);
    ASSERT_NE(b, nullptr);
    EXPECT_TRUE(wait_for([&] { return delivered_after(db, {id}).size() == 1; }));
}

// oms::Error carries extension members into the problem answer (issue 19, item 5).
TEST_F(Sdk, AProblemCarriesAPluginsExtensionMembersButNotOverStandardOnes) {
    auto r = http_get(port(), "/probe/short");
    ASSERT_EQ(r.status, 409) << r;
    auto body = r.json();
    EXPECT_EQ(body["code"], "insufficient_points");
    EXPECT_EQ(body["balance"], 120) << r;
    EXPECT_EQ(body["needed"]["points"], 500) << r;
    EXPECT_EQ(body["status"], 409) << "a standard member is not replaced: " << r;
}
