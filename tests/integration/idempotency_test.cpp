// The host's Idempotency-Key store, on a test route that opts in
// (POST /probe/idempotent): replay, another body, in flight, races,
// failed first attempts, per-caller scope, a key held elsewhere, and fencing.
#include <libpq-fe.h>

#include <chrono>
#include <future>
#include <thread>

#include "common.hpp"

using namespace omstest;
using namespace std::chrono_literals;

class Idempotency : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        db_ = new TestDatabase();
        host_ = start_host(*db_).release();
        ASSERT_NE(host_, nullptr);
    }
    static void TearDownTestSuite() {
        delete host_;
        delete db_;
    }
    static HttpResponse post(const nlohmann::json& body, const std::string& key,
                             std::vector<std::pair<std::string, std::string>> extra = {}) {
        extra.emplace_back("Idempotency-Key", key);
        return http_post_json(host_->port(), "/probe/idempotent", body, extra);
    }
    static int items_named(const std::string& name) {
        return std::stoi(db_->query("SELECT count(*) AS n FROM probe_items WHERE name = $1", {name})[0]["n"].get<std::string>());
    }
    static std::string token(const std::string& sub) {
        return http_post_json(host_->port(), "/probe/token", {{"sub", sub}, {"role", "customer"}}).json()["token"];
    }
    static inline TestDatabase* db_ = nullptr;
    static inline HostProcess* host_ = nullptr;
};

TEST_F(Idempotency, ReplayReturnsTheFirstAnswerAndChangesNothing) {
    auto first = post({{"name", "replay-1"}}, "key-replay-1");
    ASSERT_EQ(first.status, 201) << first;
    EXPECT_FALSE(first.has_header("Idempotent-Replayed"));
    for (int i = 0; i < 3; ++i) {
        auto again = post({{"name", "replay-1"}}, "key-replay-1");
        EXPECT_EQ(again.status, 201) << again;
        EXPECT_EQ(again.body, first.body);
        EXPECT_EQ(again.header("Idempotent-Replayed"), "true");
        EXPECT_EQ(again.header("Location"), first.header("Location"));
        EXPECT_EQ(again.header("Content-Type"), "application/json");
        EXPECT_NE(again.header("X-Request-Id"), first.header("X-Request-Id"));  // a new request all the same
    }
    EXPECT_EQ(items_named("replay-1"), 1);
}

TEST_F(Idempotency, AnotherBodyWithTheSameKeyIs422) {
    ASSERT_EQ(post({{"name", "body-a"}}, "key-body").status, 201);
    auto other = post({{"name", "body-b"}}, "key-body");
    expect_problem(other, 422, "idempotency_key_reused");
    EXPECT_EQ(items_named("body-b"), 0);
}

TEST_F(Idempotency, ASecondRequestWhileTheFirstRunsIs409ThenReplays) {
    nlohmann::json body = {{"name", "slow-1"}, {"sleep_ms", 800}};
    auto first = std::async(std::launch::async, [&] { return post(body, "key-slow"); });
    std::this_thread::sleep_for(250ms);
    auto during = post(body, "key-slow");
    expect_problem(during, 409, "idempotency_key_in_use");
    EXPECT_EQ(during.header("Retry-After"), "1");
    auto done = first.get();
    ASSERT_EQ(done.status, 201) << done;
    auto after = post(body, "key-slow");
    EXPECT_EQ(after.status, 201);
    EXPECT_EQ(after.body, done.body);
    EXPECT_EQ(items_named("slow-1"), 1);
}

TEST_F(Idempotency, SimultaneousRequestsWithOneKeyCreateOneThing) {
    for (int round = 0; round < 5; ++round) {
        std::string name = "race-" + std::to_string(round);
        std::vector<std::future<HttpResponse>> all;
        for (int i = 0; i < 8; ++i)
            all.push_back(std::async(std::launch::async, [&] { return post({{"name", name}}, "key-" + name); }));
        int created = 0;
        for (auto& f : all) {
            auto r = f.get();
            ASSERT_TRUE(r.status == 201 || r.status == 409) << r;
            if (r.status == 201 && !r.has_header("Idempotent-Replayed")) ++created;
        }
        EXPECT_EQ(created, 1) << name;
        EXPECT_EQ(items_named(name), 1) << name;
    }
}

TEST_F(Idempotency, AFailedFirstAttemptStoresNothingSoARetryRuns) {
    ASSERT_EQ(http_post_json(host_->port(), "/probe/items", {{"name", "taken"}}).status, 201);
    auto failed = post({{"name", "taken"}}, "key-retry");
    expect_problem(failed, 409, "conflict");
    db_->exec("DELETE FROM probe_events WHERE item_id IN (SELECT id FROM probe_items WHERE name = 'taken');"
              "DELETE FROM probe_items WHERE name = 'taken'");
    auto retried = post({{"name", "taken"}}, "key-retry");
    EXPECT_EQ(retried.status, 201) << retried;
    EXPECT_FALSE(retried.has_header("Idempotent-Replayed"));
}

TEST_F(Idempotency, KeysAreScopedToTheCaller) {
    auto alice = post({{"name", "scoped-a"}}, "shared-key", {{"Authorization", "Bearer " + token("alice")}});
    auto bob = post({{"name", "scoped-b"}}, "shared-key", {{"Authorization", "Bearer " + token("bob")}});
    EXPECT_EQ(alice.status, 201) << alice;
    EXPECT_EQ(bob.status, 201) << bob;  // not a 422: another caller's key space
    EXPECT_FALSE(bob.has_header("Idempotent-Replayed"));
}

TEST_F(Idempotency, WithoutAKeyEveryRequestRuns) {
    ASSERT_EQ(http_post_json(host_->port(), "/probe/idempotent", {{"name", "nokey-1"}}).status, 201);
    auto second = http_post_json(host_->port(), "/probe/idempotent", {{"name", "nokey-1"}});
    expect_problem(second, 409, "conflict");  // it ran again and hit the unique name
}

TEST_F(Idempotency, BadKeysAre400) {
    expect_problem(post({{"name", "badkey"}}, std::string(256, 'k')), 400, "invalid_idempotency_key");
    expect_problem(post({{"name", "badkey"}}, "has space"), 400, "invalid_idempotency_key");
}

// A request on another host holds the key (its transaction's advisory lock):
// this one is refused at once, and its handler's statements never run.
TEST_F(Idempotency, AKeyHeldByARunningRequestIs409AtOnceAndRunsNothing) {
    PGconn* other = PQconnectdb(db_->url().c_str());
    ASSERT_EQ(PQstatus(other), CONNECTION_OK);
    auto run = [&](const char* sql) {
        PGresult* r = PQexec(other, sql);
        EXPECT_TRUE(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
            << PQerrorMessage(other);
        PQclear(r);
    };
    run("BEGIN");
    run("SELECT pg_advisory_xact_lock(hashtextextended('anonymous POST /probe/idempotent' || E'\\n' || 'key-held', 0))");
    auto start = std::chrono::steady_clock::now();
    auto held = post({{"name", "held-1"}}, "key-held");
    auto took = std::chrono::steady_clock::now() - start;
    expect_problem(held, 409, "idempotency_key_in_use");
    EXPECT_LT(took, 500ms) << "a held key is refused without waiting for its holder";
    run("COMMIT");  // the other request ended without storing an answer (it failed): the key is free
    PQfinish(other);
    EXPECT_EQ(items_named("held-1"), 0);
    auto retried = post({{"name", "held-1"}}, "key-held");
    EXPECT_EQ(retried.status, 201) << retried;
    EXPECT_EQ(items_named("held-1"), 1);
}

// Fencing: a request can never commit over an answer another request stored
// for its key while it ran (here stored behind its back, as a request that
// had taken the key over would); it is rolled back and its retry replays.
TEST_F(Idempotency, ARequestNeverCommitsOverAnAnswerStoredWhileItRan) {
    nlohmann::json body = {{"name", "fenced-1"}, {"sleep_ms", 600}};
    auto slow = std::async(std::launch::async, [&] { return post(body, "key-fenced"); });
    std::this_thread::sleep_for(250ms);  // the slow request holds its claim and runs
    db_->query(
        "INSERT INTO oms_idempotency_keys (scope, key, request_hash, state, response_status, response_headers, "
        "                                  response_body, completed_at) "
        "VALUES ('anonymous POST /probe/idempotent', 'key-fenced', "
        " encode(sha256(convert_to('POST' || E'\\n' || '/probe/idempotent' || E'\\n' || $1, 'UTF8')), 'hex'), "
        " 'completed', 201, '{\"Content-Type\": \"application/json\"}', '{\"stored\":\"elsewhere\"}', now())",
        {body.dump()});
    auto fenced = slow.get();
    expect_problem(fenced, 409, "idempotency_key_in_use");
    EXPECT_EQ(items_named("fenced-1"), 0) << "the fenced request's writes were rolled back";
    auto retried = post(body, "key-fenced");
    EXPECT_EQ(retried.status, 201) << retried;
    EXPECT_EQ(retried.body, "{\"stored\":\"elsewhere\"}");
    EXPECT_EQ(retried.header("Idempotent-Replayed"), "true");
}
